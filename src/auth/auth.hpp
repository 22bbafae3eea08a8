// auth: who is calling — API keys, OAuth 2.0 tokens, signed requests, Basic.
//
// Owns: creating, listing, rotating, revoking and suspending API keys
//   (shown once, stored as a SHA-256 digest, found by a visible prefix);
//   the four ways to present one: `Authorization: Bearer cpk_…`, `Basic`
//   (key id and key), an OAuth 2.0 client-credentials token (`cpt_…`), and
//   HMAC-SHA256 signed requests; nonces against replay; scopes.
// Trust boundary: every credential comes from any network client. Answers
//   to a bad credential are the same whatever was wrong with it.
// Follows: RFC 6750 (bearer), RFC 7617 (Basic), RFC 6749 §4.4 (client
//   credentials), RFC 7009 (token revocation), RFC 2104 (HMAC).
// Logs: key and token ids only; never a key, a token, a digest, a
//   signature or a header value.
// Limits:
//   LIMIT(#3): key rows are read from the store on every request, which is
//   what makes revocation immediate on every node; signing secrets opened
//   with the org key are cached in memory for a minute, but the row's
//   revoked/suspended/expired state is still read each time.
//   LIMIT(#3): a nonce is checked in this process's memory first and
//   persisted through the store in the background (a second's worth per
//   write, and at a graceful stop), and reloaded at start; a crash loses the
//   unwritten ones, whose requests could then be replayed within 300 s:
//   nodes of a future cluster would each need to check the shared table.
//   Memory grows with the signed-request rate (about 100 octets a nonce for
//   the 300 s it is kept: 150 MB at a sustained 5,000 signed requests/s);
//   a cap with refusal beyond it would bound it.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/error.hpp"
#include "crypto/key_ring.hpp"
#include "store/store.hpp"

namespace carepost::auth {

struct Principal {
    std::string key_id;
    std::string org_id;
    std::vector<std::string> scopes;
    std::vector<std::string> templates;  // what messages:send-template may send
    std::vector<std::string> allow_domains, deny_domains;
    std::int64_t requests_per_second = 0;  // 0: the configured default
    std::int64_t recipients_per_hour = 0;  // 0: the configured default
    std::string method;                    // key, basic, token, signed
    std::string token_id;                  // for method "token"

    // `admin` holds every scope.
    bool has_scope(std::string_view scope) const;
    // messages:send may send anything; messages:send-template only the
    // stored templates the key lists.
    bool may_send(const std::optional<std::string>& template_id) const;
};

// The scopes a key may carry.
const std::vector<std::string>& known_scopes();

struct KeySettings {
    std::string name;
    std::vector<std::string> scopes;
    std::optional<std::int64_t> expires_at;
    std::vector<std::string> templates;
    std::vector<std::string> allow_domains, deny_domains;
    std::int64_t requests_per_second = 0;
    std::int64_t recipients_per_hour = 0;
    std::string rotated_from;
};

// Longest grace a rotated key may keep working (30 days).
constexpr std::int64_t max_grace_seconds = 30 * 86400;

struct CreatedKey {
    std::string key_id;
    std::string secret;  // the whole key, shown once
};

struct IssuedToken {
    std::string token_id;
    std::string access_token;  // shown once
    std::int64_t expires_in = 0;
    std::vector<std::string> scopes;
};

// The parts of a request that can carry credentials.
struct Credentials {
    std::string_view authorization;  // the Authorization header
    std::string_view key_id;         // X-Carepost-Key-Id
    std::string_view timestamp;      // X-Carepost-Timestamp (unix seconds)
    std::string_view nonce;          // X-Carepost-Nonce
    std::string_view signature;      // X-Carepost-Signature (hex)
    std::string_view method;         // HTTP method
    std::string_view target;         // path with query, as sent
    bool is_signed() const { return !signature.empty(); }
};

struct Options {
    std::int64_t token_ttl_seconds = 900;
    std::int64_t signature_window_seconds = 300;
};

// The canonical string a signed request's HMAC covers, one field a line:
// METHOD, path with query, timestamp, nonce, lower-case hex SHA-256 of the
// body; joined by "\n", with no trailing newline.
std::string canonical_request(
    std::string_view method,
    std::string_view target,
    std::string_view timestamp,
    std::string_view nonce,
    std::string_view body);

// Why a credential was refused, for the audit log only (clients hear
// `unauthorized` whatever it was).
struct Refusal {
    std::string claimed_key_id;  // the key id the caller named, if any
    std::string org_id;          // that key's organisation, if it exists
    std::string reason;          // malformed, unknown, mismatch, expired, ...
};

class Authenticator {
public:
    Authenticator(store::Store& store, crypto::KeyRing& keys, Options options = {});
    // Writes the nonces not yet persisted.
    ~Authenticator();
    Authenticator(const Authenticator&) = delete;

