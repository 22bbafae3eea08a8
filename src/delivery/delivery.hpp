// delivery: drives queue, dns, the SMTP client and DKIM for each destination.
//
// Owns: claiming due recipients from the store, per-domain queues with a cap
//   of connections per destination, connection reuse, DKIM signing (once per
//   message), the TLS policy decision, and recording every attempt's outcome
//   (status, reply code, enhanced status, next attempt) with an audit record.
// Trust boundary: SMTP replies come from remote servers: they are cut and
//   escaped before they reach a log, and never decide anything but by code.
// Follows: RFC 5321 §4.5.4.1 (retry strategy), RFC 3207 (STARTTLS).
// Logs: message id, recipient id, domain hash-free fields: reply code,
//   enhanced status, attempts, TLS version; never addresses.
// Limits:
//   LIMIT(#2): one node; leases across nodes (PostgreSQL) come later, so
//   recipients left `sending` by a crash are requeued at start.
//   LIMIT(#2): tls_policy supports `verified` and `encrypted`; MTA-STS, DANE,
//   portal escalation of `tls_required` come later.
//   LIMIT(#2): a crash between the peer's 250 after DATA and our commit of
//   `delivered` resends that message (RFC 1047 duplicate); the window is one
//   group commit.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "crypto/key_ring.hpp"
#include "store/store.hpp"

namespace carepost::delivery {

struct Options {
    std::map<std::string, std::string> routes;  // domain -> host:port
    std::string ca_file;
    std::string tls_policy = "verified";
    std::vector<std::chrono::seconds> backoff = {
        std::chrono::seconds(60),
        std::chrono::seconds(300),
        std::chrono::seconds(900),
        std::chrono::seconds(1800),
        std::chrono::seconds(3600),
        std::chrono::seconds(7200)};
    std::chrono::seconds max_age = std::chrono::hours(96);
    // A recipient still deferred this long after acceptance gets one
    // `escalated` event.
    std::chrono::seconds escalate_after = std::chrono::hours(1);
    std::size_t connections_per_domain = 4;
    std::size_t messages_per_connection = 1000;
    std::size_t threads = 2;
    std::size_t max_in_flight = 50000;
    std::size_t max_in_flight_per_domain = 500;
    std::string helo_name = "localhost";
    std::chrono::seconds smtp_timeout{60};
    // VERP: the reverse-path for one recipient, so that a later bounce names
    // it. Empty: the message's own sender, and recipients share transactions.
    std::function<std::string(const std::string& recipient_id)> return_path;
};

Result<void> check_options(const Options& options);

class Engine {
public:
    Engine(store::Store& store, crypto::KeyRing& keys, Options options);
    ~Engine();
    Result<void> start();
    void stop();
    // Something new is due: look now rather than at the next poll.
    void wake();

private:
    class Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace carepost::delivery
