#include "store/store.hpp"

#include <chrono>
#include <future>
#include <sstream>

#include "common/log.hpp"
#include "store/sqlite_db.hpp"
#include "store/store_internal.hpp"

namespace carepost::store {
namespace {

// Each entry is one migration step; its index + 1 is the schema version.
const char* const migrations[] = {
    R"sql(
    CREATE TABLE orgs (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, wrapped_key BLOB NOT NULL,
        created_at INTEGER NOT NULL);
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY, org_id TEXT NOT NULL, prefix TEXT NOT NULL UNIQUE,
        hash BLOB NOT NULL, scopes TEXT NOT NULL, created_at INTEGER NOT NULL,
        revoked_at INTEGER);
    CREATE TABLE domains (
        org_id TEXT NOT NULL, domain TEXT NOT NULL, selector TEXT NOT NULL,
        wrapped_private BLOB NOT NULL, public_record TEXT NOT NULL,
        created_at INTEGER NOT NULL, PRIMARY KEY (org_id, domain));
    CREATE TABLE templates (
        org_id TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL,
        subject TEXT NOT NULL, text TEXT NOT NULL, html TEXT NOT NULL,
        created_at INTEGER NOT NULL, PRIMARY KEY (org_id, id, version));
    CREATE TABLE messages (
        id TEXT PRIMARY KEY, org_id TEXT NOT NULL, key_id TEXT NOT NULL,
        created_at INTEGER NOT NULL, mail_from TEXT NOT NULL, sign_domain TEXT NOT NULL,
        wrapped_key BLOB NOT NULL, body BLOB NOT NULL, needs_smtputf8 INTEGER NOT NULL,
        size INTEGER NOT NULL);
    CREATE TABLE recipients (
        id TEXT PRIMARY KEY, message_id TEXT NOT NULL, org_id TEXT NOT NULL,
        email TEXT NOT NULL, domain TEXT NOT NULL, kind TEXT NOT NULL,
        status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL, last_code INTEGER NOT NULL DEFAULT 0,
        last_enhanced TEXT NOT NULL DEFAULT '', reason TEXT NOT NULL DEFAULT '',
        created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, delivered_at INTEGER);
    CREATE INDEX recipients_by_message ON recipients (message_id);
    CREATE INDEX recipients_due ON recipients (status, next_attempt_at);
    CREATE TABLE idempotency (
        org_id TEXT NOT NULL, key TEXT NOT NULL, request_hash TEXT NOT NULL,
        status INTEGER NOT NULL, response TEXT NOT NULL, created_at INTEGER NOT NULL,
        PRIMARY KEY (org_id, key));
    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, actor TEXT NOT NULL,
        action TEXT NOT NULL, org_id TEXT NOT NULL, message_id TEXT NOT NULL,
        recipient TEXT NOT NULL, outcome TEXT NOT NULL, prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL);
    -- The audit log is append-only: the database itself refuses changes.
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
    )sql",
    // 2: access control — key settings, OAuth tokens, request nonces, organisation
    // rules, per-key volume history, policy refusal counts and the event stream.
    R"sql(
    ALTER TABLE api_keys ADD COLUMN name TEXT NOT NULL DEFAULT '';
    ALTER TABLE api_keys ADD COLUMN expires_at INTEGER;
    ALTER TABLE api_keys ADD COLUMN suspended_at INTEGER;
    ALTER TABLE api_keys ADD COLUMN suspended_reason TEXT NOT NULL DEFAULT '';
    ALTER TABLE api_keys ADD COLUMN templates TEXT NOT NULL DEFAULT '';
    ALTER TABLE api_keys ADD COLUMN allow_domains TEXT NOT NULL DEFAULT '';
    ALTER TABLE api_keys ADD COLUMN deny_domains TEXT NOT NULL DEFAULT '';
    ALTER TABLE api_keys ADD COLUMN requests_per_second INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE api_keys ADD COLUMN recipients_per_hour INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE api_keys ADD COLUMN sealed_secret BLOB NOT NULL DEFAULT '';
    ALTER TABLE api_keys ADD COLUMN rotated_from TEXT NOT NULL DEFAULT '';
    CREATE INDEX api_keys_by_org ON api_keys (org_id);
    ALTER TABLE orgs ADD COLUMN allow_domains TEXT NOT NULL DEFAULT '';
    ALTER TABLE orgs ADD COLUMN deny_domains TEXT NOT NULL DEFAULT '';
    CREATE TABLE tokens (
        id TEXT PRIMARY KEY, prefix TEXT NOT NULL UNIQUE, key_id TEXT NOT NULL,
        org_id TEXT NOT NULL, hash BLOB NOT NULL, scopes TEXT NOT NULL,
        created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, revoked_at INTEGER);
    CREATE INDEX tokens_by_key ON tokens (key_id);
    CREATE TABLE nonces (
        key_id TEXT NOT NULL, nonce TEXT NOT NULL, expires_at INTEGER NOT NULL,
        PRIMARY KEY (key_id, nonce));
    CREATE TABLE key_volume (
        key_id TEXT NOT NULL, hour INTEGER NOT NULL, recipients INTEGER NOT NULL,
        PRIMARY KEY (key_id, hour));
    CREATE TABLE key_domains (
        key_id TEXT NOT NULL, domain TEXT NOT NULL, first_seen INTEGER NOT NULL,
        PRIMARY KEY (key_id, domain));
    CREATE TABLE policy_refusals (
        org_id TEXT NOT NULL, key_id TEXT NOT NULL, day INTEGER NOT NULL,
        reason TEXT NOT NULL, count INTEGER NOT NULL,
        PRIMARY KEY (org_id, key_id, day, reason));
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY, id TEXT NOT NULL, org_id TEXT NOT NULL,
        type TEXT NOT NULL, time INTEGER NOT NULL, key_id TEXT NOT NULL DEFAULT '',
        message_id TEXT NOT NULL DEFAULT '', recipient_id TEXT NOT NULL DEFAULT '',
        email TEXT NOT NULL DEFAULT '', reply_code INTEGER NOT NULL DEFAULT 0,
        enhanced TEXT NOT NULL DEFAULT '', reason TEXT NOT NULL DEFAULT '',
        bounce_class TEXT NOT NULL DEFAULT '');
    CREATE INDEX events_by_org ON events (org_id, seq);
    CREATE INDEX events_by_message ON events (message_id, seq);
    CREATE TABLE suppressions (
        org_id TEXT NOT NULL, email TEXT NOT NULL, stream TEXT NOT NULL, reason TEXT NOT NULL,
        source TEXT NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (org_id, email, stream));
    CREATE TABLE webhooks (
        id TEXT PRIMARY KEY, org_id TEXT NOT NULL, url TEXT NOT NULL, sealed_secret BLOB NOT NULL,
        types TEXT NOT NULL, enabled INTEGER NOT NULL, disabled_reason TEXT NOT NULL DEFAULT '',
        cursor_seq INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
        failing_since INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL);
    ALTER TABLE messages ADD COLUMN stream TEXT NOT NULL DEFAULT 'transactional';
    ALTER TABLE orgs ADD COLUMN track_phi INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE orgs ADD COLUMN tracked_streams TEXT NOT NULL DEFAULT '';
    ALTER TABLE recipients ADD COLUMN escalated INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX audit_by_org ON audit (org_id, seq);
    )sql",
};

}  // namespace

