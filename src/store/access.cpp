// Access-control rows: API keys, OAuth tokens, nonces, organisation rules,
// per-key volume, policy refusal counts and the event stream.
#include "store/store.hpp"
#include "store/store_internal.hpp"

namespace carepost::store {
namespace {

// Statements are cached by the address of their text, so these are
// literals, joined by the preprocessor.
#define CAREPOST_KEY_COLUMNS                                                                       \
    "id, org_id, prefix, hash, scopes, created_at, revoked_at, name, expires_at, "                 \
    "suspended_at, suspended_reason, templates, allow_domains, deny_domains, "                     \
    "requests_per_second, recipients_per_hour, sealed_secret, rotated_from"

std::optional<std::int64_t> optional_integer(const Statement& st, int col)
{
    if (st.is_null(col)) {
        return std::nullopt;
    }
    return st.integer(col);
}

ApiKeyRow read_key(const Statement& st, int at = 0)
{
    ApiKeyRow row;
    row.id = st.text(at + 0);
    row.org_id = st.text(at + 1);
    row.prefix = st.text(at + 2);
    row.hash = st.blob(at + 3);
    row.scopes = split_words(st.text(at + 4));
    row.created_at = st.integer(at + 5);
    row.revoked_at = optional_integer(st, at + 6);
    row.name = st.text(at + 7);
    row.expires_at = optional_integer(st, at + 8);
    row.suspended_at = optional_integer(st, at + 9);
    row.suspended_reason = st.text(at + 10);
    row.templates = split_words(st.text(at + 11));
    row.allow_domains = split_words(st.text(at + 12));
    row.deny_domains = split_words(st.text(at + 13));
    row.requests_per_second = st.integer(at + 14);
    row.recipients_per_hour = st.integer(at + 15);
    row.sealed_secret = st.blob(at + 16);
    row.rotated_from = st.text(at + 17);
    return row;
}

#define CAREPOST_TOKEN_COLUMNS                                                                     \
    "id, prefix, key_id, org_id, hash, scopes, created_at, expires_at, revoked_at"

TokenRow read_token(const Statement& st)
{
    return TokenRow{
        st.text(0),
        st.text(1),
        st.text(2),
        st.text(3),
        st.blob(4),
        split_words(st.text(5)),
        st.integer(6),
        st.integer(7),
        optional_integer(st, 8)};
}

Statement& bind_optional(Statement& st, int i, const std::optional<std::int64_t>& v)
{
    return v ? st.bind(i, *v) : st.bind_null(i);
}

}  // namespace

// ---- Writer operations --------------------------------------------------

void Writer::insert_api_key(const ApiKeyRow& row)
{
    auto st = impl_.db.prepare(
        "INSERT INTO api_keys (id, org_id, prefix, hash, scopes, created_at, revoked_at, name, "
        "expires_at, suspended_at, suspended_reason, templates, allow_domains, deny_domains, "
        "requests_per_second, recipients_per_hour, sealed_secret, rotated_from) VALUES "
        "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)");
    st.bind(1, row.id).bind(2, row.org_id).bind(3, row.prefix).bind_blob(4, row.hash);
    st.bind(5, join_words(row.scopes)).bind(6, row.created_at);
    bind_optional(st, 7, row.revoked_at).bind(8, row.name);
    bind_optional(st, 9, row.expires_at);
    bind_optional(st, 10, row.suspended_at).bind(11, row.suspended_reason);
    st.bind(12, join_words(row.templates)).bind(13, join_words(row.allow_domains));
    st.bind(14, join_words(row.deny_domains)).bind(15, row.requests_per_second);
    st.bind(16, row.recipients_per_hour).bind_blob(17, row.sealed_secret);
    st.bind(18, row.rotated_from).run();
}

bool Writer::revoke_api_key(const std::string& org_id, const std::string& key_id, std::int64_t at)
{
    impl_.db
        .prepare("UPDATE api_keys SET revoked_at = ?3 WHERE org_id = ?1 AND id = ?2 "
                 "AND revoked_at IS NULL")
        .bind(1, org_id)
        .bind(2, key_id)
        .bind(3, at)
        .run();
    bool changed = impl_.db.changes() > 0;
    // A revoked client's tokens die with it.
    impl_.db.prepare("UPDATE tokens SET revoked_at = ?2 WHERE key_id = ?1 AND revoked_at IS NULL")
        .bind(1, key_id)
        .bind(2, at)
        .run();
    return changed;
}

bool Writer::expire_api_key_by(
    const std::string& org_id, const std::string& key_id, std::int64_t at)
{
    impl_.db
        .prepare("UPDATE api_keys SET expires_at = min(coalesce(expires_at, ?3), ?3) "
                 "WHERE org_id = ?1 AND id = ?2 AND revoked_at IS NULL")
        .bind(1, org_id)
        .bind(2, key_id)
        .bind(3, at)
        .run();
    return impl_.db.changes() > 0;
}

bool Writer::suspend_api_key(
    const std::string& org_id,
    const std::string& key_id,
    std::int64_t at,
    const std::string& reason)
{
    impl_.db
        .prepare("UPDATE api_keys SET suspended_at = ?3, suspended_reason = ?4 "
                 "WHERE org_id = ?1 AND id = ?2 AND suspended_at IS NULL")
        .bind(1, org_id)
        .bind(2, key_id)
        .bind(3, at)
        .bind(4, reason)
        .run();
    return impl_.db.changes() > 0;
}

bool Writer::unsuspend_api_key(const std::string& org_id, const std::string& key_id)
{
    impl_.db
        .prepare("UPDATE api_keys SET suspended_at = NULL, suspended_reason = '' "
                 "WHERE org_id = ?1 AND id = ?2 AND suspended_at IS NOT NULL")
        .bind(1, org_id)
        .bind(2, key_id)
        .run();
    return impl_.db.changes() > 0;
}

void Writer::set_org_track_phi(const std::string& org_id, bool allowed)
{
    impl_.db.prepare("UPDATE orgs SET track_phi = ?2 WHERE id = ?1")
        .bind(1, org_id)
        .bind(2, allowed ? 1 : 0)
        .run();
}

void Writer::set_org_tracked_streams(
    const std::string& org_id, const std::vector<std::string>& streams)
{
    impl_.db.prepare("UPDATE orgs SET tracked_streams = ?2 WHERE id = ?1")
        .bind(1, org_id)
        .bind(2, join_words(streams))
        .run();
}

void Writer::set_org_rules(
    const std::string& org_id,
    const std::vector<std::string>& allow,
    const std::vector<std::string>& deny)
{
    impl_.db.prepare("UPDATE orgs SET allow_domains = ?2, deny_domains = ?3 WHERE id = ?1")
        .bind(1, org_id)
        .bind(2, join_words(allow))
        .bind(3, join_words(deny))
        .run();
}

void Writer::insert_token(const TokenRow& row)
{
    impl_.db
        .prepare("INSERT INTO tokens (id, prefix, key_id, org_id, hash, scopes, created_at, "
                 "expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")
        .bind(1, row.id)
        .bind(2, row.prefix)
        .bind(3, row.key_id)
        .bind(4, row.org_id)
        .bind_blob(5, row.hash)
        .bind(6, join_words(row.scopes))
        .bind(7, row.created_at)
        .bind(8, row.expires_at)
        .run();
}

bool Writer::revoke_token(const std::string& org_id, const std::string& token_id, std::int64_t at)
{
    impl_.db
        .prepare("UPDATE tokens SET revoked_at = ?3 WHERE org_id = ?1 AND id = ?2 "
                 "AND revoked_at IS NULL")
        .bind(1, org_id)
        .bind(2, token_id)
        .bind(3, at)
        .run();
    return impl_.db.changes() > 0;
}

bool Writer::insert_nonce(const NonceRow& row)
{
    impl_.db.prepare("INSERT OR IGNORE INTO nonces (key_id, nonce, expires_at) VALUES (?1, ?2, ?3)")
        .bind(1, row.key_id)
        .bind(2, row.nonce)
        .bind(3, row.expires_at)
        .run();
    return impl_.db.changes() > 0;
}

void Writer::purge_nonces(std::int64_t now)
{
    impl_.db.prepare("DELETE FROM nonces WHERE expires_at < ?1").bind(1, now).run();
}

void Writer::add_key_volume(const std::string& key_id, std::int64_t hour, std::int64_t recipients)
{
    impl_.db
        .prepare("INSERT INTO key_volume (key_id, hour, recipients) VALUES (?1, ?2, ?3) "
                 "ON CONFLICT (key_id, hour) DO UPDATE SET recipients = recipients + ?3")
        .bind(1, key_id)
        .bind(2, hour)
        .bind(3, recipients)
        .run();
}

void Writer::insert_key_domains(
    const std::string& key_id, const std::vector<std::string>& domains, std::int64_t at)
{
    for (const auto& domain : domains) {
        impl_.db
            .prepare("INSERT OR IGNORE INTO key_domains (key_id, domain, first_seen) "
                     "VALUES (?1, ?2, ?3)")
            .bind(1, key_id)
            .bind(2, domain)
            .bind(3, at)
            .run();
    }
}

void Writer::count_refusal(
    const std::string& org_id,
    const std::string& key_id,
    std::int64_t day,
    const std::string& reason,
    std::int64_t count)
{
    impl_.db
        .prepare("INSERT INTO policy_refusals (org_id, key_id, day, reason, count) "
                 "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (org_id, key_id, day, reason) "
                 "DO UPDATE SET count = count + ?5")
        .bind(1, org_id)
        .bind(2, key_id)
        .bind(3, day)
        .bind(4, reason)
        .bind(5, count)
        .run();
}

void Writer::insert_event(const EventRow& row)
{
    impl_.db
        .prepare("INSERT INTO events (id, org_id, type, time, key_id, message_id, recipient_id, "
                 "email, reply_code, enhanced, reason, bounce_class) VALUES "
                 "(CASE WHEN ?1 = '' THEN 'evt_' || lower(hex(randomblob(12))) ELSE ?1 END, "
                 "?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)")
        .bind(1, row.id)
        .bind(2, row.org_id)
        .bind(3, row.type)
        .bind(4, row.time)
        .bind(5, row.key_id)
        .bind(6, row.message_id)
        .bind(7, row.recipient_id)
        .bind(8, row.email)
        .bind(9, row.reply_code)
        .bind(10, row.enhanced)
        .bind(11, row.reason)
        .bind(12, row.bounce_class)
        .run();
}

void Writer::record_report(
    const std::string& status, const std::string& type, const AttemptResult& r)
{
    if (!status.empty()) {
        impl_.db
            .prepare("UPDATE recipients SET status = ?2, last_code = ?3, last_enhanced = ?4, "
                     "reason = ?5, updated_at = ?6 WHERE id = ?1")
            .bind(1, r.recipient_id)
            .bind(2, status)
            .bind(3, r.last_code)
            .bind(4, r.last_enhanced)
            .bind(5, r.reason)
            .bind(6, r.at)
            .run();
    }
    record_outcome_event(r.recipient_id, type, r);
}

bool Writer::add_suppression(const SuppressionRow& row)
{
    impl_.has_suppressions = true;
    impl_.db
        .prepare("INSERT OR IGNORE INTO suppressions (org_id, email, stream, reason, source, "
                 "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
        .bind(1, row.org_id)
        .bind(2, row.email)
        .bind(3, row.stream)
        .bind(4, row.reason)
        .bind(5, row.source)
        .bind(6, row.created_at)
        .run();
    return impl_.db.changes() > 0;
}

bool Writer::remove_suppression(
    const std::string& org_id, const std::string& email, const std::string& stream)
{
    impl_.db.prepare("DELETE FROM suppressions WHERE org_id = ?1 AND email = ?2 AND stream = ?3")
        .bind(1, org_id)
        .bind(2, email)
        .bind(3, stream)
        .run();
    return impl_.db.changes() > 0;
}

void Writer::insert_webhook(const WebhookRow& row)
{
    impl_.db
        .prepare("INSERT INTO webhooks (id, org_id, url, sealed_secret, types, enabled, "
                 "cursor_seq, created_at) VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?7)")
        .bind(1, row.id)
        .bind(2, row.org_id)
        .bind(3, row.url)
        .bind_blob(4, row.sealed_secret)
        .bind(5, join_words(row.types))
        .bind(6, row.cursor_seq)
        .bind(7, row.created_at)
        .run();
}

bool Writer::delete_webhook(const std::string& org_id, const std::string& id)
{
    impl_.db.prepare("DELETE FROM webhooks WHERE org_id = ?1 AND id = ?2")
        .bind(1, org_id)
        .bind(2, id)
        .run();
    return impl_.db.changes() > 0;
}

void Writer::save_webhook_progress(const WebhookRow& row)
{
    impl_.db
        .prepare("UPDATE webhooks SET cursor_seq = ?2, attempts = ?3, failing_since = ?4, "
                 "next_attempt_at = ?5 WHERE id = ?1")
        .bind(1, row.id)
        .bind(2, row.cursor_seq)
        .bind(3, row.attempts)
        .bind(4, row.failing_since)
        .bind(5, row.next_attempt_at)
        .run();
}

bool Writer::set_webhook_enabled(
    const std::string& org_id, const std::string& id, bool enabled, const std::string& reason)
{
    impl_.db
        .prepare("UPDATE webhooks SET enabled = ?3, disabled_reason = ?4, attempts = 0, "
                 "failing_since = 0, next_attempt_at = 0 WHERE org_id = ?1 AND id = ?2")
        .bind(1, org_id)
        .bind(2, id)
        .bind(3, enabled ? 1 : 0)
        .bind(4, reason)
        .run();
    return impl_.db.changes() > 0;
}

std::int64_t Writer::last_event_seq()
{
    auto st = impl_.db.prepare("SELECT coalesce(max(seq), 0) FROM events");
    st.step();
    return st.integer(0);
}

// ---- Reads --------------------------------------------------------------

std::optional<ApiKeyRow> Store::find_api_key_by_prefix(const std::string& prefix)
{
    auto db = readers_->acquire();
    auto st = db->prepare("SELECT " CAREPOST_KEY_COLUMNS " FROM api_keys WHERE prefix = ?1");
    st.bind(1, prefix);
    if (!st.step()) {
        return std::nullopt;
    }
    return read_key(st);
}

std::optional<ApiKeyRow> Store::find_api_key(const std::string& org_id, const std::string& id)
{
    auto db = readers_->acquire();
    auto st =
        db->prepare("SELECT " CAREPOST_KEY_COLUMNS " FROM api_keys WHERE org_id = ?1 AND id = ?2");
    st.bind(1, org_id).bind(2, id);
    if (!st.step()) {
        return std::nullopt;
    }
    return read_key(st);
}

std::vector<ApiKeyRow> Store::list_api_keys(const std::string& org_id)
{
    auto db = readers_->acquire();
    auto st =
        db->prepare("SELECT " CAREPOST_KEY_COLUMNS " FROM api_keys WHERE org_id = ?1 ORDER BY id");
    st.bind(1, org_id);
    std::vector<ApiKeyRow> out;
    while (st.step()) {
        out.push_back(read_key(st));
    }
    return out;
}

std::optional<TokenRow> Store::find_token_by_prefix(const std::string& prefix)
{
    auto db = readers_->acquire();
    auto st = db->prepare("SELECT " CAREPOST_TOKEN_COLUMNS " FROM tokens WHERE prefix = ?1");
    st.bind(1, prefix);
    if (!st.step()) {
        return std::nullopt;
    }
    return read_token(st);
}

std::optional<std::pair<TokenRow, std::optional<ApiKeyRow>>>
Store::find_token_with_key(const std::string& prefix)
{
    auto db = readers_->acquire();
    auto st = db->prepare(
        "SELECT t.id, t.prefix, t.key_id, t.org_id, t.hash, t.scopes, t.created_at, "
        "t.expires_at, t.revoked_at, k.id, k.org_id, k.prefix, k.hash, k.scopes, k.created_at, "
        "k.revoked_at, k.name, k.expires_at, k.suspended_at, k.suspended_reason, k.templates, "
        "k.allow_domains, k.deny_domains, k.requests_per_second, k.recipients_per_hour, "
        "k.sealed_secret, k.rotated_from FROM tokens t LEFT JOIN api_keys k "
        "ON k.id = t.key_id AND k.org_id = t.org_id WHERE t.prefix = ?1");
    st.bind(1, prefix);
    if (!st.step()) {
        return std::nullopt;
    }
    std::optional<ApiKeyRow> key;
    if (!st.is_null(9)) {
        key = read_key(st, 9);
    }
    return std::pair{read_token(st), std::move(key)};
}

std::vector<TokenRow> Store::list_tokens(const std::string& org_id, std::int64_t now)
{
    auto db = readers_->acquire();
    auto st =
        db->prepare("SELECT " CAREPOST_TOKEN_COLUMNS
                    " FROM tokens WHERE org_id = ?1 AND expires_at > ?2 AND revoked_at IS NULL "
                    "ORDER BY created_at, id");
    st.bind(1, org_id).bind(2, now);
    std::vector<TokenRow> out;
    while (st.step()) {
        out.push_back(read_token(st));
    }
    return out;
}

std::vector<NonceRow> Store::live_nonces(std::int64_t now)
{
    auto db = readers_->acquire();
    auto st = db->prepare("SELECT key_id, nonce, expires_at FROM nonces WHERE expires_at >= ?1");
    st.bind(1, now);
    std::vector<NonceRow> out;
    while (st.step()) {
        out.push_back({st.text(0), st.text(1), st.integer(2)});
    }
    return out;
}

std::vector<KeyVolumeRow> Store::key_volume_since(std::int64_t hour)
{
    auto db = readers_->acquire();
    auto st = db->prepare(
        "SELECT key_id, hour, recipients FROM key_volume WHERE hour >= ?1 ORDER BY key_id, hour");
    st.bind(1, hour);
    std::vector<KeyVolumeRow> out;
    while (st.step()) {
        out.push_back({st.text(0), st.integer(1), st.integer(2)});
    }
    return out;
}

std::vector<std::pair<std::string, std::string>> Store::key_domains()
{
    auto db = readers_->acquire();
    auto st = db->prepare("SELECT key_id, domain FROM key_domains ORDER BY key_id");
    std::vector<std::pair<std::string, std::string>> out;
    while (st.step()) {
        out.emplace_back(st.text(0), st.text(1));
    }
    return out;
}

std::vector<RefusalCount> Store::refusals(const std::string& org_id, std::int64_t since_day)
{
    auto db = readers_->acquire();
    auto st = db->prepare(
        "SELECT key_id, day, reason, count FROM policy_refusals WHERE org_id = ?1 AND day >= ?2 "
        "ORDER BY day, key_id, reason");
    st.bind(1, org_id).bind(2, since_day);
    std::vector<RefusalCount> out;
    while (st.step()) {
        out.push_back({st.text(0), st.integer(1), st.text(2), st.integer(3)});
    }
    return out;
}

std::vector<EventRow> Store::events(
    const std::string& org_id,
    std::int64_t after_seq,
    const std::string& type,
    const std::string& message_id,
    std::size_t limit)
{
    EventFilter f;
    f.type = type;
    f.message_id = message_id;
    return events(org_id, after_seq, f, limit);
}

std::vector<EventRow> Store::events(
    const std::string& org_id, std::int64_t after_seq, const EventFilter& f, std::size_t limit)
{
    auto db = readers_->acquire();
    auto st = db->prepare(
        "SELECT seq, id, org_id, type, time, key_id, message_id, recipient_id, email, "
        "reply_code, enhanced, reason, bounce_class FROM events WHERE org_id = ?1 AND seq > ?2 "
        "AND (?3 = '' OR type = ?3) AND (?4 = '' OR message_id = ?4) "
        "AND (?6 = '' OR recipient_id = ?6) AND time >= ?7 AND time <= ?8 "
        "ORDER BY seq LIMIT ?5");
    st.bind(1, org_id).bind(2, after_seq).bind(3, f.type).bind(4, f.message_id);
    st.bind(5, static_cast<std::int64_t>(limit)).bind(6, f.recipient_id);
    st.bind(7, f.since).bind(8, f.until);
    std::vector<EventRow> out;
    while (st.step()) {
        out.push_back(
            {st.integer(0),
             st.text(1),
             st.text(2),
             st.text(3),
             st.integer(4),
             st.text(5),
             st.text(6),
             st.text(7),
             st.text(8),
             st.integer(9),
             st.text(10),
             st.text(11),
             st.text(12)});
    }
    return out;
}

std::vector<EventRow>
Store::events_after(std::int64_t after_seq, const std::string& org_id, std::size_t limit)
{
    EventFilter f;
    return events(org_id, after_seq, f, limit);
}

std::vector<SuppressionRow> Store::suppressions(
    const std::string& org_id,
    const std::string& email,
    const std::string& after_email,
    const std::string& after_stream,
    std::size_t limit)
{
    auto db = readers_->acquire();
    auto st =
        db->prepare("SELECT org_id, email, stream, reason, source, created_at FROM suppressions "
                    "WHERE org_id = ?1 AND (?2 = '' OR email = ?2) AND (email, stream) > (?3, ?5) "
                    "ORDER BY email, stream LIMIT ?4");
    st.bind(1, org_id).bind(2, email).bind(3, after_email);
    st.bind(4, static_cast<std::int64_t>(limit)).bind(5, after_stream);
    std::vector<SuppressionRow> out;
    while (st.step()) {
        out.push_back({st.text(0), st.text(1), st.text(2), st.text(3), st.text(4), st.integer(5)});
    }
    return out;
}

std::vector<std::string> Store::suppressed_among(
    const std::string& org_id, const std::string& stream, const std::vector<std::string>& emails)
{
    if (!writer_->has_suppressions.load()) {
        return {};
    }
    auto db = readers_->acquire();
    std::string list = "[";
    for (const auto& e : emails) {
        std::string quoted;
        for (char c : e) {
            if (c == '"' || c == '\\') {
                quoted += '\\';
            }
            quoted += c;
        }
        list += (list.size() > 1 ? ",\"" : "\"") + quoted + "\"";
    }
    list += "]";
    auto st = db->prepare(
        "SELECT DISTINCT email FROM suppressions WHERE org_id = ?1 AND stream IN ('', ?2) "
        "AND email IN (SELECT value FROM json_each(?3))");
    st.bind(1, org_id).bind(2, stream).bind(3, list);
    std::vector<std::string> out;
    while (st.step()) {
        out.push_back(st.text(0));
    }
    return out;
}

#define CAREPOST_WEBHOOK_COLUMNS                                                                   \
    "SELECT id, org_id, url, sealed_secret, types, enabled, disabled_reason, cursor_seq, "         \
    "attempts, failing_since, next_attempt_at, created_at FROM webhooks "

namespace {

WebhookRow read_webhook(const Statement& st)
{
    WebhookRow w;
    w.id = st.text(0);
    w.org_id = st.text(1);
    w.url = st.text(2);
    w.sealed_secret = st.blob(3);
    w.types = split_words(st.text(4));
    w.enabled = st.integer(5) != 0;
    w.disabled_reason = st.text(6);
    w.cursor_seq = st.integer(7);
    w.attempts = st.integer(8);
    w.failing_since = st.integer(9);
    w.next_attempt_at = st.integer(10);
    w.created_at = st.integer(11);
    return w;
}

}  // namespace

std::vector<WebhookRow> Store::webhooks(const std::string& org_id)
{
    auto db = readers_->acquire();
    auto st = db->prepare(CAREPOST_WEBHOOK_COLUMNS "WHERE org_id = ?1 OR ?1 = '' ORDER BY id");
    st.bind(1, org_id);
    std::vector<WebhookRow> out;
    while (st.step()) {
        out.push_back(read_webhook(st));
    }
    return out;
}

std::optional<WebhookRow> Store::find_webhook(const std::string& org_id, const std::string& id)
{
    auto db = readers_->acquire();
    auto st = db->prepare(CAREPOST_WEBHOOK_COLUMNS "WHERE org_id = ?1 AND id = ?2");
    st.bind(1, org_id).bind(2, id);
    if (!st.step()) {
        return std::nullopt;
    }
    return read_webhook(st);
}

std::optional<RecipientRow>
Store::find_recipient_by_email(const std::string& message_id, const std::string& email)
{
    auto db = readers_->acquire();
    auto st = db->prepare(CAREPOST_RECIPIENT_COLUMNS
                          "WHERE message_id = ?1 AND lower(email) = lower(?2)");
    st.bind(1, message_id).bind(2, email);
    if (!st.step()) {
        return std::nullopt;
    }
    return read_recipient(st);
}

std::optional<RecipientRow> Store::find_recipient(const std::string& id)
{
    auto db = readers_->acquire();
    auto st = db->prepare(CAREPOST_RECIPIENT_COLUMNS "WHERE id = ?1");
    st.bind(1, id);
    if (!st.step()) {
        return std::nullopt;
    }
    return read_recipient(st);
}

}  // namespace carepost::store
