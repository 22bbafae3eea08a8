// The dispatcher: one polling thread hands due endpoints to workers, and a
// worker drains one endpoint's backlog in seq order over a kept-alive
// connection.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <curl/curl.h>

#include "common/log.hpp"
#include "events/events.hpp"
#include "events/poster.hpp"

namespace carepost::events {
namespace {

constexpr auto poll_interval = std::chrono::milliseconds(1000);
constexpr auto min_poll_gap = std::chrono::milliseconds(20);
constexpr std::size_t max_idle_posters = 1024;
// How long a worker sends before it re-reads its endpoint's settings.
constexpr auto drain_slice = std::chrono::seconds(2);

std::int64_t unix_now()
{
    using namespace std::chrono;
    return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

bool wants(const Endpoint& endpoint, const std::string& type)
{
    return endpoint.types.empty() ||
           std::find(endpoint.types.begin(), endpoint.types.end(), type) != endpoint.types.end();
}

// Header values are ours, but a control byte would split the header block.
std::string header_line(std::string_view name, std::string_view value)
{
    std::string line(name);
    line += ": ";
    for (char c : value) {
        if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) {
            line += c;
        }
    }
    return line;
}

}  // namespace

class Dispatcher::Impl {
public:
    Impl(Backend& backend, Options options) : backend_(backend), options_(std::move(options)) {}

    void start();
    void stop();
    void wake();
    Stats stats() const { return {delivered_.load(), failed_attempts_.load(), disabled_.load()}; }

private:
    void poll_loop();
    void queue_due(std::vector<Endpoint> endpoints);
    void work_loop();
    bool drain(Poster& poster, Endpoint& endpoint);
    bool refresh(Endpoint& endpoint);
    bool send(Poster& poster, Endpoint& endpoint, const Event& event);
    void note_failure(Endpoint& endpoint, const Event& event, const PostOutcome& outcome);
    void disable_if_given_up(const Endpoint& endpoint);
    void save(const Endpoint& endpoint);
    std::int64_t backoff_seconds(std::int64_t attempts);

    Backend& backend_;
    const Options options_;
    std::atomic<bool> is_stopping_{false};
    std::atomic<std::uint64_t> delivered_{0}, failed_attempts_{0}, disabled_{0};

