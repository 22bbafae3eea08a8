// inbound: the SMTP listener that takes bounces (DSNs) and complaints (ARF
// reports) back, and the VERP return paths that tie them to one recipient.
//
// Owns: VERP return paths "bounce+<recipient_id>-<tag>@<domain>" (tag: keyed
//   HMAC so that no one else can make one); the SMTP server side of a
//   session (greeting, EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, VRFY, QUIT),
//   with every buffer, count and wait bounded.
// Trust boundary: every byte comes from an unauthenticated peer on the
//   internet (any MTA, or anyone). Only addresses with a valid tag (or the
//   configured extra addresses) are accepted as recipients; the message is
//   handed to the handler as opaque bytes (the bounce parser reads it).
// RFCs: 5321 (SMTP; §4.5.2 transparency, §4.5.3.1 size limits, §4.5.3.2
//   timeouts), 1870 (SIZE), 2920 (PIPELINING), 6152 (8BITMIME), 6531
//   (SMTPUTF8: announced, addresses taken as UTF-8 octets), 2034/3463
//   (enhanced status codes).
// Logs (component "inbound"): listener start/stop, session open/close with
//   peer IP, per message: size, recipient count, reply code; timeouts,
//   refused connections. Never addresses, recipient ids, or message bytes.
// Limits:
//   LIMIT(#4): no STARTTLS; bounces arrive in clear on port 25 from most
//              MTAs anyway and carry no message body of ours beyond what the
//              peer quotes; the fix is STARTTLS with a configured certificate.
//   LIMIT(#4): "postmaster" (RFC 5321 §4.5.1) is accepted only when listed in
//              extra_addresses; this listener serves return paths, not a
//              mail domain; the fix is an option naming the postmaster box.
//   LIMIT(#4): no CHUNKING/BDAT, no DSN parameters (RET, ENVID, NOTIFY,
//              ORCPT are refused with 555); bounces do not need them.
//   LIMIT(#4): the handler runs on a small fixed pool of threads; a handler
//              that blocks for long holds back other sessions' DATA replies
//              (not their commands); the fix is an asynchronous handler.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace carepost::inbound {

// A VERP reverse-path for one recipient of one message:
// "bounce+<recipient_id>-<tag>@<domain>", tag = first 16 lower-case hex of
// HMAC-SHA256(key, recipient_id). recipient_id must not contain '-' or '@'
// (ids look like "rcp_" + 24 hex).
std::string
make_return_path(std::string_view recipient_id, std::string_view domain, std::string_view key);

// The recipient id when `address` was made by make_return_path() with `key`
// for one of `domains` (the domain in any case; the local part exactly as
// made). Error code "not_ours" (permanent) otherwise, and always with an
// empty key. The tag is compared in constant time.
Result<std::string> parse_return_path(
    std::string_view address, const std::vector<std::string>& domains, std::string_view key);

// One message as the peer handed it over.
struct Delivery {
    std::string mail_from;                // reverse-path; "" for the null sender <>
    std::vector<std::string> recipients;  // RCPT TO addresses accepted, in order
    // The message: dot-unstuffed, without the final "." line; line ends as
    // the peer sent them (CRLF; a bare LF is kept and never ends the data).
    std::string data;
    std::string peer_address;  // IP of the peer
};

struct Options {
    std::string listen = "127.0.0.1:2525";     // "host:port", "[v6]:port"; port 0: any
    std::string hostname = "localhost";        // in the greeting and EHLO answer
    std::vector<std::string> domains;          // return-path domains we accept mail for
    std::vector<std::string> extra_addresses;  // other addresses accepted, e.g. "fbl@…"
    std::string key;                           // VERP key; must not be empty
    std::size_t max_message_octets = 10 * 1024 * 1024;
    std::size_t max_recipients = 100;
    std::size_t max_connections = 200;
    std::size_t max_connections_per_peer = 20;
    std::chrono::seconds idle_timeout{300};  // per read and per write
};

// Decides on one message. Ok: 250 2.0.0. A transient or internal error: 451
// 4.3.0 (the sender keeps the bounce and retries). A permanent error: 554
// 5.6.0. Exceptions count as internal errors. Called from several threads
// at once: it must be thread-safe.
using Handler = std::function<Result<void>(const Delivery&)>;

// The listener. start() binds and runs sessions on background threads;
// stop() (also run by the destructor) closes the socket and every session
// at once and waits for running handler calls to return. Not restartable.
class Listener {
public:
    Listener(Options options, Handler handler);
    ~Listener();
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;

    // Error codes: "invalid_config" (permanent: bad listen address, empty
    // key, no domain), "listen_failed" (transient: bind or listen failed),
    // "already_started" (internal).
    Result<void> start();
    void stop();
    std::uint16_t port() const;  // the bound port once started; 0 before

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace carepost::inbound
