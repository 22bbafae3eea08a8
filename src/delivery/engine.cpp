#include <atomic>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include "audit/audit.hpp"
#include "bounce/bounce.hpp"
#include "common/log.hpp"
#include "delivery/delivery.hpp"
#include "dkim/dkim.hpp"
#include "dns/dns.hpp"
#include "mime/mime.hpp"
#include "smtp/smtp.hpp"

namespace carepost::delivery {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

constexpr std::size_t max_recipients_per_transaction = 100;
constexpr auto signer_recheck_interval = std::chrono::seconds(5);

// One accepted message as delivery needs it: opened and DKIM-signed once,
// however many destination domains share it.
struct MessageWork {
    std::string id, org_id;
    std::once_flag once;
    Result<std::string> wire_data = Error::internal("not_prepared", "not prepared");
    std::string mail_from;
    bool needs_smtputf8 = false;
    std::size_t size = 0;  // of the signed message, before dot-stuffing
};

struct Job {
    std::shared_ptr<MessageWork> message;
    std::string domain;
    std::vector<store::DueRecipient> recipients;
};

// Attempt results on their way to the store, with what the audit needs.
struct Outcome {
    std::string org_id, message_id;
    std::vector<store::AttemptResult> rows;
    std::vector<std::string> emails;
};

struct DomainQueue {
    std::deque<Job> jobs;
    std::size_t sessions = 0;
};

// What one recipient's attempt came to, before it becomes a store row.
struct Verdict {
    int code = 0;
    std::string enhanced;
    std::string reason;
    bool is_permanent = false;
    bool is_delivered = false;
    std::string bounce_class;  // for a 5xx: hard, soft or block (C09)
};

Verdict verdict_from_reply(const smtp::Reply& reply)
{
    Verdict v{reply.code, reply.enhanced, "", reply.is_permanent(), reply.code / 100 == 2};
    if (v.is_delivered) {
        return v;
    }
    // The reply's text is read for its class and reason, never stored: it
    // may quote the address.
    auto c = bounce::classify(reply.code, reply.enhanced, reply.text);
    v.reason = c.reason.empty() ? (v.is_permanent ? "rejected" : "temporary_failure") : c.reason;
    if (v.is_permanent) {
        v.bounce_class = c.bounce_class;
    }
    return v;
}

Verdict verdict_from_error(const Error& e)
{
    return {0, e.enhanced, e.code, e.error_class == ErrorClass::permanent, false, ""};
}

}  // namespace

Result<void> check_options(const Options& o)
{
    if (o.tls_policy != "verified" && o.tls_policy != "encrypted") {
        return Error::invalid(
            "invalid_config", "delivery.tls_policy", "supported: verified, encrypted");
    }
    if (o.backoff.empty()) {
        return Error::invalid("invalid_config", "delivery.backoff", "needs at least one step");
    }
    for (const auto& [domain, route] : o.routes) {
        if (!dns::parse_route(route)) {
            return Error::invalid(
                "invalid_config", "routes." + domain, "expected \"host:port\" or \"[v6]:port\"");
        }
    }
    return {};
}

class Engine::Impl {
public:
    Impl(store::Store& s, crypto::KeyRing& k, Options o)
        : store(s), keys(k), options(std::move(o)), resolver(options.routes),
          strand(asio::make_strand(io)), wake_timer(strand)
    {}

    store::Store& store;
    crypto::KeyRing& keys;
    Options options;
    dns::Resolver resolver;
    asio::io_context io;
    asio::strand<asio::io_context::executor_type> strand;
    asio::steady_timer wake_timer;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
    std::vector<std::thread> threads;
    std::shared_ptr<asio::ssl::context> tls_context;
    std::atomic<bool> wake_pending{false};
    std::atomic<bool> stopping{false};

    std::mutex mutex;  // guards in_flight, per_domain, domains and signers
    std::map<std::string, std::string> in_flight;   // recipient id -> domain
    std::map<std::string, std::size_t> per_domain;  // recipients in flight per domain

