#include "auth/auth.hpp"

#include <algorithm>

#include "audit/audit.hpp"
#include "common/log.hpp"
#include "crypto/crypto.hpp"

namespace carepost::auth {
namespace {

constexpr std::string_view key_tag = "cpk_";
constexpr std::string_view token_tag = "cpt_";
constexpr std::size_t prefix_octets = 6;  // 12 hex digits, visible
constexpr std::size_t secret_octets = 32;
constexpr std::int64_t secret_cache_seconds = 60;
constexpr std::string_view signing_context = "signing-key:";

Error unauthorized()
{
    return Error::permanent("unauthorized", "missing or invalid credentials");
}

Result<Principal> refuse(Refusal& why, std::string reason)
{
    why.reason = std::move(reason);
    return unauthorized();
}

bool is_known_scope(const std::string& scope)
{
    const auto& all = known_scopes();
    return std::find(all.begin(), all.end(), scope) != all.end();
}

// Splits "<tag><12 hex>_<secret>" into its prefix; empty when malformed.
std::string prefix_of(std::string_view value, std::string_view tag)
{
    if (!value.starts_with(tag) || value.size() > 200) {
        return {};
    }
    auto rest = value.substr(tag.size());
    auto sep = rest.find('_');
    if (sep != prefix_octets * 2) {
        return {};
    }
    auto prefix = rest.substr(0, sep);
    bool is_hex = std::all_of(prefix.begin(), prefix.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    });
    return is_hex ? std::string(prefix) : std::string();
}

// The prefix of an id "<tag><12 hex>"; empty when malformed.
std::string prefix_of_id(std::string_view id, std::string_view tag)
{
    if (!id.starts_with(tag) || id.size() != tag.size() + prefix_octets * 2) {
        return {};
    }
    auto prefix = id.substr(tag.size());
    bool is_hex = std::all_of(prefix.begin(), prefix.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    });
    return is_hex ? std::string(prefix) : std::string();
}

bool is_valid_nonce(std::string_view nonce)
{
    if (nonce.size() < 16 || nonce.size() > 128) {
        return false;
    }
    return std::all_of(nonce.begin(), nonce.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '-' || c == '_';
    });
}

std::optional<std::int64_t> parse_seconds(std::string_view text)
{
    if (text.empty() || text.size() > 12) {
        return std::nullopt;
    }
    std::int64_t v = 0;
    for (char c : text) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        v = v * 10 + (c - '0');
    }
    return v;
}

Principal principal_of(const store::ApiKeyRow& row, std::string method)
{
    return Principal{
        row.id,
        row.org_id,
        row.scopes,
        row.templates,
        row.allow_domains,
        row.deny_domains,
        row.requests_per_second,
        row.recipients_per_hour,
        std::move(method),
        ""};
}

}  // namespace

bool Principal::has_scope(std::string_view scope) const
{
    return std::find(scopes.begin(), scopes.end(), scope) != scopes.end() ||
           std::find(scopes.begin(), scopes.end(), "admin") != scopes.end();
}

