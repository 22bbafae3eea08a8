#include "inbound/session.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "common/log.hpp"
#include "inbound/command.hpp"
#include "inbound/data_reader.hpp"

namespace carepost::inbound::detail {

namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kReadChunkOctets = 16 * 1024;

// Runs `op` until it completes or `limit` passes; nullopt on timeout. The
// loser of the race is cancelled before this returns.
template <class T>
awaitable<std::optional<T>> within(awaitable<T> op, std::chrono::steady_clock::duration limit)
{
    using namespace asio::experimental::awaitable_operators;
    asio::steady_timer timer(co_await asio::this_coro::executor, limit);
    auto result = co_await (std::move(op) || timer.async_wait(kTuple));
    if (result.index() == 0) {
        co_return std::move(std::get<0>(result));
    }
    co_return std::nullopt;
}

bool is_equal_ignoring_case(std::string_view a, std::string_view b)
{
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

// Why the parameters of MAIL are refused, or nullopt when they are fine.
std::optional<std::string_view> check_mail_parameters(
    const std::vector<std::pair<std::string, std::string>>& parameters,
    std::size_t max_message_octets)
{
    for (const auto& [keyword, value] : parameters) {
        if (keyword == "SIZE") {
            // RFC 1870 §6: refuse early what we would refuse after DATA.
            std::size_t size = 0;
            auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), size);
            if (ec == std::errc::result_out_of_range ||
                (ec == std::errc{} && size > max_message_octets)) {
                return "552 5.3.4 Message size exceeds fixed maximum message size";
            }
            if (ec != std::errc{} || end != value.data() + value.size()) {
                return "501 5.5.4 Bad SIZE parameter";
            }
        } else if (keyword == "BODY") {
            if (!is_equal_ignoring_case(value, "7BIT") &&
                !is_equal_ignoring_case(value, "8BITMIME")) {
                return "501 5.5.4 Bad BODY parameter";
            }
        } else if (keyword != "SMTPUTF8" || !value.empty()) {
            return "555 5.5.4 Unsupported MAIL parameter";
        }
    }
    return std::nullopt;
}

// Why a session read stopped short.
enum class ReadEnd { ok, closed, timeout };

class Session {
public:
    Session(tcp::socket socket, const SessionContext& context)
        : socket_(std::move(socket)), context_(context), options_(context.options)
    {
        boost::system::error_code ec;
        auto endpoint = socket_.remote_endpoint(ec);
        peer_ = ec ? std::string("unknown") : endpoint.address().to_string();
    }

    awaitable<void> run();

private:
    awaitable<ReadEnd> fill();
    awaitable<bool> flush();
    awaitable<std::optional<std::string>> read_command_line();
    awaitable<void> handle(const Command& command);
    void handle_ehlo(const Command& command, bool is_extended);
    void handle_mail(const Command& command);
    void handle_rcpt(const Command& command);
    awaitable<void> handle_data(const Command& command);
    awaitable<std::optional<DataReader>> read_data();
    awaitable<void> deliver(std::string data);

    void reply(std::string_view line);
    void refuse(std::string_view line);
    bool is_ours(std::string_view address) const;
    void reset_transaction();
    void close(std::string_view reason);

    tcp::socket socket_;
    const SessionContext& context_;
    const Options& options_;
    std::string peer_;
    std::string input_;   // read, not yet handled
    std::string output_;  // replies not yet written (pipelining, RFC 2920)
    bool is_skipping_line_ = false;
    bool is_open_ = true;
    bool has_greeted_ = false;
    std::optional<std::string> mail_from_;
    std::vector<std::string> recipients_;
    int errors_ = 0;
    int messages_ = 0;
    std::string_view close_reason_ = "peer_closed";  // always a literal
};

void Session::reply(std::string_view line)
{
    output_.append(line);
    output_.append("\r\n");
}

// A refusal the peer caused; too many of them end the session.
void Session::refuse(std::string_view line)
{
    reply(line);
    if (++errors_ >= max_errors_per_session) {
        reply("421 4.7.0 Too many errors, closing connection");
        close("too_many_errors");
    }
}

void Session::close(std::string_view reason)
{
    if (is_open_) {
        close_reason_ = reason;
    }
    is_open_ = false;
}

void Session::reset_transaction()
{
    mail_from_.reset();
    recipients_.clear();
}

bool Session::is_ours(std::string_view address) const
{
    if (parse_return_path(address, options_.domains, options_.key)) {
        return true;
    }
    return std::any_of(
        options_.extra_addresses.begin(),
        options_.extra_addresses.end(),
        [&](const std::string& extra) { return is_equal_ignoring_case(extra, address); });
}

// Writes the replies gathered so far; false when the peer is gone or stuck.
awaitable<bool> Session::flush()
{
    if (output_.empty()) {
        co_return true;
    }
    auto done = co_await within(
        asio::async_write(socket_, asio::buffer(output_), kTuple), options_.idle_timeout);
    output_.clear();
    co_return done && !std::get<0>(*done);
}

