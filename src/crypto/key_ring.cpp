#include "crypto/key_ring.hpp"

#include <algorithm>

namespace carepost::crypto {

KeyRing::KeyRing(Key master, WrappedOrgKeyLookup lookup)
    : master_(master), lookup_(std::move(lookup))
{}

std::string KeyRing::new_wrapped_org_key(const std::string& org_id) const
{
    return wrap_key(master_, random_key(), "org:" + org_id);
}

Key KeyRing::derived_key(std::string_view purpose) const
{
    auto mac = hmac_sha256(
        std::string_view(reinterpret_cast<const char*>(master_.data()), master_.size()),
        std::string("carepost derived key:") + std::string(purpose));
    Key key{};
    std::copy(mac.begin(), mac.begin() + key.size(), reinterpret_cast<char*>(key.data()));
    return key;
}

Result<Key> KeyRing::org_key(const std::string& org_id)
{
    {
        std::lock_guard lock(mutex_);
        if (auto it = org_keys_.find(org_id); it != org_keys_.end()) {
            return it->second;
        }
    }
    auto wrapped = lookup_(org_id);
    if (!wrapped) {
        return Error::internal("org_key_missing", "organisation has no key");
    }
    auto key = unwrap_key(master_, *wrapped, "org:" + org_id);
    if (!key) {
        return key.error();
    }
    std::lock_guard lock(mutex_);
    org_keys_[org_id] = *key;
    return *key;
}

Result<KeyRing::SealedMessage> KeyRing::seal_message(
    const std::string& org_id, const std::string& message_id, std::string_view body)
{
    auto org = org_key(org_id);
    if (!org) {
        return org.error();
    }
    Key data = random_key();
    SealedMessage out{
        wrap_key(*org, data, "msg:" + message_id), seal(data, body, "body:" + message_id)};
    return out;
}

Result<std::string> KeyRing::open_message(
    const std::string& org_id,
    const std::string& message_id,
    std::string_view wrapped_key,
    std::string_view body)
{
    auto org = org_key(org_id);
    if (!org) {
        return org.error();
    }
    auto data = unwrap_key(*org, wrapped_key, "msg:" + message_id);
    if (!data) {
        return data.error();
    }
    return open(*data, body, "body:" + message_id);
}

Result<std::string>
KeyRing::seal_for_org(const std::string& org_id, std::string_view context, std::string_view plain)
{
    auto org = org_key(org_id);
    if (!org) {
        return org.error();
    }
    return seal(*org, plain, context);
}

Result<std::string>
KeyRing::open_for_org(const std::string& org_id, std::string_view context, std::string_view sealed)
{
    auto org = org_key(org_id);
    if (!org) {
        return org.error();
    }
    return open(*org, sealed, context);
}

}  // namespace carepost::crypto