    // Loads the nonces still inside the replay window.
    void load_nonces(std::int64_t now);

    Result<CreatedKey>
    create_key(const std::string& org_id, KeySettings settings, const std::string& actor);
    // A new key with the same settings; the old one keeps working for
    // `grace_seconds` more (0: stops at once).
    Result<CreatedKey> rotate_key(
        const std::string& org_id,
        const std::string& key_id,
        std::int64_t grace_seconds,
        const std::string& actor);
    Result<void>
    revoke_key(const std::string& org_id, const std::string& key_id, const std::string& actor);
    Result<void>
    lift_suspension(const std::string& org_id, const std::string& key_id, const std::string& actor);

    // Checks what can be checked from the headers alone: everything for
    // Bearer and Basic; for a signed request, the key, the time window and
    // the nonce's form (the body is needed for the signature).
    Result<Principal> check_headers(const Credentials& c, std::int64_t now, Refusal* why = nullptr);
    // The whole check, with the body.
    Result<Principal> authenticate(
        const Credentials& c, std::string_view body, std::int64_t now, Refusal* why = nullptr);

    // OAuth 2.0 client credentials: the client is a key (id and key).
    Result<Principal> authenticate_client(
        std::string_view client_id,
        std::string_view client_secret,
        std::int64_t now,
        Refusal* why = nullptr);
    Result<IssuedToken>
    issue_token(const Principal& client, const std::vector<std::string>& scopes, std::int64_t now);
    // RFC 7009: revokes the token if it belongs to this client; unknown
    // tokens are not an error.
    void revoke_token(const Principal& client, std::string_view token, std::int64_t now);
    Result<void> revoke_token_by_id(
        const std::string& org_id, const std::string& token_id, const std::string& actor);

    // Keys that signed a request inside the replay window, with the time
    // of their latest signed request.
    std::map<std::string, std::int64_t> signing_clients(const std::string& org_id);

private:
    // `with_suspension` false: a suspension is not told before the caller
    // has proven the key (signed requests, before their signature).
    Result<Principal> check_key_row(
        const std::optional<store::ApiKeyRow>& row,
        std::int64_t now,
        Refusal& why,
        bool with_suspension = true);
    Result<Principal> check_key(std::string_view key, std::int64_t now, Refusal& why);
    Result<Principal> check_basic(std::string_view value, std::int64_t now, Refusal& why);
    Result<Principal> check_token(std::string_view value, std::int64_t now, Refusal& why);
    Result<Principal> check_signed(
        const Credentials& c, std::optional<std::string_view> body, std::int64_t now, Refusal& why);
    void persist_nonces(std::vector<store::NonceRow> rows, std::int64_t purge_before);
    Result<std::string> signing_secret(const store::ApiKeyRow& row);
    bool remember_nonce(
        const std::string& org_id,
        const std::string& key_id,
        std::string_view nonce,
        std::int64_t timestamp,
        std::int64_t now);

    store::Store& store_;
    crypto::KeyRing& keys_;
    Options options_;

    std::mutex mutex_;
    std::unordered_map<std::string, std::int64_t> nonces_;  // key_id + nonce → expiry
    struct Signer {
        std::string org_id;
        std::int64_t last_signed = 0;
    };
    std::unordered_map<std::string, Signer> signers_;
    struct CachedSecret {
        std::string secret;
        std::int64_t until = 0;
    };
    std::unordered_map<std::string, CachedSecret> secrets_;
    std::int64_t next_purge_ = 0;
    std::vector<store::NonceRow> pending_nonces_;
    std::int64_t next_nonce_flush_ = 0;
};

}  // namespace carepost::auth