    // Both with `mutex` held.
    bool take(const store::DueRecipient& r)
    {
        if (!in_flight.emplace(r.id, r.domain).second) {
            return false;
        }
        ++per_domain[r.domain];
        return true;
    }
    void release(const std::string& id)
    {
        auto it = in_flight.find(id);
        if (it == in_flight.end()) {
            return;
        }
        if (--per_domain[it->second] == 0) {
            per_domain.erase(it->second);
        }
        in_flight.erase(it);
    }
    std::map<std::string, DomainQueue> domains;
    struct CachedSigner {
        std::shared_ptr<const dkim::Signer> signer;
        std::string selector;
        std::int64_t created_at = 0;
        std::chrono::steady_clock::time_point recheck_at;
    };
    std::map<std::string, CachedSigner> signers;

    asio::awaitable<void> dispatch();
    void wake();
    std::size_t claim();
    asio::awaitable<void> session(std::string domain);
    std::optional<Job> pop(const std::string& domain, bool retire_if_empty);
    void prepare(MessageWork& work);
    Result<std::shared_ptr<const dkim::Signer>>
    signer_for(const std::string& org_id, const std::string& domain);
    asio::awaitable<Result<std::unique_ptr<smtp::Client>>>
    connect(const std::vector<dns::Target>& targets);
    void record(const Job& job, const std::vector<Verdict>& verdicts, const std::string& tls);
    void commit_outcome(std::shared_ptr<const Outcome> outcome);
    void record_all(const Job& job, const Verdict& verdict);
    void fail_domain(const std::string& domain, const Job& current, const Verdict& verdict);
    // Returns a job to the front of its queue and retires the calling
    // session, when another session to the domain is still up.
    bool hand_back(const std::string& domain, Job&& job);
};

Engine::Engine(store::Store& store, crypto::KeyRing& keys, Options options)
    : impl_(std::make_unique<Impl>(store, keys, std::move(options)))
{}

Engine::~Engine()
{
    stop();
}

Result<void> Engine::start()
{
    if (auto c = check_options(impl_->options); !c) {
        return c.error();
    }
    smtp::TlsSettings tls{impl_->options.ca_file, true, impl_->options.tls_policy == "verified"};
    auto ctx = smtp::make_tls_context(tls);
    if (!ctx) {
        return ctx.error();
    }
    impl_->tls_context = *ctx;
    // Their outcome is unknown: the peer may have taken a message just before
    // the crash. They are sent again (at least once), and named here so that
    // an operator can tell a possible duplicate from a fault.
    for (const auto& id : impl_->store.requeue_interrupted()) {
        log::warn("delivery", "requeued_after_interruption", {{"message_id", id}});
    }
    impl_->work.emplace(impl_->io.get_executor());
    asio::co_spawn(impl_->strand, impl_->dispatch(), asio::detached);
    for (std::size_t i = 0; i < std::max<std::size_t>(1, impl_->options.threads); ++i) {
        impl_->threads.emplace_back([this] { impl_->io.run(); });
    }
    log::info("delivery", "started", {{"threads", impl_->options.threads}});
    return {};
}