void configure(Database& db)
{
    db.exec("PRAGMA journal_mode=WAL");
    // FULL: a commit is on disk before the caller hears of it (nothing
    // acknowledged is lost, DESIGN principle 1).
    db.exec("PRAGMA synchronous=FULL");
    db.exec("PRAGMA foreign_keys=OFF");
}

namespace {

void migrate(Database& db)
{
    db.exec("BEGIN IMMEDIATE");
    try {
        auto st = db.prepare("PRAGMA user_version");
        st.step();
        std::int64_t version = st.integer(0);
        std::int64_t target = std::size(migrations);
        for (std::int64_t v = version; v < target; ++v) {
            db.exec(migrations[v]);
        }
        if (version != target) {
            db.exec(("PRAGMA user_version=" + std::to_string(target)).c_str());
        }
        db.exec("COMMIT");
    } catch (...) {
        db.exec("ROLLBACK");
        throw;
    }
}

// The list goes in as one JSON array parameter, so the statement stays
// cached whatever its length.
std::string json_array(const std::vector<std::string>& items)
{
    std::string out = "[";
    for (const auto& item : items) {
        out += out.size() > 1 ? ",\"" : "\"";
        for (char c : item) {
            if (c == '"' || c == '\\') {
                out += '\\';
            }
            out += c;
        }
        out += '"';
    }
    return out + "]";
}

std::vector<DueRecipient> select_due(
    Database& db, std::int64_t now, std::size_t limit, const std::vector<std::string>& skip_domains)
{
    auto st = db.prepare(
        "SELECT id, message_id, org_id, email, domain, attempts, created_at FROM recipients "
        "WHERE status IN ('queued', 'deferred') AND next_attempt_at <= ?1 "
        "AND domain NOT IN (SELECT value FROM json_each(?3)) "
        "ORDER BY next_attempt_at LIMIT ?2");
    st.bind(1, now).bind(2, static_cast<std::int64_t>(limit)).bind(3, json_array(skip_domains));
    std::vector<DueRecipient> out;
    while (st.step()) {
        out.push_back(
            {st.text(0),
             st.text(1),
             st.text(2),
             st.text(3),
             st.text(4),
             st.integer(5),
             st.integer(6)});
    }
    return out;
}

}  // namespace