    std::mutex mutex_;
    std::condition_variable poll_cv_, work_cv_;
    bool is_started_ = false;
    std::atomic<bool> is_woken_{false};
    std::deque<Endpoint> queue_;
    std::set<std::string> busy_;     // endpoints queued or held by a worker
    std::set<std::string> recheck_;  // busy when a poll found them due again
    std::map<std::string, std::unique_ptr<Poster>> idle_posters_;
    std::minstd_rand jitter_{std::random_device{}()};
    std::thread poller_;
    std::vector<std::thread> workers_;
};

void Dispatcher::Impl::start()
{
    std::lock_guard lock(mutex_);
    if (is_started_) {
        return;
    }
    is_started_ = true;
    poller_ = std::thread([this] { poll_loop(); });
    for (std::size_t i = 0; i < std::max<std::size_t>(1, options_.worker_threads); ++i) {
        workers_.emplace_back([this] { work_loop(); });
    }
    log::info("events", "webhook_dispatcher_started", {{"workers", workers_.size()}});
}

void Dispatcher::Impl::stop()
{
    {
        std::lock_guard lock(mutex_);
        if (!is_started_ || is_stopping_.load()) {
            return;
        }
        is_stopping_ = true;
    }
    poll_cv_.notify_all();
    work_cv_.notify_all();
    poller_.join();
    for (auto& worker : workers_) {
        worker.join();
    }
    idle_posters_.clear();
    log::info("events", "webhook_dispatcher_stopped");
}

void Dispatcher::Impl::wake()
{
    // Only a flag: wakes come with every accepted message, and the poller
    // looks at it every min_poll_gap (no system call per message).
    is_woken_.store(true, std::memory_order_relaxed);
}

void Dispatcher::Impl::poll_loop()
{
    auto last_poll = std::chrono::steady_clock::time_point{};
    while (!is_stopping_.load()) {
        // Poll when woken (new events) or once a second (retries due).
        auto now = std::chrono::steady_clock::now();
        if (is_woken_.exchange(false) || now - last_poll >= poll_interval) {
            last_poll = now;
            std::vector<Endpoint> endpoints;
            try {
                endpoints = backend_.enabled_endpoints();
            } catch (...) {
                log::error("events", "webhook_endpoints_unreadable");
            }
            queue_due(std::move(endpoints));
        }
        std::unique_lock lock(mutex_);
        poll_cv_.wait_for(lock, min_poll_gap, [this] { return is_stopping_.load(); });
    }
}

// Queues each due endpoint not already held, and drops the kept
// connections of endpoints no longer enabled.
void Dispatcher::Impl::queue_due(std::vector<Endpoint> endpoints)
{
    std::int64_t now = unix_now();
    std::set<std::string> enabled;
    std::lock_guard lock(mutex_);
    for (Endpoint& endpoint : endpoints) {
        enabled.insert(endpoint.id);
        if (endpoint.next_attempt_at > now) {
            continue;
        }
        if (busy_.contains(endpoint.id)) {
            recheck_.insert(endpoint.id);
            continue;
        }
        busy_.insert(endpoint.id);
        queue_.push_back(std::move(endpoint));
    }
    std::erase_if(idle_posters_, [&](const auto& kept) { return !enabled.contains(kept.first); });
    work_cv_.notify_all();
}

void Dispatcher::Impl::work_loop()
{
    for (;;) {
        Endpoint endpoint;
        std::unique_ptr<Poster> poster;
        {
            std::unique_lock lock(mutex_);
            work_cv_.wait(lock, [this] { return is_stopping_ || !queue_.empty(); });
            if (is_stopping_) {
                return;
            }
            endpoint = std::move(queue_.front());
            queue_.pop_front();
            if (auto kept = idle_posters_.extract(endpoint.id)) {
                poster = std::move(kept.mapped());
            }
        }
        if (!poster) {
            poster = std::make_unique<Poster>(options_, is_stopping_);
        }

        // A poll that found this endpoint due while we held it may have
        // been woken for events we had already looked past: look again.
        // A long backlog is sent in slices, re-reading the endpoint between
        // them, so that a disabled endpoint or a new secret takes effect.
        for (;;) {
            bool is_sliced = drain(*poster, endpoint);
            bool is_enabled = !is_sliced || refresh(endpoint);
            std::lock_guard lock(mutex_);
            bool is_rechecked = recheck_.erase(endpoint.id) > 0;
            bool again = is_enabled && (is_sliced || is_rechecked) && !is_stopping_ &&
                         endpoint.next_attempt_at <= unix_now();
            if (!again) {
                busy_.erase(endpoint.id);
                if (idle_posters_.size() < max_idle_posters) {
                    idle_posters_[endpoint.id] = std::move(poster);
                }
                break;
            }
        }
    }
}

// Sends the endpoint's events after its cursor until none are left, one
// fails, the dispatcher stops or the slice is over (then returns true).
// Progress is saved after each batch.
bool Dispatcher::Impl::drain(Poster& poster, Endpoint& endpoint)
{
    bool is_dirty = false;
    auto slice_end = std::chrono::steady_clock::now() + drain_slice;
    while (!is_stopping_.load() && endpoint.next_attempt_at <= unix_now()) {
        if (std::chrono::steady_clock::now() >= slice_end) {
            return true;
        }
        std::vector<Event> batch;
        try {
            batch =
                backend_.events_after(endpoint.org_id, endpoint.cursor_seq, options_.batch_events);
        } catch (...) {
            log::error("events", "webhook_events_unreadable", {{"org_id", endpoint.org_id}});
            break;
        }

        std::int64_t cursor_before = endpoint.cursor_seq;
        bool has_failed = false;
        for (const Event& event : batch) {
            if (is_stopping_.load() || event.seq <= endpoint.cursor_seq) {
                continue;
            }
            if (wants(endpoint, event.type) && !send(poster, endpoint, event)) {
                has_failed = !is_stopping_.load();
                break;
            }
            endpoint.cursor_seq = event.seq;
            endpoint.attempts = 0;
            endpoint.failing_since = 0;
            endpoint.next_attempt_at = 0;
            is_dirty = true;
        }

        // At least once: the cursor saved never passes an event that was
        // not answered with a 2xx.
        if (is_dirty || has_failed) {
            save(endpoint);
            is_dirty = false;
        }
        if (has_failed) {
            disable_if_given_up(endpoint);
            break;
        }
        if (endpoint.cursor_seq == cursor_before) {
            break;
        }
    }
    if (is_dirty) {
        save(endpoint);
    }
    return false;
}

// Takes the stored URL, secret and types of an endpoint being drained;
// false when it is no longer enabled. Our cursor is the one saved last.
bool Dispatcher::Impl::refresh(Endpoint& endpoint)
{
    std::vector<Endpoint> enabled;
    try {
        enabled = backend_.enabled_endpoints();
    } catch (...) {
        log::error("events", "webhook_endpoints_unreadable");
        return false;
    }
    for (Endpoint& stored : enabled) {
        if (stored.id == endpoint.id) {
            endpoint.url = std::move(stored.url);
            endpoint.secret = std::move(stored.secret);
            endpoint.types = std::move(stored.types);
            return true;
        }
    }
    return false;
}

bool Dispatcher::Impl::send(Poster& poster, Endpoint& endpoint, const Event& event)
{
    std::string body = payload_json(event);
    std::int64_t timestamp = unix_now();
    std::vector<std::string> headers{
        header_line("Carepost-Event-Id", event.id),
        header_line("Carepost-Timestamp", std::to_string(timestamp)),
        header_line("Carepost-Signature", signature_header(endpoint.secret, timestamp, body))};

    PostOutcome outcome = poster.post(endpoint.url, headers, body);
    if (outcome.is_delivered) {
        delivered_.fetch_add(1);
        return true;
    }
    if (outcome.reason != "stopped") {
        note_failure(endpoint, event, outcome);
    }
    return false;
}

void Dispatcher::Impl::note_failure(
    Endpoint& endpoint, const Event& event, const PostOutcome& outcome)
{
    std::int64_t now = unix_now();
    failed_attempts_.fetch_add(1);
    endpoint.attempts += 1;
    if (endpoint.failing_since == 0) {
        endpoint.failing_since = now;
    }
    endpoint.next_attempt_at = now + backoff_seconds(endpoint.attempts);
    log::warn(
        "events",
        "webhook_attempt_failed",
        {{"endpoint_id", endpoint.id},
         {"org_id", endpoint.org_id},
         {"event_id", event.id},
         {"reason", outcome.reason},
         {"status", outcome.status},
         {"curl_code", outcome.curl_code},
         {"attempts", endpoint.attempts}});
}

void Dispatcher::Impl::disable_if_given_up(const Endpoint& endpoint)
{
    if (unix_now() - endpoint.failing_since <= options_.give_up_after_seconds) {
        return;
    }
    try {
        backend_.disable(
            endpoint,
            "no successful delivery for more than " +
                std::to_string(options_.give_up_after_seconds) + " seconds");
        disabled_.fetch_add(1);
        log::warn(
            "events",
            "webhook_endpoint_disabled",
            {{"endpoint_id", endpoint.id},
             {"org_id", endpoint.org_id},
             {"attempts", endpoint.attempts}});
    } catch (...) {
        log::error("events", "webhook_disable_failed", {{"endpoint_id", endpoint.id}});
    }
}

void Dispatcher::Impl::save(const Endpoint& endpoint)
{
    try {
        backend_.save_progress(endpoint);
    } catch (...) {
        // The stored cursor stays behind: those events are sent again.
        log::error("events", "webhook_progress_unsaved", {{"endpoint_id", endpoint.id}});
    }
}

// 1, 2, 4, ... seconds after each failed attempt, capped, plus up to 10%
// jitter so that endpoints failing together do not retry together.
std::int64_t Dispatcher::Impl::backoff_seconds(std::int64_t attempts)
{
    std::int64_t cap = std::max<std::int64_t>(1, options_.max_backoff_seconds);
    std::int64_t delay = attempts >= 31 ? cap : std::min<std::int64_t>(cap, 1LL << (attempts - 1));
    std::lock_guard lock(mutex_);
    return delay + std::uniform_int_distribution<std::int64_t>(0, delay / 10)(jitter_);
}

Dispatcher::Dispatcher(Backend& backend, Options options)
{
    static std::once_flag curl_ready;
    std::call_once(curl_ready, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    impl_ = std::make_unique<Impl>(backend, std::move(options));
}

Dispatcher::~Dispatcher()
{
    impl_->stop();
}

void Dispatcher::start()
{
    impl_->start();
}

void Dispatcher::stop()
{
    impl_->stop();
}

void Dispatcher::wake()
{
    impl_->wake();
}

Dispatcher::Stats Dispatcher::stats() const
{
    return impl_->stats();
}

}  // namespace carepost::events
