// store: schema, migrations and every SQL statement of carepost.
//
// Owns: the embedded SQLite database (WAL, synchronous=FULL) in the data
//   directory, its migrations, and group commit: writes from many callers
//   are queued to one writer thread and share one transaction and one fsync.
// Trust boundary: callers are other components; nothing here parses peer
//   input. Bound values never appear in errors or logs.
// Logs: batch sizes and durations at debug level; database errors.
// Limits:
//   LIMIT(#2): SQLite only; the PostgreSQL back end (same operations, leases
//   with FOR UPDATE SKIP LOCKED) comes with the cluster work.
//   LIMIT(#4): events, suppressions, nonces and tokens are kept with no
//   retention period yet (nonces are purged once stale); retention is its
//   own work.
//   LIMIT(#2): recipient addresses are stored in clear (they route mail and
//   are the audit subject); bodies, attachments and keys are sealed.
#pragma once

#include <climits>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/error.hpp"

namespace carepost::store {

struct OrgRow {
    std::string id, name, wrapped_key;
    std::int64_t created_at = 0;
    // Recipient-domain rules for every key of the organisation.
    std::vector<std::string> allow_domains, deny_domains;
    bool track_phi = false;                    // may messages carrying PHI be tracked
    std::vector<std::string> tracked_streams;  // tracked unless a message says not
};

struct ApiKeyRow {
    std::string id, org_id, prefix, hash;
    std::vector<std::string> scopes;
    std::int64_t created_at = 0;
    std::optional<std::int64_t> revoked_at;
    std::string name;
    std::optional<std::int64_t> expires_at;
    std::optional<std::int64_t> suspended_at;
    std::string suspended_reason;
    std::vector<std::string> templates;  // what messages:send-template may send
    std::vector<std::string> allow_domains, deny_domains;
    std::int64_t requests_per_second = 0;  // 0: the configured default
    std::int64_t recipients_per_hour = 0;  // 0: the configured default
    std::string sealed_secret;             // the key sealed by the org key (signing)
    std::string rotated_from;              // the key this one replaced
};

// A short-lived OAuth 2.0 access token issued to a key (the client).
struct TokenRow {
    std::string id, prefix, key_id, org_id, hash;
    std::vector<std::string> scopes;
    std::int64_t created_at = 0, expires_at = 0;
    std::optional<std::int64_t> revoked_at;
};

struct NonceRow {
    std::string key_id, nonce;
    std::int64_t expires_at = 0;
};

struct KeyVolumeRow {
    std::string key_id;
    std::int64_t hour = 0;  // unix seconds / 3600
    std::int64_t recipients = 0;
};

struct RefusalCount {
    std::string key_id;
    std::int64_t day = 0;  // unix seconds / 86400
    std::string reason;
    std::int64_t count = 0;
};

// One entry of the organisation's event stream. Never subjects, bodies,
// attachment names or template data.
struct EventRow {
    std::int64_t seq = 0;
    std::string id, org_id, type;
    std::int64_t time = 0;
    std::string key_id, message_id, recipient_id, email;
    std::int64_t reply_code = 0;
    std::string enhanced, reason;
    std::string bounce_class;  // hard, soft, block, delay, complaint
};

struct EventFilter {
    std::string type, message_id, recipient_id;
    std::int64_t since = 0;
    std::int64_t until = INT64_MAX;
};

// An address the organisation must not mail: on every stream ("") or one.
// `email` is in canonical form (mime::canonical_mailbox).
struct SuppressionRow {
    std::string org_id, email, stream, reason, source;
    std::int64_t created_at = 0;
};

struct WebhookRow {
    std::string id, org_id, url, sealed_secret;
    std::vector<std::string> types;
    bool enabled = true;
    std::string disabled_reason;
    std::int64_t cursor_seq = 0, attempts = 0, failing_since = 0, next_attempt_at = 0;
    std::int64_t created_at = 0;
};

struct DomainRow {
    std::string org_id, domain, selector, wrapped_private, public_record;
    std::int64_t created_at = 0;
};

struct TemplateRow {
    std::string org_id, id;
    std::int64_t version = 0;
    std::string subject, text, html;
    std::int64_t created_at = 0;
};

struct RecipientRow {
    std::string id, message_id, org_id, email, domain;
    std::string kind;  // to, cc, bcc
    std::string status = "queued";
    std::int64_t attempts = 0;
    std::int64_t next_attempt_at = 0;
    std::int64_t last_code = 0;
    std::string last_enhanced, reason;
    std::int64_t created_at = 0, updated_at = 0;
    std::optional<std::int64_t> delivered_at;
};

struct MessageRow {
    std::string id, org_id, key_id;
    std::int64_t created_at = 0;
    std::string mail_from;  // envelope sender
    std::string sign_domain;
    std::string wrapped_key;  // data key, wrapped by the org key
    std::string body;         // sealed MIME
    bool needs_smtputf8 = false;
    std::int64_t size = 0;
    std::string stream = "transactional";
};

struct AuditRow {
    std::int64_t seq = 0;
    std::int64_t time = 0;
    std::string actor, action, org_id, message_id, recipient, outcome;
    std::string prev_hash, hash;
};

struct IdempotencyRow {
    std::string request_hash, response;
    int status = 0;
};

// A recipient handed to delivery: what it needs to route and report.
struct DueRecipient {
    std::string id, message_id, org_id, email, domain;
    std::int64_t attempts = 0;
    std::int64_t created_at = 0;
};

// The result of one delivery attempt for one recipient.
struct AttemptResult {
    std::string recipient_id;
    std::string status;  // delivered, deferred, bounced, failed
    std::int64_t attempts = 0;
    std::int64_t next_attempt_at = 0;
    std::int64_t last_code = 0;
    std::string last_enhanced, reason;
    std::int64_t at = 0;
    std::string bounce_class;
    std::string suppress_reason;  // non-empty: suppress the address (all streams)
    std::string suppress_source;
    std::string suppress_email;  // the canonical form (mime::canonical_mailbox)
    bool escalate = false;       // undelivered past the escalation age (one event, once)
};

class WriterImpl;

// Operations allowed inside one write transaction. Only the writer thread
// holds a Writer; it never outlives the callback it is passed to.
class Writer {
public:
    explicit Writer(WriterImpl& impl) : impl_(impl) {}
    void insert_org(const OrgRow& row);
    void insert_api_key(const ApiKeyRow& row);
    // Revokes the key and every token issued to it; false when no such key.
    bool revoke_api_key(const std::string& org_id, const std::string& key_id, std::int64_t at);
    // Moves the expiry earlier only (rotation's grace period).
    bool expire_api_key_by(const std::string& org_id, const std::string& key_id, std::int64_t at);
    bool suspend_api_key(
        const std::string& org_id,
        const std::string& key_id,
        std::int64_t at,
        const std::string& reason);
    bool unsuspend_api_key(const std::string& org_id, const std::string& key_id);
    void set_org_track_phi(const std::string& org_id, bool allowed);
    void
    set_org_tracked_streams(const std::string& org_id, const std::vector<std::string>& streams);
    void set_org_rules(
        const std::string& org_id,
        const std::vector<std::string>& allow,
        const std::vector<std::string>& deny);
    void insert_token(const TokenRow& row);
    bool revoke_token(const std::string& org_id, const std::string& token_id, std::int64_t at);
    // False when the nonce was already used by this key.
    bool insert_nonce(const NonceRow& row);
    void purge_nonces(std::int64_t now);
    void add_key_volume(const std::string& key_id, std::int64_t hour, std::int64_t recipients);
    void insert_key_domains(
        const std::string& key_id, const std::vector<std::string>& domains, std::int64_t at);
    void count_refusal(
        const std::string& org_id,
        const std::string& key_id,
        std::int64_t day,
        const std::string& reason,
        std::int64_t count);
    // An empty id gets a fresh "evt_…".
    void insert_event(const EventRow& row);
    // The event of a recipient's new state, ids and address from its row;
    // suppresses the address when `r.suppress_reason` says so.
    void record_outcome_event(
        const std::string& recipient_id, const std::string& type, const AttemptResult& r);
    // A later report about a recipient (a DSN or a complaint): sets its
    // status when `status` is not empty, and writes the event of `type`.
    void record_report(const std::string& status, const std::string& type, const AttemptResult& r);
    bool add_suppression(const SuppressionRow& row);
    bool remove_suppression(
        const std::string& org_id, const std::string& email, const std::string& stream);
    void insert_webhook(const WebhookRow& row);
    bool delete_webhook(const std::string& org_id, const std::string& id);
    void save_webhook_progress(const WebhookRow& row);
    bool set_webhook_enabled(
        const std::string& org_id, const std::string& id, bool enabled, const std::string& reason);
    std::int64_t last_event_seq();
    void insert_domain(const DomainRow& row);
    void insert_template(const TemplateRow& row);
    void insert_message(const MessageRow& row, const std::vector<RecipientRow>& recipients);
    // Marks recipients `sending` if they are still queued or deferred;
    // returns the ids it marked (a claim made from a read).
    std::vector<std::string> mark_claimed(const std::vector<std::string>& ids, std::int64_t at);
    void record_attempt(const AttemptResult& result);
    std::vector<std::string> requeue_sending();  // message ids
    // False when the key is already taken (the caller then reads it back).
    bool insert_idempotency(
        const std::string& org_id,
        const std::string& key,
        const IdempotencyRow& row,
        std::int64_t at);
    AuditRow last_audit();  // seq 0 and empty hash when the log is empty
    void insert_audit(const AuditRow& row);
    std::optional<std::int64_t>
    latest_template_version(const std::string& org_id, const std::string& id);

private:
    WriterImpl& impl_;
};

using WriteFn = std::function<Result<void>(Writer&)>;
using DoneFn = std::function<void(Result<void>)>;

struct Options {
    std::filesystem::path data_dir;
    std::size_t max_batch = 512;
};

class Store {
public:
    static Result<std::unique_ptr<Store>> open(const Options& options);
    ~Store();
    Store(const Store&) = delete;

