// crypto: the key hierarchy in use — master key, organisation keys, data keys.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "crypto/crypto.hpp"

namespace carepost::crypto {

// Unwraps organisation keys with the master key and caches them; seals and
// opens per-message data and the DKIM private keys. Thread-safe.
class KeyRing {
public:
    using WrappedOrgKeyLookup = std::function<std::optional<std::string>(const std::string&)>;
    KeyRing(Key master, WrappedOrgKeyLookup lookup);

    // A new organisation key, wrapped for storage in the org row.
    std::string new_wrapped_org_key(const std::string& org_id) const;

    Result<Key> org_key(const std::string& org_id);

    // A key for one purpose ("tracking", "verp"), derived from the master
    // key: stable across restarts, never stored.
    Key derived_key(std::string_view purpose) const;

    struct SealedMessage {
        std::string wrapped_key;
        std::string body;
    };
    // A fresh data key per message, wrapped by the org key (crypto-shredding:
    // dropping wrapped_key makes the body unreadable for good).
    Result<SealedMessage>
    seal_message(const std::string& org_id, const std::string& message_id, std::string_view body);
    Result<std::string> open_message(
        const std::string& org_id,
        const std::string& message_id,
        std::string_view wrapped_key,
        std::string_view body);

    Result<std::string>
    seal_for_org(const std::string& org_id, std::string_view context, std::string_view plain);
    Result<std::string>
    open_for_org(const std::string& org_id, std::string_view context, std::string_view sealed);

private:
    Key master_;
    WrappedOrgKeyLookup lookup_;
    std::mutex mutex_;
    std::map<std::string, Key> org_keys_;
};

}  // namespace carepost::crypto
