// events: signed webhook delivery of each organisation's event stream.
//
// Owns: the webhook payload (a fixed allow-list of event fields), its
//   HMAC-SHA256 signature header, endpoint URL checks, and the dispatcher
//   that walks every enabled endpoint's cursor through the event stream and
//   POSTs each wanted event, in seq order, with retries and backoff. The
//   event log itself and the endpoint rows live in the store, reached only
//   through the Backend interface below.
// Trust boundary: endpoint URLs come from organisation administrators and
//   are hostile until checked: they may name internal services (SSRF), and
//   their DNS answers may change after registration. Every connection,
//   including those after a redirect, is checked against the address rules
//   when its socket is opened. Receiver responses are untrusted: only the
//   status code is read; bodies are discarded unread.
// Follows: RFC 9110 (HTTP semantics: 2xx success, 3xx redirects), RFC 2104
//   and RFC 4231 (HMAC-SHA256), RFC 6890 / RFC 4291 / RFC 6598 (special
//   purpose address blocks that are refused).
// Logs: endpoint id, organisation id, event id, HTTP status, attempts,
//   curl error code; never URLs (they may carry tokens), secrets, payloads
//   or recipient addresses.
// Limits:
//   LIMIT(#4): each event is one POST (no batching of several events per
//              request); simple for receivers and ordering; the fix when a
//              benchmark asks is an opt-in batch payload per endpoint.
//   LIMIT(#4): a worker re-reads its endpoint (URL, secret, types, still
//              enabled) only between two-second slices of a backlog, so a
//              change waits up to that long; acceptable for settings; the
//              fix is a change notification from the backend.
//   LIMIT(#4): the poller asks the backend for every enabled endpoint, and
//              each due endpoint for events after its cursor, once a second
//              even when idle; cheap for hundreds of endpoints on indexed
//              columns; the fix for many thousands is a per-org "last seq"
//              the backend returns with each endpoint, to skip idle ones.
//   LIMIT(#4): one secret per endpoint, one v1 signature per request; a
//              rotation needs receivers to accept both secrets for a while;
//              the fix is a previous-secret column and a second v1 value.
//   LIMIT(#4): stop() aborts an in-flight request from curl's progress
//              callback, which curl calls about once a second while a
//              transfer is idle; the fix, if faster is needed, is the multi
//              interface with curl_multi_wakeup().
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace carepost::events {

// One entry of an organisation's append-only event stream.
struct Event {
    std::int64_t seq = 0;
    std::string id, org_id, type;
    std::int64_t time = 0;
    std::string message_id, recipient_id, email;
    std::int64_t reply_code = 0;
    std::string enhanced_status, reason, bounce_class;
};

// The webhook body: a JSON object with exactly the keys id, type, time,
// message_id, recipient_id, email, reply_code, enhanced_status, reason and
// bounce_class, in that order. Every key is always present: empty strings
// stay "" and a missing reply code stays 0, so receivers see one schema.
// org_id and seq are not sent (the endpoint already belongs to one
// organisation; the id is the idempotency key).
std::string payload_json(const Event& e);

// The Carepost-Signature value:
// "t=<unix seconds>,v1=<lower-case hex HMAC-SHA256(secret, "<t>.<body>")>".
std::string
signature_header(std::string_view secret, std::int64_t timestamp, std::string_view body);

struct Endpoint {
    std::string id, org_id, url, secret;
    std::vector<std::string> types;    // empty: every type
    std::int64_t cursor_seq = 0;       // last event seq handled (delivered or filtered out)
    std::int64_t attempts = 0;         // failed attempts of the event at the head
    std::int64_t failing_since = 0;    // unix s of the head event's first failure, 0 if none
    std::int64_t next_attempt_at = 0;  // unix s
};

// What the dispatcher needs from the store. Implementations must be
// thread-safe: several workers call them at once (never for the same
// endpoint at once). They may throw; the dispatcher logs and retries later.
class Backend {
public:
    virtual ~Backend() = default;
    virtual std::vector<Endpoint> enabled_endpoints() = 0;
    virtual std::vector<Event>
    events_after(const std::string& org_id, std::int64_t after_seq, std::size_t limit) = 0;
    // Persists cursor_seq, attempts, failing_since and next_attempt_at.
    virtual void save_progress(const Endpoint& e) = 0;
    // Disables the endpoint and records an event saying why.
    virtual void disable(const Endpoint& e, const std::string& reason) = 0;
};

struct Options {
    // Hosts or IP literals (IPv6 without brackets) allowed over http and on
    // private or loopback addresses; tests: "127.0.0.1", "::1", "localhost".
    std::vector<std::string> allow_insecure_hosts;
    std::int64_t give_up_after_seconds = 86400;  // then the endpoint is disabled
    std::int64_t max_backoff_seconds = 3600;  // backoff 1, 2, 4, ... s capped here, +≤10% jitter
    std::int64_t request_timeout_ms = 10000;
    std::size_t max_redirects = 3;
    std::string ca_file;             // extra CA file; the system store is used too
    std::size_t worker_threads = 4;  // endpoints served at once
    std::size_t batch_events = 256;  // events read from the backend per call
};

// Checks an endpoint URL when it is registered: https only (http only for an
// allowed host), no userinfo, a host, a port in 1..65535. Resolves the host
// and refuses, with code "endpoint_not_allowed", private, loopback,
// link-local, unspecified, multicast, CGNAT (100.64/10), reserved and
// documentation addresses, IPv6 ULA and the IPv4-mapped, NAT64 and 6to4
// forms of refused IPv4 addresses, unless the host is allowed. Other
// failures: "invalid_url" (permanent), "endpoint_unresolvable" (transient).
Result<void> check_endpoint_url(const std::string& url, const Options& options);

// Walks every enabled endpoint through its organisation's events.
// Thread-safe; start() and stop() may be called once each.
class Dispatcher {
public:
    Dispatcher(Backend& backend, Options options);
    ~Dispatcher();  // stops
    Dispatcher(const Dispatcher&) = delete;
    Dispatcher& operator=(const Dispatcher&) = delete;

    // Starts one polling thread and Options::worker_threads workers.
    void start();
    // Stops the threads; an in-flight request is aborted within about a
    // second and its event stays at the head (it is sent again later).
    void stop();
    // New events are there: look now instead of at the next one-second poll.
    void wake();

    struct Stats {
        std::uint64_t delivered = 0, failed_attempts = 0, disabled = 0;
    };
    Stats stats() const;

private:
    class Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace carepost::events