void Engine::stop()
{
    if (!impl_ || impl_->threads.empty()) {
        return;
    }
    // Graceful: no new transactions; queued jobs are dropped from memory
    // (their recipients are requeued at the next start); transactions under
    // way may finish and commit their outcome, for a bounded time.
    impl_->stopping = true;
    asio::post(impl_->strand, [impl = impl_.get()] { impl->wake_timer.cancel(); });
    {
        std::lock_guard lock(impl_->mutex);
        for (auto& [domain, q] : impl_->domains) {
            for (const auto& job : q.jobs) {
                for (const auto& r : job.recipients) {
                    impl_->release(r.id);
                }
            }
            q.jobs.clear();
        }
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < deadline) {
        {
            std::lock_guard lock(impl_->mutex);
            if (impl_->in_flight.empty()) {
                break;
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    impl_->work.reset();
    impl_->io.stop();
    for (auto& t : impl_->threads) {
        t.join();
    }
    impl_->threads.clear();
}

void Engine::wake()
{
    impl_->wake();
}

void Engine::Impl::wake()
{
    // Coalesce: one pending wake-up is enough however many events happened.
    if (wake_pending.exchange(true)) {
        return;
    }
    asio::post(strand, [this] { wake_timer.cancel(); });
}

asio::awaitable<void> Engine::Impl::dispatch()
{
    while (!stopping) {
        wake_pending = false;
        std::size_t claimed = 0;
        try {
            claimed = claim();
        } catch (const std::exception& e) {
            log::error("delivery", "claim_failed", {{"error", log::peer_text(e.what())}});
        }
        if (claimed > 0) {
            continue;  // a full claim: more may be due
        }
        // Nothing new. Wake-ups that came meanwhile (accepts, finished
        // work) are served after a short pause, so a burst of them costs
        // one search, not one each.
        wake_timer.expires_after(wake_pending ? 50ms : 1s);
        co_await wake_timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
}

std::size_t Engine::Impl::claim()
{
    {
        std::lock_guard lock(mutex);
        if (in_flight.size() >= options.max_in_flight) {
            return 0;
        }
    }
    // A destination with its fill of work in flight is left out of the
    // query, so one slow or stuck domain cannot take every claim and starve
    // the others.
    std::vector<std::string> full;
    {
        std::lock_guard lock(mutex);
        for (const auto& [domain, count] : per_domain) {
            if (count >= options.max_in_flight_per_domain) {
                full.push_back(domain);
            }
        }
    }
    // The search runs on a reader, off the writer thread: with a large
    // backlog at a left-out domain it walks many rows. Only the rows taken
    // are then marked `sending`, and only if they are still due.
    auto due = store.due_recipients(store::unix_now(), 1000, full);
    std::vector<store::DueRecipient> wanted;
    {
        std::lock_guard lock(mutex);
        std::map<std::string, std::size_t> budget;
        for (auto& d : due) {
            auto& used = budget[d.domain];
            if (in_flight.count(d.id) == 0 &&
                per_domain[d.domain] + used < options.max_in_flight_per_domain) {
                ++used;
                wanted.push_back(std::move(d));
            }
        }
    }
    if (wanted.empty()) {
        return 0;
    }
    std::vector<std::string> ids;
    for (const auto& d : wanted) {
        ids.push_back(d.id);
    }
    std::vector<std::string> marked;
    auto claimed = store.write([&](store::Writer& w) -> Result<void> {
        marked = w.mark_claimed(ids, store::unix_now());
        return {};
    });
    if (!claimed) {
        return 0;
    }
    std::set<std::string> is_marked(marked.begin(), marked.end());
    std::vector<store::DueRecipient> fresh;
    {
        std::lock_guard lock(mutex);
        for (auto& d : wanted) {
            if (is_marked.count(d.id) && take(d)) {
                fresh.push_back(std::move(d));
            }
        }
    }
    if (fresh.empty()) {
        return 0;
    }

    // One job per (message, domain): one SMTP transaction with all of that
    // message's recipients at that domain.
    std::map<std::string, std::shared_ptr<MessageWork>> messages;
    std::map<std::pair<std::string, std::string>, std::vector<Job>> jobs;
    for (auto& d : fresh) {
        auto& work = messages[d.message_id];
        if (!work) {
            work = std::make_shared<MessageWork>();
            work->id = d.message_id;
            work->org_id = d.org_id;
        }
        // RFC 5321 §4.5.3.1.8: a server must take 100 recipients per
        // transaction; more go in further transactions.
        auto& chunks = jobs[{d.message_id, d.domain}];
        if (chunks.empty() || chunks.back().recipients.size() >= max_recipients_per_transaction) {
            chunks.push_back(Job{work, d.domain, {}});
        }
        chunks.back().recipients.push_back(std::move(d));
    }

    std::vector<std::string> spawn;
    {
        std::lock_guard lock(mutex);
        for (auto& [key, chunks] : jobs) {
            auto& q = domains[key.second];
            for (auto& job : chunks) {
                q.jobs.push_back(std::move(job));
                if (q.sessions < options.connections_per_domain && q.sessions < q.jobs.size()) {
                    ++q.sessions;
                    spawn.push_back(key.second);
                }
            }
        }
    }
    for (auto& domain : spawn) {
        asio::co_spawn(io, session(domain), [](std::exception_ptr e) {
            if (e) {
                try {
                    std::rethrow_exception(e);
                } catch (const std::exception& ex) {
                    log::error(
                        "delivery", "session_crashed", {{"error", log::peer_text(ex.what())}});
                }
            }
        });
    }
    return fresh.size();
}

std::optional<Job> Engine::Impl::pop(const std::string& domain, bool retire_if_empty)
{
    std::lock_guard lock(mutex);
    auto& q = domains[domain];
    if (!q.jobs.empty()) {
        Job job = std::move(q.jobs.front());
        q.jobs.pop_front();
        return job;
    }
    if (retire_if_empty) {
        --q.sessions;
    }
    return std::nullopt;
}

asio::awaitable<void> Engine::Impl::session(std::string domain)
{
    asio::steady_timer idle(co_await asio::this_coro::executor);
    std::unique_ptr<smtp::Client> client;
    std::size_t sent = 0;
    std::optional<std::vector<dns::Target>> targets;

    for (;;) {
        // Wait briefly for more work so the connection is reused.
        std::optional<Job> job = pop(domain, false);
        for (int i = 0; !job && i < 20 && !stopping; ++i) {
            idle.expires_after(25ms);
            co_await idle.async_wait(asio::as_tuple(asio::use_awaitable));
            job = pop(domain, false);
        }
        if (!job && !(job = pop(domain, true))) {
            break;  // retired: the session count is already lowered
        }
        if (stopping) {
            std::lock_guard lock(mutex);
            for (const auto& r : job->recipients) {
                release(r.id);
            }
            --domains[domain].sessions;
            break;
        }

        if (!targets) {
            // LIMIT(#2): resolution blocks this delivery thread; cheap for
            // static routes and cached answers, slow only on a cold MX look-up.
            auto resolved = resolver.resolve(domain);
            if (!resolved) {
                fail_domain(domain, *job, verdict_from_error(resolved.error()));
                break;
            }
            targets = std::move(*resolved);
        }
        if (!client || !client->is_usable() || sent >= options.messages_per_connection) {
            if (client) {
                co_await client->quit();
            }
            client.reset();
            sent = 0;
            auto connected = co_await connect(*targets);
            if (!connected) {
                // Peers often cap connections per client ("421 too many
                // connections"): while another session to this domain is up,
                // hand the job back to it instead of deferring the queue.
                if (hand_back(domain, std::move(*job))) {
                    break;
                }
                fail_domain(domain, *job, verdict_from_error(connected.error()));
                break;
            }
            client = std::move(*connected);
        }

        std::call_once(job->message->once, [&] { prepare(*job->message); });
        if (!job->message->wire_data) {
            record_all(*job, verdict_from_error(job->message->wire_data.error()));
            continue;
        }
        // With VERP each recipient has its own reverse-path, so its own
        // transaction on the same connection; otherwise one for all.
        std::vector<std::vector<std::size_t>> groups;
        if (options.return_path) {
            for (std::size_t i = 0; i < job->recipients.size(); ++i) {
                groups.push_back({i});
            }
        } else {
            groups.emplace_back();
            for (std::size_t i = 0; i < job->recipients.size(); ++i) {
                groups.back().push_back(i);
            }
        }
        std::vector<Verdict> verdicts(job->recipients.size());
        bool is_broken = false;
        for (const auto& group : groups) {
            smtp::Envelope envelope;
            envelope.mail_from = options.return_path
                                     ? options.return_path(job->recipients[group[0]].id)
                                     : job->message->mail_from;
            envelope.needs_smtputf8 = job->message->needs_smtputf8;
            envelope.size = job->message->size;
            envelope.is_wire_data = true;
            for (auto i : group) {
                envelope.rcpt_to.push_back(job->recipients[i].email);
            }
            // (Not a conditional expression: GCC 12 miscompiles a co_await
            // inside one.)
            Result<smtp::Outcome> outcome =
                Error::transient("connection_lost", "the connection was lost");
            if (!is_broken) {
                outcome = co_await client->send(envelope, *job->message->wire_data);
            }
            if (!outcome) {
                is_broken = true;
                for (auto i : group) {
                    verdicts[i] = verdict_from_error(outcome.error());
                }
                continue;
            }
            for (std::size_t k = 0; k < group.size(); ++k) {
                verdicts[group[k]] = verdict_from_reply(outcome->result_for(k));
            }
        }
        ++sent;
        record(*job, verdicts, client->tls_version());
        if (is_broken) {
            client.reset();
        }
    }
    if (client) {
        co_await client->quit();
    }
}

asio::awaitable<Result<std::unique_ptr<smtp::Client>>>
Engine::Impl::connect(const std::vector<dns::Target>& targets)
{
    Result<std::unique_ptr<smtp::Client>> last =
        Error::transient("connect_failed", "no destination host");
    // Try each host in preference order; a certificate failure at one MX is
    // no reason to give up on the next (RFC 5321 §5.1).
    for (const auto& t : targets) {
        smtp::ConnectOptions o;
        o.host = t.host;
        o.port = t.port;
        o.tls_name = t.host;
        o.helo_name = options.helo_name;
        o.tls = {options.ca_file, true, options.tls_policy == "verified"};
        o.tls_context = tls_context;
        o.timeout = options.smtp_timeout;
        last = co_await smtp::Client::connect(co_await asio::this_coro::executor, o);
        if (last) {
            co_return last;
        }
        log::warn(
            "delivery",
            "connect_failed",
            {{"port", t.port}, {"error", last.error().code}, {"enhanced", last.error().enhanced}});
    }
    co_return last;
}

void Engine::Impl::prepare(MessageWork& work)
{
    auto row = store.load_message(work.id);
    if (!row) {
        work.wire_data = Error::internal("message_missing", "message row is missing");
        return;
    }
    work.mail_from = row->mail_from;
    work.needs_smtputf8 = row->needs_smtputf8;
    auto body = keys.open_message(row->org_id, row->id, row->wrapped_key, row->body);
    if (!body) {
        // Unreadable: keep the row (quarantine) and defer; a key problem an
        // operator can repair must not turn into bounces.
        log::error("delivery", "message_unreadable", {{"message_id", work.id}});
        work.wire_data = Error::transient("message_unreadable", "sealed body does not open");
        return;
    }
    auto signer = signer_for(row->org_id, row->sign_domain);
    if (!signer) {
        work.wire_data = signer.error();
        return;
    }
    auto signature = (*signer)->sign(*body, store::unix_now());
    if (!signature) {
        work.wire_data = signature.error();
        return;
    }
    // Dot-stuffed once here: every destination's transaction sends the same
    // bytes, so one copy serves them all ("CRLF and dot-stuffing done once").
    std::string signed_message = *signature + *body;
    work.size = signed_message.size();
    work.wire_data = smtp::to_wire_data(signed_message);
}

Result<std::shared_ptr<const dkim::Signer>>
Engine::Impl::signer_for(const std::string& org_id, const std::string& domain)
{
    // Keys are cached, but looked at again every few seconds: `domain add`
    // with a new selector rotates the key under a running server.
    std::string key = org_id + "|" + domain;
    auto now = std::chrono::steady_clock::now();
    {
        std::lock_guard lock(mutex);
        if (auto it = signers.find(key); it != signers.end() && now < it->second.recheck_at) {
            return it->second.signer;
        }
    }
    auto row = store.find_domain(org_id, domain);
    if (!row) {
        return Error::permanent("dkim_key_missing", "no DKIM key for the sending domain");
    }
    {
        std::lock_guard lock(mutex);
        if (auto it = signers.find(key); it != signers.end() &&
                                         it->second.created_at == row->created_at &&
                                         it->second.selector == row->selector) {
            it->second.recheck_at = now + signer_recheck_interval;
            return it->second.signer;
        }
    }
    auto pem = keys.open_for_org(org_id, "dkim:" + domain, row->wrapped_private);
    if (!pem) {
        return Error::internal("dkim_key_unreadable", "the DKIM key does not open");
    }
    auto signer = dkim::Signer::create(domain, row->selector, *pem);
    if (!signer) {
        return signer.error();
    }
    auto shared = std::make_shared<const dkim::Signer>(std::move(*signer));
    std::lock_guard lock(mutex);
    signers[key] = {shared, row->selector, row->created_at, now + signer_recheck_interval};
    return shared;
}

void Engine::Impl::record(
    const Job& job, const std::vector<Verdict>& verdicts, const std::string& tls)
{
    std::int64_t now = store::unix_now();
    std::vector<store::AttemptResult> rows;
    for (std::size_t i = 0; i < job.recipients.size(); ++i) {
        const auto& r = job.recipients[i];
        const auto& v = verdicts[i];
        store::AttemptResult a;
        a.recipient_id = r.id;
        a.attempts = r.attempts + 1;
        a.last_code = v.code;
        a.last_enhanced = v.enhanced;
        a.reason = v.reason;
        a.at = now;
        if (v.is_delivered) {
            a.status = "delivered";
        } else if (v.is_permanent) {
            a.status = "bounced";
            a.bounce_class = v.bounce_class;
            // Only a recipient failure suppresses the address; a block of
            // our own IP or a full mailbox must not silence it (C09).
            if (v.bounce_class == "hard") {
                a.suppress_reason = "hard_bounce";
                a.suppress_source = "smtp";
                a.suppress_email = mime::canonical_mailbox(r.email);
            }
        } else if (now - r.created_at >= options.max_age.count()) {
            a.status = "failed";
            a.reason = "expired";
        } else {
            a.status = "deferred";
            auto step = std::min<std::size_t>(r.attempts, options.backoff.size() - 1);
            a.next_attempt_at = now + options.backoff[step].count();
            a.escalate = now - r.created_at >= options.escalate_after.count();
        }
        log::info(
            "delivery",
            "recipient_" + a.status,
            {{"message_id", r.message_id},
             {"recipient_id", r.id},
             {"code", a.last_code},
             {"enhanced", a.last_enhanced},
             {"reason", a.reason},
             {"attempts", a.attempts},
             {"tls", tls}});
        rows.push_back(std::move(a));
    }

    auto outcome = std::make_shared<Outcome>();
    outcome->org_id = job.message->org_id;
    outcome->message_id = job.message->id;
    outcome->rows = std::move(rows);
    for (const auto& r : job.recipients) {
        outcome->emails.push_back(r.email);
    }
    commit_outcome(std::move(outcome));
}

void Engine::Impl::commit_outcome(std::shared_ptr<const Outcome> outcome)
{
    auto write = [outcome](store::Writer& w) -> Result<void> {
        for (std::size_t i = 0; i < outcome->rows.size(); ++i) {
            const auto& a = outcome->rows[i];
            w.record_attempt(a);
            std::string text =
                a.last_code ? std::to_string(a.last_code) + " " + a.last_enhanced : a.reason;
            audit::append(
                w,
                {"system",
                 "message." + a.status,
                 outcome->org_id,
                 outcome->message_id,
                 outcome->emails[i],
                 text},
                a.at);
        }
        return {};
    };
    store.submit(std::move(write), [this, outcome](Result<void> r) {
        // The outcome must reach the store (a locked or full database is
        // usually passing): forgetting it would leave the recipients
        // `sending` and send them again at the next start.
        if (!r && !stopping) {
            log::error("delivery", "record_failed", {{"error", r.error().code}});
            auto timer = std::make_shared<asio::steady_timer>(io, 1s);
            timer->async_wait([this, timer, outcome](boost::system::error_code ec) {
                if (!ec) {
                    commit_outcome(outcome);
                }
            });
            return;
        }
        // Only now may these recipients be claimed again: before the commit
        // the store still shows them `sending`.
        bool has_room = false;
        {
            std::lock_guard lock(mutex);
            for (const auto& a : outcome->rows) {
                release(a.recipient_id);
            }
            has_room = in_flight.size() < options.max_in_flight / 2;
        }
        // Finished work makes room: look for more now, not at the next poll.
        if (has_room) {
            wake();
        }
    });
}

void Engine::Impl::record_all(const Job& job, const Verdict& verdict)
{
    record(job, std::vector<Verdict>(job.recipients.size(), verdict), "");
}

bool Engine::Impl::hand_back(const std::string& domain, Job&& job)
{
    std::lock_guard lock(mutex);
    auto& q = domains[domain];
    if (q.sessions <= 1) {
        return false;
    }
    q.jobs.push_front(std::move(job));
    --q.sessions;
    return true;
}

void Engine::Impl::fail_domain(
    const std::string& domain, const Job& current, const Verdict& verdict)
{
    // The destination is unreachable for now: every job queued for it would
    // meet the same fate, so settle them all at once and retire the session.
    std::vector<Job> drained;
    {
        std::lock_guard lock(mutex);
        auto& q = domains[domain];
        drained.assign(
            std::make_move_iterator(q.jobs.begin()), std::make_move_iterator(q.jobs.end()));
        q.jobs.clear();
        --q.sessions;
    }
    record_all(current, verdict);
    for (const auto& job : drained) {
        record_all(job, verdict);
    }
}

}  // namespace carepost::delivery
