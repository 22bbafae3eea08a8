// auth: API keys and scopes.
//
// Owns: creating API keys (shown once, stored as a SHA-256 digest, found by
//   a visible prefix), authenticating bearer keys, checking scopes.
// Trust boundary: the Authorization header comes from any network client.
// Logs: key ids only; never a key, a digest or a header value.
// Limits:
//   LIMIT(#3): only bearer API keys; OAuth2 client credentials, signed
//   requests, Basic, expiry, rotation and rate limits are the next issue.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "store/store.hpp"

namespace carepost::auth {

struct Principal {
    std::string key_id;
    std::string org_id;
    std::vector<std::string> scopes;
    bool has_scope(std::string_view scope) const;
};

struct CreatedKey {
    std::string key_id;
    std::string secret;  // the whole key, shown once
};

// The scopes a key may carry.
const std::vector<std::string>& known_scopes();

Result<CreatedKey> create_key(
    store::Store& store,
    const std::string& org_id,
    std::vector<std::string> scopes,
    const std::string& actor);

// Checks a bearer key: error code `unauthorized` for anything wrong, with
// the same text whatever the reason, so a caller learns nothing from it.
Result<Principal> authenticate_bearer(store::Store& store, std::string_view key);

}  // namespace carepost::auth