bool Principal::may_send(const std::optional<std::string>& template_id) const
{
    if (has_scope("messages:send")) {
        return true;
    }
    if (!template_id || !has_scope("messages:send-template")) {
        return false;
    }
    return std::find(templates.begin(), templates.end(), *template_id) != templates.end();
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

std::string canonical_request(
    std::string_view method,
    std::string_view target,
    std::string_view timestamp,
    std::string_view nonce,
    std::string_view body)
{
    std::string out;
    out.reserve(method.size() + target.size() + timestamp.size() + nonce.size() + 68);
    out.append(method).append("\n").append(target).append("\n");
    out.append(timestamp).append("\n").append(nonce).append("\n");
    out.append(crypto::sha256_hex(body));
    return out;
}

Authenticator::Authenticator(store::Store& store, crypto::KeyRing& keys, Options options)
    : store_(store), keys_(keys), options_(options)
{}

void Authenticator::load_nonces(std::int64_t now)
{
    auto rows = store_.live_nonces(now);
    std::lock_guard lock(mutex_);
    for (auto& row : rows) {
        nonces_[row.key_id + " " + row.nonce] = row.expires_at;
    }
}

// ---- Key management -----------------------------------------------------

Result<CreatedKey>
Authenticator::create_key(const std::string& org_id, KeySettings settings, const std::string& actor)
{
    if (settings.scopes.empty()) {
        return Error::invalid("missing_field", "scopes", "at least one scope is required");
    }
    for (const auto& s : settings.scopes) {
        if (!is_known_scope(s)) {
            return Error::invalid("unknown_scope", "scopes", "unknown scope");
        }
    }
    bool has_control = std::any_of(settings.name.begin(), settings.name.end(), [](char c) {
        return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
    });
    if (has_control || settings.name.size() > 200) {
        return Error::invalid("invalid_value", "name", "printable text of at most 200 octets");
    }
    if (settings.requests_per_second < 0 || settings.recipients_per_hour < 0) {
        return Error::invalid("invalid_value", "rate", "rates cannot be negative");
    }
    if (!store_.find_org(org_id)) {
        return Error::permanent("not_found", "no such organisation");
    }

    std::string prefix = crypto::random_hex(prefix_octets);
    std::string secret = std::string(key_tag) + prefix + "_" + crypto::random_token(secret_octets);
    store::ApiKeyRow row;
    row.id = "key_" + prefix;
    row.org_id = org_id;
    row.prefix = prefix;
    row.hash = crypto::sha256(secret);
    row.created_at = store::unix_now();
    row.name = std::move(settings.name);
    row.scopes = std::move(settings.scopes);
    row.expires_at = settings.expires_at;
    row.templates = std::move(settings.templates);
    row.allow_domains = std::move(settings.allow_domains);
    row.deny_domains = std::move(settings.deny_domains);
    row.requests_per_second = settings.requests_per_second;
    row.recipients_per_hour = settings.recipients_per_hour;
    row.rotated_from = std::move(settings.rotated_from);
    // Signed requests need the key itself on this side: it is kept sealed
    // by the organisation's key, never in clear.
    auto sealed = keys_.seal_for_org(org_id, std::string(signing_context) + row.id, secret);
    if (!sealed) {
        return sealed.error();
    }
    row.sealed_secret = std::move(*sealed);

    auto r = store_.write([&](store::Writer& w) -> Result<void> {
        w.insert_api_key(row);
        audit::append(w, {actor, "key.created", org_id, "", "", row.id}, row.created_at);
        return {};
    });
    if (!r) {
        return r.error();
    }
    return CreatedKey{row.id, secret};
}

Result<CreatedKey> Authenticator::rotate_key(
    const std::string& org_id,
    const std::string& key_id,
    std::int64_t grace_seconds,
    const std::string& actor)
{
    auto old = store_.find_api_key(org_id, key_id);
    if (!old || old->revoked_at) {
        return Error::permanent("not_found", "no such key");
    }
    if (grace_seconds < 0 || grace_seconds > max_grace_seconds) {
        return Error::invalid("invalid_value", "grace_seconds", "0 to 30 days, in seconds");
    }
    // A new key would start with a clean record: lift the suspension first.
    if (old->suspended_at) {
        return Error::permanent("key_suspended", "a suspended key cannot be rotated; lift it");
    }
    KeySettings settings{
        old->name,
        old->scopes,
        old->expires_at,
        old->templates,
        old->allow_domains,
        old->deny_domains,
        old->requests_per_second,
        old->recipients_per_hour,
        key_id};
    auto created = create_key(org_id, std::move(settings), actor);
    if (!created) {
        return created.error();
    }

    // The old key keeps working until the grace period ends.
    std::int64_t now = store::unix_now();
    auto r = store_.write([&](store::Writer& w) -> Result<void> {
        w.expire_api_key_by(org_id, key_id, now + grace_seconds);
        audit::append(
            w, {actor, "key.rotated", org_id, "", "", key_id + " -> " + created->key_id}, now);
        return {};
    });
    if (!r) {
        return r.error();
    }
    return created;
}

Result<void> Authenticator::revoke_key(
    const std::string& org_id, const std::string& key_id, const std::string& actor)
{
    std::int64_t now = store::unix_now();
    auto r = store_.write([&](store::Writer& w) -> Result<void> {
        if (!w.revoke_api_key(org_id, key_id, now)) {
            return Error::permanent("not_found", "no such key");
        }
        audit::append(w, {actor, "key.revoked", org_id, "", "", key_id}, now);
        return {};
    });
    if (r) {
        std::lock_guard lock(mutex_);
        secrets_.erase(key_id);
        signers_.erase(key_id);
    }
    return r;
}

Result<void> Authenticator::lift_suspension(
    const std::string& org_id, const std::string& key_id, const std::string& actor)
{
    std::int64_t now = store::unix_now();
    return store_.write([&](store::Writer& w) -> Result<void> {
        if (!w.unsuspend_api_key(org_id, key_id)) {
            return Error::permanent("not_found", "no such suspended key");
        }
        audit::append(w, {actor, "key.unsuspended", org_id, "", "", key_id}, now);
        w.insert_event(
            {0, "evt_" + crypto::random_hex(12), org_id, "key.unsuspended", now, key_id});
        return {};
    });
}

// ---- Checking credentials -----------------------------------------------

Result<Principal> Authenticator::check_key_row(
    const std::optional<store::ApiKeyRow>& row,
    std::int64_t now,
    Refusal& why,
    bool with_suspension)
{
    if (!row) {
        return refuse(why, "unknown_key");
    }
    why.org_id = row->org_id;
    if (row->revoked_at) {
        return refuse(why, "revoked");
    }
    if (row->expires_at && *row->expires_at <= now) {
        return refuse(why, "expired");
    }
    // A suspended key is a valid key that may not act: the caller is told
    // why, so that its operators know to call an admin.
    if (row->suspended_at && with_suspension) {
        why.reason = "suspended";
        return Error::permanent("key_suspended", "this key is suspended; an admin can lift it");
    }
    return principal_of(*row, "key");
}

Result<Principal> Authenticator::check_key(std::string_view key, std::int64_t now, Refusal& why)
{
    // Keys have the form cpk_<prefix>_<secret>; the prefix finds the row and
    // the digest of the whole key, compared in constant time, proves it.
    std::string prefix = prefix_of(key, key_tag);
    if (prefix.empty()) {
        return refuse(why, "malformed");
    }
    why.claimed_key_id = "key_" + prefix;
    auto row = store_.find_api_key_by_prefix(prefix);
    if (row && !crypto::constant_time_equal(crypto::sha256(key), row->hash)) {
        why.org_id = row->org_id;
        return refuse(why, "mismatch");
    }
    return check_key_row(row, now, why);
}

Result<Principal> Authenticator::check_basic(std::string_view value, std::int64_t now, Refusal& why)
{
    // RFC 7617: base64 of "key id:key".
    auto decoded = crypto::base64_decode(value);
    if (!decoded) {
        return refuse(why, "malformed");
    }
    auto colon = decoded->find(':');
    if (colon == std::string::npos) {
        return refuse(why, "malformed");
    }
    auto p = authenticate_client(
        std::string_view(*decoded).substr(0, colon),
        std::string_view(*decoded).substr(colon + 1),
        now,
        &why);
    if (p) {
        p->method = "basic";
    }
    return p;
}

Result<Principal> Authenticator::check_token(std::string_view value, std::int64_t now, Refusal& why)
{
    std::string prefix = prefix_of(value, token_tag);
    if (prefix.empty()) {
        return refuse(why, "malformed");
    }
    auto found = store_.find_token_with_key(prefix);
    if (!found || !crypto::constant_time_equal(crypto::sha256(value), found->first.hash)) {
        return refuse(why, "unknown_token");
    }
    const store::TokenRow* token = &found->first;
    why.claimed_key_id = token->key_id;
    why.org_id = token->org_id;
    if (token->revoked_at) {
        return refuse(why, "token_revoked");
    }
    if (token->expires_at <= now) {
        return refuse(why, "token_expired");
    }
    // The client's own state still rules: revoking, expiring or suspending
    // it ends its tokens at once.
    auto p = check_key_row(found->second, now, why);
    if (!p) {
        return p;
    }
    p->scopes = token->scopes;
    p->method = "token";
    p->token_id = token->id;
    return p;
}

Result<std::string> Authenticator::signing_secret(const store::ApiKeyRow& row)
{
    std::int64_t now = store::unix_now();
    {
        std::lock_guard lock(mutex_);
        auto it = secrets_.find(row.id);
        if (it != secrets_.end() && it->second.until > now) {
            return it->second.secret;
        }
    }
    auto secret =
        keys_.open_for_org(row.org_id, std::string(signing_context) + row.id, row.sealed_secret);
    if (!secret) {
        return secret.error();
    }
    std::lock_guard lock(mutex_);
    if (secrets_.size() > 10000) {
        secrets_.clear();
    }
    secrets_[row.id] = {*secret, now + secret_cache_seconds};
    return secret;
}

void Authenticator::persist_nonces(std::vector<store::NonceRow> rows, std::int64_t purge_before)
{
    store_.submit(
        [rows = std::move(rows), purge_before](store::Writer& w) -> Result<void> {
            for (const auto& row : rows) {
                w.insert_nonce(row);
            }
            if (purge_before > 0) {
                w.purge_nonces(purge_before);
            }
            return {};
        },
        nullptr);
}

Authenticator::~Authenticator()
{
    std::vector<store::NonceRow> rows;
    {
        std::lock_guard lock(mutex_);
        rows.swap(pending_nonces_);
    }
    if (!rows.empty()) {
        (void)store_.write([&](store::Writer& w) -> Result<void> {
            for (const auto& row : rows) {
                w.insert_nonce(row);
            }
            return {};
        });
    }
}

bool Authenticator::remember_nonce(
    const std::string& org_id,
    const std::string& key_id,
    std::string_view nonce,
    std::int64_t timestamp,
    std::int64_t now)
{
    // A nonce needs remembering only while its timestamp is accepted.
    std::int64_t expires = timestamp + options_.signature_window_seconds;
    bool purge = false;
    {
        std::lock_guard lock(mutex_);
        auto [it, inserted] = nonces_.try_emplace(key_id + " " + std::string(nonce), expires);
        if (!inserted && it->second >= now) {
            return false;
        }
        it->second = expires;
        signers_[key_id] = {org_id, now};
        if (now >= next_purge_) {
            next_purge_ = now + 60;
            purge = true;
            std::erase_if(nonces_, [now](const auto& kv) { return kv.second < now; });
            std::erase_if(signers_, [this, now](const auto& kv) {
                return kv.second.last_signed + options_.signature_window_seconds < now;
            });
        }
    }

    // Persisted in the background, a second's worth at a time, so that a
    // restart inside the window does not reopen it; the memory check above
    // is what refuses a replay now.
    std::vector<store::NonceRow> batch;
    {
        std::lock_guard lock(mutex_);
        pending_nonces_.push_back({key_id, std::string(nonce), expires});
        if (now >= next_nonce_flush_ || pending_nonces_.size() >= 512 || purge) {
            next_nonce_flush_ = now + 1;
            batch.swap(pending_nonces_);
        }
    }
    if (!batch.empty()) {
        persist_nonces(std::move(batch), purge ? now : 0);
    }
    return true;
}

Result<Principal> Authenticator::check_signed(
    const Credentials& c, std::optional<std::string_view> body, std::int64_t now, Refusal& why)
{
    std::string prefix = prefix_of_id(c.key_id, "key_");
    auto ts = parse_seconds(c.timestamp);
    if (prefix.empty() || !ts || !is_valid_nonce(c.nonce) || c.signature.size() != 64) {
        return refuse(why, "malformed");
    }
    why.claimed_key_id = std::string(c.key_id);
    if (*ts > now + options_.signature_window_seconds ||
        *ts < now - options_.signature_window_seconds) {
        return refuse(why, "stale_timestamp");
    }
    auto row = store_.find_api_key_by_prefix(prefix);
    auto p = check_key_row(row, now, why, false);
    if (!p || !body) {
        return p;
    }

    auto secret = signing_secret(*row);
    if (!secret) {
        return refuse(why, "no_signing_secret");
    }
    std::string expected = crypto::to_hex(crypto::hmac_sha256(
        *secret, canonical_request(c.method, c.target, c.timestamp, c.nonce, *body)));
    std::string given(c.signature);
    std::transform(given.begin(), given.end(), given.begin(), [](unsigned char ch) {
        return static_cast<char>(std::tolower(ch));
    });
    if (!crypto::constant_time_equal(expected, given)) {
        return refuse(why, "bad_signature");
    }
    // Only a request whose signature is good spends its nonce: a forger
    // cannot burn a client's nonces.
    if (!remember_nonce(row->org_id, row->id, c.nonce, *ts, now)) {
        return refuse(why, "replayed_nonce");
    }
    if (auto proven = check_key_row(row, now, why); !proven) {
        return proven;  // suspended: told only to a caller who signed
    }
    p->method = "signed";
    return p;
}

Result<Principal> Authenticator::check_headers(const Credentials& c, std::int64_t now, Refusal* why)
{
    Refusal ignored;
    Refusal& r = why ? *why : ignored;
    if (c.is_signed()) {
        return check_signed(c, std::nullopt, now, r);
    }
    if (c.authorization.starts_with("Bearer ")) {
        auto value = c.authorization.substr(7);
        return value.starts_with(token_tag) ? check_token(value, now, r) : check_key(value, now, r);
    }
    if (c.authorization.starts_with("Basic ")) {
        return check_basic(c.authorization.substr(6), now, r);
    }
    return refuse(r, c.authorization.empty() ? "missing" : "malformed");
}

Result<Principal> Authenticator::authenticate(
    const Credentials& c, std::string_view body, std::int64_t now, Refusal* why)
{
    if (!c.is_signed()) {
        return check_headers(c, now, why);
    }
    Refusal ignored;
    return check_signed(c, body, now, why ? *why : ignored);
}

// ---- OAuth 2.0 ----------------------------------------------------------

Result<Principal> Authenticator::authenticate_client(
    std::string_view client_id, std::string_view client_secret, std::int64_t now, Refusal* why)
{
    Refusal ignored;
    Refusal& r = why ? *why : ignored;
    // The client id is the key id; the secret is the key, which names the
    // same prefix.
    if (prefix_of_id(client_id, "key_").empty()) {
        return refuse(r, "malformed");
    }
    r.claimed_key_id = std::string(client_id);
    std::string prefix = prefix_of(client_secret, key_tag);
    if (prefix.empty() || "key_" + prefix != client_id) {
        return refuse(r, "mismatch");
    }
    return check_key(client_secret, now, r);
}

Result<IssuedToken> Authenticator::issue_token(
    const Principal& client, const std::vector<std::string>& scopes, std::int64_t now)
{
    // A token carries the client's scopes, or fewer if asked (RFC 6749 §3.3).
    std::vector<std::string> granted = scopes.empty() ? client.scopes : scopes;
    for (const auto& s : granted) {
        if (std::find(client.scopes.begin(), client.scopes.end(), s) == client.scopes.end()) {
            return Error::invalid("invalid_scope", "scope", "the client does not hold this scope");
        }
    }
    std::string prefix = crypto::random_hex(prefix_octets);
    std::string token = std::string(token_tag) + prefix + "_" + crypto::random_token(secret_octets);
    store::TokenRow row{
        "tok_" + prefix,
        prefix,
        client.key_id,
        client.org_id,
        crypto::sha256(token),
        granted,
        now,
        now + options_.token_ttl_seconds,
        std::nullopt};
    auto r = store_.write([&](store::Writer& w) -> Result<void> {
        w.insert_token(row);
        audit::append(w, {client.key_id, "token.issued", client.org_id, "", "", row.id}, now);
        return {};
    });
    if (!r) {
        return r.error();
    }
    return IssuedToken{row.id, token, options_.token_ttl_seconds, granted};
}

void Authenticator::revoke_token(const Principal& client, std::string_view token, std::int64_t now)
{
    std::string prefix = prefix_of(token, token_tag);
    auto row = prefix.empty() ? std::nullopt : store_.find_token_by_prefix(prefix);
    // RFC 7009 §2.2: an unknown token, or another client's, is not an
    // error; the answer is the same and nothing changes.
    if (!row || row->key_id != client.key_id ||
        !crypto::constant_time_equal(crypto::sha256(token), row->hash)) {
        return;
    }
    (void)store_.write([&](store::Writer& w) -> Result<void> {
        if (w.revoke_token(row->org_id, row->id, now)) {
            audit::append(w, {client.key_id, "token.revoked", row->org_id, "", "", row->id}, now);
        }
        return {};
    });
}

Result<void> Authenticator::revoke_token_by_id(
    const std::string& org_id, const std::string& token_id, const std::string& actor)
{
    std::int64_t now = store::unix_now();
    return store_.write([&](store::Writer& w) -> Result<void> {
        if (!w.revoke_token(org_id, token_id, now)) {
            return Error::permanent("not_found", "no such session");
        }
        audit::append(w, {actor, "token.revoked", org_id, "", "", token_id}, now);
        return {};
    });
}

std::map<std::string, std::int64_t> Authenticator::signing_clients(const std::string& org_id)
{
    std::int64_t now = store::unix_now();
    std::lock_guard lock(mutex_);
    std::map<std::string, std::int64_t> out;
    for (const auto& [key_id, signer] : signers_) {
        if (signer.org_id == org_id &&
            signer.last_signed + options_.signature_window_seconds >= now) {
            out[key_id] = signer.last_signed;
        }
    }
    return out;
}

}  // namespace carepost::auth