std::int64_t unix_now()
{
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// ---- Writer operations --------------------------------------------------

void Writer::insert_org(const OrgRow& row)
{
    impl_.db.prepare("INSERT INTO orgs (id, name, wrapped_key, created_at) VALUES (?1, ?2, ?3, ?4)")
        .bind(1, row.id)
        .bind(2, row.name)
        .bind_blob(3, row.wrapped_key)
        .bind(4, row.created_at)
        .run();
}

void Writer::insert_domain(const DomainRow& row)
{
    impl_.db
        .prepare("INSERT OR REPLACE INTO domains (org_id, domain, selector, wrapped_private, "
                 "public_record, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
        .bind(1, row.org_id)
        .bind(2, row.domain)
        .bind(3, row.selector)
        .bind_blob(4, row.wrapped_private)
        .bind(5, row.public_record)
        .bind(6, row.created_at)
        .run();
}

void Writer::insert_template(const TemplateRow& row)
{
    impl_.db
        .prepare("INSERT INTO templates (org_id, id, version, subject, text, html, created_at) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
        .bind(1, row.org_id)
        .bind(2, row.id)
        .bind(3, row.version)
        .bind(4, row.subject)
        .bind(5, row.text)
        .bind(6, row.html)
        .bind(7, row.created_at)
        .run();
}

std::optional<std::int64_t>
Writer::latest_template_version(const std::string& org_id, const std::string& id)
{
    auto st = impl_.db.prepare("SELECT MAX(version) FROM templates WHERE org_id = ?1 AND id = ?2");
    st.bind(1, org_id).bind(2, id);
    if (st.step() && !st.is_null(0)) {
        return st.integer(0);
    }
    return std::nullopt;
}

void Writer::insert_message(const MessageRow& m, const std::vector<RecipientRow>& recipients)
{
    impl_.db
        .prepare("INSERT INTO messages (id, org_id, key_id, created_at, mail_from, sign_domain, "
                 "wrapped_key, body, needs_smtputf8, size, stream) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)")
        .bind(1, m.id)
        .bind(2, m.org_id)
        .bind(3, m.key_id)
        .bind(4, m.created_at)
        .bind(5, m.mail_from)
        .bind(6, m.sign_domain)
        .bind_blob(7, m.wrapped_key)
        .bind_blob(8, m.body)
        .bind(9, m.needs_smtputf8 ? 1 : 0)
        .bind(10, m.size)
        .bind(11, m.stream)
        .run();
    insert_event({0, "", m.org_id, "accepted", m.created_at, m.key_id, m.id});
    for (const auto& r : recipients) {
        impl_.db
            .prepare("INSERT INTO recipients (id, message_id, org_id, email, domain, kind, status, "
                     "next_attempt_at, created_at, updated_at, reason) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10)")
            .bind(1, r.id)
            .bind(2, m.id)
            .bind(3, m.org_id)
            .bind(4, r.email)
            .bind(5, r.domain)
            .bind(6, r.kind)
            .bind(7, r.status)
            .bind(8, r.next_attempt_at)
            .bind(9, r.created_at)
            .bind(10, r.reason)
            .run();
        // `queued` (or `suppressed`) per recipient, in the same commit.
        store::EventRow e{0, "", m.org_id, r.status, m.created_at, m.key_id, m.id, r.id, r.email};
        e.reason = r.reason;
        insert_event(e);
    }
}

void Writer::record_attempt(const AttemptResult& r)
{
    auto st = impl_.db.prepare(
        "UPDATE recipients SET status = ?2, attempts = ?3, next_attempt_at = ?4, last_code = ?5, "
        "last_enhanced = ?6, reason = ?7, updated_at = ?8, "
        "delivered_at = CASE WHEN ?2 = 'delivered' THEN ?8 ELSE delivered_at END WHERE id = ?1");
    st.bind(1, r.recipient_id)
        .bind(2, r.status)
        .bind(3, r.attempts)
        .bind(4, r.next_attempt_at)
        .bind(5, r.last_code)
        .bind(6, r.last_enhanced)
        .bind(7, r.reason)
        .bind(8, r.at)
        .run();
    record_outcome_event(r.recipient_id, r.status, r);
    // Still not delivered after the escalation age: said once, so that the
    // sender can reach the patient another way.
    if (r.escalate) {
        impl_.db.prepare("UPDATE recipients SET escalated = 1 WHERE id = ?1 AND escalated = 0")
            .bind(1, r.recipient_id)
            .run();
        if (impl_.db.changes() > 0) {
            record_outcome_event(r.recipient_id, "escalated", r);
        }
    }
}

void Writer::record_outcome_event(
    const std::string& recipient_id, const std::string& type, const AttemptResult& r)
{
    // The event takes its ids and address from the recipient row; a hard
    // bounce also suppresses the address for the organisation (all streams).
    impl_.db
        .prepare("INSERT INTO events (id, org_id, type, time, message_id, recipient_id, email, "
                 "reply_code, enhanced, reason, bounce_class) "
                 "SELECT 'evt_' || lower(hex(randomblob(12))), org_id, ?2, ?3, message_id, id, "
                 "email, ?4, ?5, ?6, ?7 FROM recipients WHERE id = ?1")
        .bind(1, recipient_id)
        .bind(2, type)
        .bind(3, r.at)
        .bind(4, r.last_code)
        .bind(5, r.last_enhanced)
        .bind(6, r.reason)
        .bind(7, r.bounce_class)
        .run();
    if (!r.suppress_reason.empty()) {
        impl_.has_suppressions = true;
        impl_.db
            .prepare("INSERT OR IGNORE INTO suppressions (org_id, email, stream, reason, source, "
                     "created_at) SELECT org_id, ?5, '', ?2, ?3, ?4 FROM recipients "
                     "WHERE id = ?1")
            .bind(1, recipient_id)
            .bind(2, r.suppress_reason)
            .bind(3, r.suppress_source)
            .bind(4, r.at)
            .bind(5, r.suppress_email)
            .run();
    }
}

bool Writer::insert_idempotency(
    const std::string& org_id, const std::string& key, const IdempotencyRow& row, std::int64_t at)
{
    auto st = impl_.db.prepare(
        "INSERT OR IGNORE INTO idempotency (org_id, key, request_hash, status, response, "
        "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    st.bind(1, org_id)
        .bind(2, key)
        .bind(3, row.request_hash)
        .bind(4, row.status)
        .bind(5, row.response)
        .bind(6, at)
        .run();
    return impl_.db.changes() == 1;
}

std::vector<std::string> Writer::mark_claimed(const std::vector<std::string>& ids, std::int64_t at)
{
    std::vector<std::string> marked;
    for (const auto& id : ids) {
        impl_.db
            .prepare("UPDATE recipients SET status = 'sending', updated_at = ?2 "
                     "WHERE id = ?1 AND status IN ('queued', 'deferred')")
            .bind(1, id)
            .bind(2, at)
            .run();
        if (impl_.db.changes() == 1) {
            marked.push_back(id);
        }
    }
    return marked;
}

std::vector<std::string> Writer::requeue_sending()
{
    std::vector<std::string> ids;
    auto st =
        impl_.db.prepare("SELECT DISTINCT message_id FROM recipients WHERE status = 'sending'");
    while (st.step()) {
        ids.push_back(st.text(0));
    }
    impl_.db.exec("UPDATE recipients SET status = 'queued' WHERE status = 'sending'");
    return ids;
}

AuditRow Writer::last_audit()
{
    auto st = impl_.db.prepare("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1");
    AuditRow row;
    if (st.step()) {
        row.seq = st.integer(0);
        row.hash = st.text(1);
    }
    return row;
}

void Writer::insert_audit(const AuditRow& a)
{
    impl_.db
        .prepare("INSERT INTO audit (seq, time, actor, action, org_id, message_id, recipient, "
                 "outcome, prev_hash, hash) VALUES (?10, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")
        .bind(10, a.seq)
        .bind(1, a.time)
        .bind(2, a.actor)
        .bind(3, a.action)
        .bind(4, a.org_id)
        .bind(5, a.message_id)
        .bind(6, a.recipient)
        .bind(7, a.outcome)
        .bind(8, a.prev_hash)
        .bind(9, a.hash)
        .run();
}

// ---- Store --------------------------------------------------------------

Store::Store(std::filesystem::path path, std::size_t max_batch)
    : path_(std::move(path)), max_batch_(max_batch)
{}

Result<std::unique_ptr<Store>> Store::open(const Options& options)
{
    // The folder holds sealed PHI and the audit log: only the owner may enter.
    std::error_code ec;
    if (std::filesystem::create_directories(options.data_dir, ec)) {
        std::filesystem::permissions(
            options.data_dir,
            std::filesystem::perms::owner_all,
            std::filesystem::perm_options::replace,
            ec);
    }
    auto path = options.data_dir / "carepost.db";
    std::unique_ptr<Store> store(new Store(path, options.max_batch));
    try {
        store->writer_ = std::make_unique<WriterImpl>(path.string());
        migrate(store->writer_->db);
        auto any = store->writer_->db.prepare("SELECT EXISTS (SELECT 1 FROM suppressions)");
        any.step();
        store->writer_->has_suppressions = any.integer(0) != 0;
    } catch (const DatabaseError& e) {
        log::error("store", "open_failed", {{"sqlite_code", e.code}});
        return Error::internal("store_open", "cannot open or migrate the database");
    }
    store->readers_ = std::make_unique<Readers>(path.string());
    store->thread_ = std::thread([s = store.get()] { s->run_writer(); });
    return store;
}

Store::~Store()
{
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
}

void Store::submit(WriteFn fn, DoneFn done)
{
    {
        std::lock_guard lock(mutex_);
        queue_.push_back({std::move(fn), std::move(done)});
    }
    wake_.notify_one();
}

Result<void> Store::write(WriteFn fn)
{
    std::promise<Result<void>> promise;
    auto future = promise.get_future();
    submit(std::move(fn), [&promise](Result<void> r) { promise.set_value(std::move(r)); });
    return future.get();
}

void Store::run_writer()
{
    auto& db = writer_->db;
    std::vector<Pending> batch;
    std::vector<Result<void>> results;
    for (;;) {
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) {
                return;  // stopping, and everything queued was written
            }
            while (!queue_.empty() && batch.size() < max_batch_) {
                batch.push_back(std::move(queue_.front()));
                queue_.pop_front();
            }
        }

        // Every write in the batch runs in its own savepoint so that one
        // failure rolls back only its own changes; one COMMIT (one fsync)
        // then makes the whole batch durable.
        results.clear();
        bool committed = false;
        try {
            db.exec("BEGIN IMMEDIATE");
            for (auto& item : batch) {
                db.exec("SAVEPOINT item");
                Result<void> r = Error::internal("store_write", "write failed");
                try {
                    Writer w(*writer_);
                    r = item.fn(w);
                } catch (const DatabaseError& e) {
                    log::warn("store", "write_failed", {{"sqlite_code", e.code}});
                    r = Error::internal("store_write", "database write failed");
                }
                db.exec(r ? "RELEASE item" : "ROLLBACK TO item; RELEASE item");
                results.push_back(std::move(r));
            }
            db.exec("COMMIT");
            committed = true;
        } catch (const DatabaseError& e) {
            log::error("store", "commit_failed", {{"sqlite_code", e.code}});
            try {
                db.exec("ROLLBACK");
            } catch (const DatabaseError&) {
            }
        }

        for (std::size_t i = 0; i < batch.size(); ++i) {
            if (!batch[i].done) {
                continue;
            }
            if (committed) {
                batch[i].done(std::move(results[i]));
            } else {
                batch[i].done(Error::transient("store_commit", "the database commit failed"));
            }
        }
        log::debug("store", "batch_committed", {{"size", batch.size()}});
        batch.clear();
    }
}

std::optional<OrgRow> Store::find_org(const std::string& id)
{
    auto db = readers_->acquire();
    auto st = db->prepare(
        "SELECT id, name, wrapped_key, created_at, allow_domains, deny_domains, track_phi, "
        "tracked_streams FROM orgs WHERE id = ?1");
    st.bind(1, id);
    if (!st.step()) {
        return std::nullopt;
    }
    return OrgRow{
        st.text(0),
        st.text(1),
        st.blob(2),
        st.integer(3),
        split_words(st.text(4)),
        split_words(st.text(5)),
        st.integer(6) != 0,
        split_words(st.text(7))};
}

std::vector<OrgRow> Store::list_orgs()
{
    auto db = readers_->acquire();
    auto st = db->prepare("SELECT id, name, wrapped_key, created_at FROM orgs ORDER BY id");
    std::vector<OrgRow> out;
    while (st.step()) {
        out.push_back({st.text(0), st.text(1), st.blob(2), st.integer(3), {}, {}, false, {}});
    }
    return out;
}

std::optional<DomainRow> Store::find_domain(const std::string& org_id, const std::string& domain)
{
    auto db = readers_->acquire();
    auto st =
        db->prepare("SELECT org_id, domain, selector, wrapped_private, public_record, created_at "
                    "FROM domains WHERE org_id = ?1 AND domain = ?2");
    st.bind(1, org_id).bind(2, domain);
    if (!st.step()) {
        return std::nullopt;
    }
    return DomainRow{st.text(0), st.text(1), st.text(2), st.blob(3), st.text(4), st.integer(5)};
}

std::optional<TemplateRow> Store::find_template(
    const std::string& org_id, const std::string& id, std::optional<std::int64_t> version)
{
    auto db = readers_->acquire();
    auto st =
        db->prepare("SELECT org_id, id, version, subject, text, html, created_at FROM templates "
                    "WHERE org_id = ?1 AND id = ?2 AND (?3 IS NULL OR version = ?3) "
                    "ORDER BY version DESC LIMIT 1");
    st.bind(1, org_id).bind(2, id);
    if (version) {
        st.bind(3, *version);
    } else {
        st.bind_null(3);
    }
    if (!st.step()) {
        return std::nullopt;
    }
    return TemplateRow{
        st.text(0), st.text(1), st.integer(2), st.text(3), st.text(4), st.text(5), st.integer(6)};
}

namespace {

MessageRow read_message(Statement& st)
{
    return MessageRow{
        st.text(0),
        st.text(1),
        st.text(2),
        st.integer(3),
        st.text(4),
        st.text(5),
        st.blob(6),
        st.blob(7),
        st.integer(8) != 0,
        st.integer(9),
        st.text(10)};
}

constexpr const char* message_columns =
    "SELECT id, org_id, key_id, created_at, mail_from, sign_domain, wrapped_key, body, "
    "needs_smtputf8, size, stream FROM messages ";

}  // namespace

std::optional<MessageRow> Store::find_message(const std::string& org_id, const std::string& id)
{
    static const std::string sql = std::string(message_columns) + "WHERE id = ?1 AND org_id = ?2";
    auto db = readers_->acquire();
    auto st = db->prepare(sql.c_str());
    st.bind(1, id).bind(2, org_id);
    if (!st.step()) {
        return std::nullopt;
    }
    return read_message(st);
}

std::optional<MessageRow> Store::load_message(const std::string& id)
{
    static const std::string sql = std::string(message_columns) + "WHERE id = ?1";
    auto db = readers_->acquire();
    auto st = db->prepare(sql.c_str());
    st.bind(1, id);
    if (!st.step()) {
        return std::nullopt;
    }
    return read_message(st);
}

std::vector<RecipientRow> Store::recipients_of(const std::string& message_id)
{
    auto db = readers_->acquire();
    auto st = db->prepare(CAREPOST_RECIPIENT_COLUMNS "WHERE message_id = ?1 ORDER BY rowid");
    st.bind(1, message_id);
    std::vector<RecipientRow> out;
    while (st.step()) {
        out.push_back(read_recipient(st));
    }
    return out;
}

std::optional<IdempotencyRow>
Store::find_idempotency(const std::string& org_id, const std::string& key)
{
    auto db = readers_->acquire();
    auto st = db->prepare(
        "SELECT request_hash, response, status FROM idempotency WHERE org_id = ?1 AND key = ?2");
    st.bind(1, org_id).bind(2, key);
    if (!st.step()) {
        return std::nullopt;
    }
    return IdempotencyRow{st.text(0), st.text(1), static_cast<int>(st.integer(2))};
}

std::vector<DueRecipient> Store::due_recipients(
    std::int64_t now, std::size_t limit, const std::vector<std::string>& skip_domains)
{
    auto db = readers_->acquire();
    return select_due(*db, now, limit, skip_domains);
}

std::vector<AuditRow> Store::audit_range(std::int64_t after_seq, std::size_t limit)
{
    return audit_of_org("", after_seq, limit);
}

std::vector<AuditRow>
Store::audit_of_org(const std::string& org_id, std::int64_t after_seq, std::size_t limit)
{
    auto db = readers_->acquire();
    auto st = db->prepare(
        "SELECT seq, time, actor, action, org_id, message_id, recipient, outcome, prev_hash, "
        "hash FROM audit WHERE seq > ?1 AND (?3 = '' OR org_id = ?3) ORDER BY seq LIMIT ?2");
    st.bind(1, after_seq).bind(2, static_cast<std::int64_t>(limit)).bind(3, org_id);
    std::vector<AuditRow> out;
    while (st.step()) {
        out.push_back(
            {st.integer(0),
             st.integer(1),
             st.text(2),
             st.text(3),
             st.text(4),
             st.text(5),
             st.text(6),
             st.text(7),
             st.text(8),
             st.text(9)});
    }
    return out;
}

std::int64_t Store::count_recipients_with_status(const std::string& status)
{
    auto db = readers_->acquire();
    auto st = db->prepare("SELECT COUNT(*) FROM recipients WHERE status = ?1");
    st.bind(1, status);
    st.step();
    return st.integer(0);
}

std::vector<std::string> Store::requeue_interrupted()
{
    std::vector<std::string> ids;
    auto r = write([&ids](Writer& w) -> Result<void> {
        ids = w.requeue_sending();
        return {};
    });
    if (!r) {
        log::error("store", "requeue_failed");
    }
    return ids;
}

}  // namespace carepost::store