// Answers what was asked so far, then waits for more bytes (RFC 5321
// §4.5.3.2 bounds the wait).
awaitable<ReadEnd> Session::fill()
{
    if (!co_await flush()) {
        co_return ReadEnd::closed;
    }
    char chunk[kReadChunkOctets];
    auto done = co_await within(
        socket_.async_read_some(asio::buffer(chunk), kTuple), options_.idle_timeout);
    if (!done) {
        co_return ReadEnd::timeout;
    }
    if (std::get<0>(*done)) {
        co_return ReadEnd::closed;
    }
    input_.append(chunk, std::get<1>(*done));
    co_return ReadEnd::ok;
}

// The next command line without its line end; nullopt when the session ends.
// An overlong line is answered and skipped up to its end, so that the rest
// of a pipelined group is read in step.
awaitable<std::optional<std::string>> Session::read_command_line()
{
    while (is_open_) {
        auto newline = input_.find('\n');
        if (is_skipping_line_ && newline == std::string::npos) {
            input_.clear();
        } else if (is_skipping_line_) {
            input_.erase(0, newline + 1);
            is_skipping_line_ = false;
            continue;
        } else if (newline != std::string::npos && newline + 1 <= max_command_line_octets) {
            std::string line = input_.substr(0, newline);
            input_.erase(0, newline + 1);
            if (!line.empty() && line.back() == '\r') {
                line.pop_back();
            }
            co_return line;
        } else if (newline != std::string::npos || input_.size() >= max_command_line_octets) {
            refuse("500 5.5.6 Line too long");
            is_skipping_line_ = true;
            continue;
        }

        if (auto end = co_await fill(); end != ReadEnd::ok) {
            if (end == ReadEnd::timeout) {
                reply("421 4.4.2 " + options_.hostname + " Idle timeout, closing connection");
                co_await flush();
                log::info("inbound", "idle_timeout", {{"peer", peer_}});
            }
            close(end == ReadEnd::timeout ? "idle_timeout" : "peer_closed");
        }
    }
    co_return std::nullopt;
}

void Session::handle_ehlo(const Command& command, bool is_extended)
{
    if (command.argument.empty()) {
        refuse("501 5.5.4 Syntax: EHLO hostname");
        return;
    }
    // RFC 5321 §4.1.4: EHLO or HELO resets any transaction under way.
    reset_transaction();
    has_greeted_ = true;
    if (!is_extended) {
        reply("250 " + options_.hostname);
        return;
    }
    reply("250-" + options_.hostname);
    reply("250-SIZE " + std::to_string(options_.max_message_octets));
    reply("250-8BITMIME");
    reply("250-PIPELINING");
    reply("250-ENHANCEDSTATUSCODES");
    reply("250 SMTPUTF8");
}

void Session::handle_mail(const Command& command)
{
    if (!has_greeted_) {
        refuse("503 5.5.1 Send EHLO or HELO first");
        return;
    }
    if (mail_from_) {
        refuse("503 5.5.1 Nested MAIL command");
        return;
    }
    auto parsed = parse_path_argument(command.argument, "FROM:");
    if (!parsed) {
        refuse("501 5.5.4 Syntax: MAIL FROM:<address>");
        return;
    }

    if (auto refusal = check_mail_parameters(parsed->parameters, options_.max_message_octets)) {
        refuse(*refusal);
        return;
    }
    mail_from_ = std::move(parsed->address);
    reply("250 2.1.0 Sender OK");
}

void Session::handle_rcpt(const Command& command)
{
    if (!mail_from_) {
        refuse("503 5.5.1 Send MAIL first");
        return;
    }
    auto parsed = parse_path_argument(command.argument, "TO:");
    if (!parsed || parsed->address.empty()) {
        refuse("501 5.5.4 Syntax: RCPT TO:<address>");
        return;
    }
    if (!parsed->parameters.empty()) {
        refuse("555 5.5.4 Unsupported RCPT parameter");
        return;
    }
    // RFC 5321 §4.5.3.1.8: beyond our limit, a 452 lets the client send the
    // remaining recipients in another transaction.
    if (recipients_.size() >= options_.max_recipients) {
        reply("452 4.5.3 Too many recipients");
        return;
    }
    if (!is_ours(parsed->address)) {
        refuse("550 5.1.1 No such recipient here");
        return;
    }
    recipients_.push_back(std::move(parsed->address));
    reply("250 2.1.5 Recipient OK");
}

