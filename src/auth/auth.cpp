#include "auth/auth.hpp"

#include <algorithm>

#include "audit/audit.hpp"
#include "crypto/crypto.hpp"

namespace carepost::auth {
namespace {

constexpr std::string_view key_tag = "cpk_";
constexpr std::size_t prefix_octets = 6;  // 12 hex digits, visible
constexpr std::size_t secret_octets = 32;

Error unauthorized()
{
    return Error::permanent("unauthorized", "missing or invalid API key");
}

}  // namespace

bool Principal::has_scope(std::string_view scope) const
{
    return std::find(scopes.begin(), scopes.end(), scope) != scopes.end() ||
           std::find(scopes.begin(), scopes.end(), "admin") != scopes.end();
}

const std::vector<std::string>& known_scopes()
{
    static const std::vector<std::string> scopes = {
        "admin",
        "messages:send",
        "messages:send-template",
        "messages:read",
        "events:read",
        "templates:write",
        "audit:read",
        "reports:read"};
    return scopes;
}

Result<CreatedKey> create_key(
    store::Store& store,
    const std::string& org_id,
    std::vector<std::string> scopes,
    const std::string& actor)
{
    for (const auto& s : scopes) {
        if (std::find(known_scopes().begin(), known_scopes().end(), s) == known_scopes().end()) {
            return Error::invalid("unknown_scope", "scope", "unknown scope");
        }
    }
    if (!store.find_org(org_id)) {
        return Error::permanent("not_found", "no such organisation");
    }
    std::string prefix = crypto::random_hex(prefix_octets);
    std::string secret = std::string(key_tag) + prefix + "_" + crypto::random_token(secret_octets);
    store::ApiKeyRow row;
    row.id = "key_" + prefix;
    row.org_id = org_id;
    row.prefix = prefix;
    row.hash = crypto::sha256(secret);
    row.scopes = std::move(scopes);
    row.created_at = store::unix_now();

    auto r = store.write([&](store::Writer& w) -> Result<void> {
        w.insert_api_key(row);
        audit::append(w, {actor, "key.created", org_id, "", "", row.id}, row.created_at);
        return {};
    });
    if (!r) {
        return r.error();
    }
    return CreatedKey{row.id, secret};
}

Result<Principal> authenticate_bearer(store::Store& store, std::string_view key)
{
    // Keys have the form cpk_<prefix>_<secret>; the prefix finds the row and
    // the digest of the whole key, compared in constant time, proves it.
    if (!key.starts_with(key_tag) || key.size() > 200) {
        return unauthorized();
    }
    auto rest = key.substr(key_tag.size());
    auto sep = rest.find('_');
    if (sep != prefix_octets * 2) {
        return unauthorized();
    }
    auto row = store.find_api_key_by_prefix(std::string(rest.substr(0, sep)));
    if (!row || row->revoked_at) {
        return unauthorized();
    }
    if (!crypto::constant_time_equal(crypto::sha256(key), row->hash)) {
        return unauthorized();
    }
    return Principal{row->id, row->org_id, row->scopes};
}

}  // namespace carepost::auth
