// smtp: the SMTP client that hands messages to the next hop.
//
// Owns: one connection to one peer (greeting, EHLO, STARTTLS, transactions,
// QUIT) and the client TLS context built from a TLS policy.
// Trust boundary: every byte read from the peer is untrusted; replies are
// parsed with fixed size limits and the reply text is cut and cleaned.
// Envelope and message come from delivery (already accepted and stored).
// RFCs: 5321 (SMTP; §4.5.2 transparency, dot-stuffing), 3207 (STARTTLS),
// 2920 (PIPELINING), 1870 (SIZE), 6152 (8BITMIME), 6531 (SMTPUTF8),
// 3463 (enhanced status codes), 6125 (host name checks).
// Logs (component "smtp"): connect, TLS version, reply codes, enhanced codes,
// sizes, durations. Never addresses, reply text, or message bytes.
// Limits:
//   LIMIT(#2): a message with 8-bit bytes goes to a peer without 8BITMIME as
//              is; RFC 6152 asks for a 7-bit downgrade; the composer emits
//              7-bit transfer encodings, so only relayed mail is affected.
//   LIMIT(#2): an opportunistic session whose TLS handshake fails is not
//              retried in plaintext; the caller gets tls_required and may
//              reconnect with require_tls = false.
//   LIMIT(#2): no DSN (RFC 3461), no AUTH, no CHUNKING.
//   LIMIT(#2): the pipelined command group is written before any reply is
//              read; callers should keep to at most 100 recipients per
//              transaction (RFC 5321 §4.5.3.1.8) so the group fits socket buffers.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "common/error.hpp"

namespace boost::asio::ssl {
class context;
}

namespace carepost::smtp {

// One reply. text: the peer's text without code or enhanced status, lines
// joined by a space, control bytes replaced, cut to 200 octets. It may echo
// addresses: show it to operators, never log it.
struct Reply {
    int code = 0;          // 0: no reply (the command was not sent)
    std::string enhanced;  // RFC 3463 "x.y.z", empty when the peer gave none
    std::string text;

    bool is_positive() const { return code >= 200 && code < 400; }
    bool is_transient() const { return code >= 400 && code < 500; }
    bool is_permanent() const { return code >= 500; }
};

// TLS policy of a connection. "verified" = require_tls + verify;
// "encrypted" = require_tls only; "opportunistic" = neither.
struct TlsSettings {
    std::string ca_file;  // extra trust anchors, added to the system store
    bool require_tls = true;
    bool verify = true;
};

// Builds a client TLS context (TLS 1.2 or later; with verify, the system
// store plus ca_file). Build it once per TlsSettings and share it: creating
// one loads the whole trust store. Errors: permanent "tls_config".
Result<std::shared_ptr<boost::asio::ssl::context>> make_tls_context(const TlsSettings& settings);

struct ConnectOptions {
    std::string host;  // name, IPv4 or IPv6 literal (brackets allowed)
    std::uint16_t port = 25;
    std::string tls_name;   // name the certificate must match; empty: host
    std::string helo_name;  // our name in EHLO; empty: "localhost"
    TlsSettings tls;
    // Shared context from make_tls_context(tls); built per connection if empty.
    std::shared_ptr<boost::asio::ssl::context> tls_context;
    std::chrono::seconds timeout{30};  // per read, write, connect or handshake
};

// The DATA section of a message as it goes on the wire: line ends made
// CRLF, leading dots doubled, the ending "." line added (RFC 5321 §4.5.2).
// A sender that sends one message in several transactions makes it once and
// passes it with Envelope::is_wire_data.
std::string to_wire_data(std::string_view message);

struct Envelope {
    std::string mail_from;  // without <>; empty: the null reverse-path
    std::vector<std::string> rcpt_to;
    bool needs_smtputf8 = false;
    std::size_t size = 0;       // for SIZE=; 0: use the message size
    bool is_wire_data = false;  // the message is already to_wire_data() output
};

// Replies of one transaction; rcpt[i] belongs to rcpt_to[i].
struct Outcome {
    Reply mail;
    std::vector<Reply> rcpt;
    Reply data;  // final reply after the message, or the DATA rejection; code 0 if not sent

    // The reply that decides recipient i: MAIL if it failed, else its RCPT
    // reply if that failed, else the DATA reply.
    const Reply& result_for(std::size_t i) const;
};

// One SMTP session. Not thread-safe: use it from one coroutine at a time
// (it runs on the executor given to connect()). Cancelling a pending
// operation (or hitting the timeout) closes the session: is_usable() then
// returns false.
class Client {
public:
    // Connects, reads the greeting, EHLO, STARTTLS (when require_tls or
    // offered), EHLO again. Error codes: "connect_failed", "timeout",
    // "connection_lost", "protocol" (transient); "greeting_rejected",
    // "ehlo_rejected" (class from the reply code, enhanced filled);
    // "tls_required" (transient: no STARTTLS, refused, handshake or
    // certificate failure); "tls_config" (permanent).
    static boost::asio::awaitable<Result<std::unique_ptr<Client>>>
    connect(boost::asio::any_io_executor executor, ConnectOptions options);

    // One transaction: MAIL, every RCPT and DATA (pipelined when offered),
    // then the dot-stuffed message. Bare CR or LF in the message are sent as
    // CRLF. When no RCPT succeeds the transaction is reset with RSET. Peer
    // rejections are replies in the Outcome, not errors. Without SMTPUTF8 at
    // the peer a needs_smtputf8 envelope fails every recipient with 553 5.6.7
    // before MAIL; over the peer's SIZE limit, 552 5.3.4 likewise.
    // Errors: "invalid_envelope" (permanent, nothing sent), "not_usable",
    // "timeout", "connection_lost", "protocol" (transient; the session is
    // then unusable and the outcome of the message is unknown: retry).
    boost::asio::awaitable<Result<Outcome>>
    send(const Envelope& envelope, std::string_view message);

    // Sends QUIT and closes; never fails.
    boost::asio::awaitable<void> quit();

    bool is_usable() const;           // false after an error, timeout or quit: do not reuse
    std::string tls_version() const;  // e.g. "TLSv1.3", empty without TLS

    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    struct Impl;

private:
    explicit Client(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace carepost::smtp