awaitable<void> Session::handle(const Command& command)
{
    switch (command.verb) {
    case Verb::ehlo:
        handle_ehlo(command, true);
        break;
    case Verb::helo:
        handle_ehlo(command, false);
        break;
    case Verb::mail:
        handle_mail(command);
        break;
    case Verb::rcpt:
        handle_rcpt(command);
        break;
    case Verb::data:
        co_await handle_data(command);
        break;
    case Verb::rset:
        reset_transaction();
        reply("250 2.0.0 OK");
        break;
    case Verb::noop:
        reply("250 2.0.0 OK");
        break;
    case Verb::vrfy:
        reply("252 2.5.0 Cannot VRFY user, but will accept message");
        break;
    case Verb::quit:
        reply("221 2.0.0 " + options_.hostname + " closing connection");
        close("quit");
        break;
    case Verb::not_implemented:
        refuse("502 5.5.1 Command not implemented");
        break;
    case Verb::unknown:
        refuse("500 5.5.2 Command not recognized");
        break;
    }
}

awaitable<void> Session::handle_data(const Command& command)
{
    if (!mail_from_) {
        refuse("503 5.5.1 Send MAIL first");
        co_return;
    }
    // RFC 2920 §3.1: a pipelined DATA after refused recipients gets 554.
    if (recipients_.empty()) {
        refuse("554 5.5.1 No valid recipients");
        co_return;
    }
    if (!command.argument.empty()) {
        refuse("501 5.5.4 Syntax: DATA");
        co_return;
    }

    reply("354 End data with <CR><LF>.<CR><LF>");
    auto reader = co_await read_data();
    if (!reader) {
        co_return;
    }
    if (reader->is_oversize()) {
        refuse("552 5.3.4 Message size exceeds fixed maximum message size");
    } else if (reader->has_long_line()) {
        refuse("554 5.6.0 Message has a line too long");
    } else {
        co_await deliver(std::move(reader->data()));
    }
    reset_transaction();
}

// The DATA section; nullopt (session closed) when the peer leaves, stalls,
// or sends far more than the limit.
awaitable<std::optional<DataReader>> Session::read_data()
{
    DataReader reader(options_.max_message_octets, max_data_line_octets);
    // Past the limit we keep reading to stay in step with the peer, but not
    // for ever: a peer streaming without end is cut off.
    const std::size_t discard_limit = options_.max_message_octets * 2 + 1024 * 1024;
    while (true) {
        input_.erase(0, reader.feed(input_));
        if (reader.is_complete()) {
            co_return reader;
        }
        if (reader.message_octets() > discard_limit) {
            reply("552 5.3.4 Message size exceeds fixed maximum message size");
            co_await flush();
            close("message_too_big");
            co_return std::nullopt;
        }
        if (auto end = co_await fill(); end != ReadEnd::ok) {
            if (end == ReadEnd::timeout) {
                reply("421 4.4.2 " + options_.hostname + " Idle timeout, closing connection");
                co_await flush();
            }
            close(end == ReadEnd::timeout ? "idle_timeout" : "peer_closed");
            co_return std::nullopt;
        }
    }
}

// Hands the message to the handler on its thread pool and answers with its
// verdict: the peer keeps the bounce unless we answer 250.
awaitable<void> Session::deliver(std::string data)
{
    Delivery delivery{*mail_from_, recipients_, std::move(data), peer_};
    const Handler& handler = context_.handler;
    auto result = co_await asio::co_spawn(
        context_.handler_executor,
        [&]() -> awaitable<Result<void>> {
            Result<void> verdict = Error::internal("handler_exception", "the handler threw");
            try {
                verdict = handler(delivery);
            } catch (const std::exception&) {
            }
            co_return verdict;
        },
        asio::use_awaitable);

    int code = 250;
    if (result) {
        reply("250 2.0.0 Message accepted");
    } else if (result.error().error_class == ErrorClass::permanent) {
        code = 554;
        reply("554 5.6.0 Message refused");
    } else {
        code = 451;
        reply("451 4.3.0 Cannot take the message now, try again later");
    }
    ++messages_;
    log::info(
        "inbound",
        "message_received",
        {{"peer", peer_},
         {"octets", delivery.data.size()},
         {"recipients", delivery.recipients.size()},
         {"reply_code", code},
         {"error", result ? std::string_view{} : std::string_view(result.error().code)}});
}

awaitable<void> Session::run()
{
    log::info("inbound", "session_opened", {{"peer", peer_}});
    reply("220 " + options_.hostname + " ESMTP ready");
    while (is_open_) {
        auto line = co_await read_command_line();
        if (!line) {
            break;
        }
        co_await handle(parse_command(*line));
    }
    co_await flush();

    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    log::info(
        "inbound",
        "session_closed",
        {{"peer", peer_}, {"messages", messages_}, {"reason", close_reason_}});
}

}  // namespace

awaitable<void> run_session(tcp::socket socket, const SessionContext& context)
{
    // Exceptions stay inside the session: log it and end the connection.
    try {
        Session session(std::move(socket), context);
        co_await session.run();
    } catch (const std::exception&) {
        log::error("inbound", "session_failed", {});
    }
}

}  // namespace carepost::inbound::detail