    // Queues a write; `done` runs on the writer thread after the batch that
    // holds it is durable (or failed). A failing `fn` rolls back only itself.
    void submit(WriteFn fn, DoneFn done);
    // The same, waiting for durability.
    Result<void> write(WriteFn fn);

    // Reads: safe from any thread; each thread uses its own connection.
    std::optional<OrgRow> find_org(const std::string& id);
    std::vector<OrgRow> list_orgs();
    std::optional<ApiKeyRow> find_api_key_by_prefix(const std::string& prefix);
    std::optional<ApiKeyRow> find_api_key(const std::string& org_id, const std::string& id);
    std::vector<ApiKeyRow> list_api_keys(const std::string& org_id);
    std::optional<TokenRow> find_token_by_prefix(const std::string& prefix);
    // The token and, in the same read, the key it was issued to.
    std::optional<std::pair<TokenRow, std::optional<ApiKeyRow>>>
    find_token_with_key(const std::string& prefix);
    std::vector<TokenRow> list_tokens(const std::string& org_id, std::int64_t now);
    std::vector<NonceRow> live_nonces(std::int64_t now);
    std::vector<KeyVolumeRow> key_volume_since(std::int64_t hour);
    // Every (key, domain) pair seen, for the abnormal-sending detector.
    std::vector<std::pair<std::string, std::string>> key_domains();
    std::vector<RefusalCount> refusals(const std::string& org_id, std::int64_t since_day);
    // Events of one organisation after `after_seq`, oldest first; an empty
    // `type` matches all.
    std::vector<EventRow> events(
        const std::string& org_id,
        std::int64_t after_seq,
        const std::string& type,
        const std::string& message_id,
        std::size_t limit);
    std::vector<EventRow> events(
        const std::string& org_id,
        std::int64_t after_seq,
        const EventFilter& filter,
        std::size_t limit);
    std::vector<EventRow>
    events_after(std::int64_t after_seq, const std::string& org_id, std::size_t limit);
    // One organisation's suppressions ordered by address and stream, after
    // (`after_email`, `after_stream`).
    std::vector<SuppressionRow> suppressions(
        const std::string& org_id,
        const std::string& email,
        const std::string& after_email,
        const std::string& after_stream,
        std::size_t limit);
    // Which of `emails` are suppressed for `stream` (lower-case).
    std::vector<std::string> suppressed_among(
        const std::string& org_id,
        const std::string& stream,
        const std::vector<std::string>& emails);
    std::vector<WebhookRow> webhooks(const std::string& org_id);  // "" for all
    std::optional<WebhookRow> find_webhook(const std::string& org_id, const std::string& id);
    std::optional<RecipientRow> find_recipient(const std::string& id);
    // The recipient of `message_id` with this address (any case).
    std::optional<RecipientRow>
    find_recipient_by_email(const std::string& message_id, const std::string& email);
    std::optional<DomainRow> find_domain(const std::string& org_id, const std::string& domain);
    std::optional<TemplateRow> find_template(
        const std::string& org_id, const std::string& id, std::optional<std::int64_t> version);
    std::optional<MessageRow> find_message(const std::string& org_id, const std::string& id);
    std::optional<MessageRow> load_message(const std::string& id);  // delivery: any org
    std::vector<RecipientRow> recipients_of(const std::string& message_id);
    std::optional<IdempotencyRow>
    find_idempotency(const std::string& org_id, const std::string& key);
    // Due recipients, oldest first, leaving out those of `skip_domains`.
    std::vector<DueRecipient> due_recipients(
        std::int64_t now, std::size_t limit, const std::vector<std::string>& skip_domains = {});
    std::vector<AuditRow> audit_range(std::int64_t after_seq, std::size_t limit);
    // One organisation's records ("" for all).
    std::vector<AuditRow>
    audit_of_org(const std::string& org_id, std::int64_t after_seq, std::size_t limit);
    std::int64_t count_recipients_with_status(const std::string& status);

    // Startup recovery: recipients left `sending` by a crashed process go back
    // to the queue (single node: no other process can hold them). Returns
    // the ids of their messages.
    std::vector<std::string> requeue_interrupted();

    const std::filesystem::path& path() const { return path_; }

private:
    explicit Store(std::filesystem::path path, std::size_t max_batch);
    void run_writer();
    class Readers;

    std::filesystem::path path_;
    std::size_t max_batch_;
    std::unique_ptr<WriterImpl> writer_;
    std::unique_ptr<Readers> readers_;

    struct Pending {
        WriteFn fn;
        DoneFn done;
    };
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Pending> queue_;
    bool stopping_ = false;
    std::thread thread_;
};

std::int64_t unix_now();

}  // namespace carepost::store
