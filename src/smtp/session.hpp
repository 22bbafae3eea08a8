// smtp: the state of one session, shared by connect and transaction code (internal).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <variant>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "smtp/capabilities.hpp"
#include "smtp/reply_parser.hpp"
#include "smtp/smtp.hpp"

namespace carepost::smtp {

namespace detail {

constexpr auto kTuple = boost::asio::as_tuple(boost::asio::use_awaitable);

// Runs `op` until it completes or `limit` passes; nullopt on timeout. The
// loser of the race is cancelled before this returns.
template <class T>
boost::asio::awaitable<std::optional<T>>
within(boost::asio::awaitable<T> op, std::chrono::steady_clock::duration limit)
{
    using namespace boost::asio::experimental::awaitable_operators;
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, limit);
    auto result = co_await (std::move(op) || timer.async_wait(kTuple));
    if (result.index() == 0) {
        co_return std::move(std::get<0>(result));
    }
    co_return std::nullopt;
}

// The peer's text may echo an address, so the error carries only codes.
inline Error error_from_reply(const std::string& code, const Reply& reply)
{
    std::string text = "peer replied " + std::to_string(reply.code);
    Error e = reply.is_permanent() ? Error::permanent(code, text) : Error::transient(code, text);
    e.enhanced = reply.enhanced;
    return e;
}

inline bool is_accepted(const Reply& reply)
{
    return reply.code / 100 == 2;
}

}  // namespace detail

struct Client::Impl {
    explicit Impl(boost::asio::any_io_executor executor) : socket(std::move(executor)) {}

    boost::asio::ip::tcp::socket socket;
    std::shared_ptr<boost::asio::ssl::context> tls_context;
    std::optional<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>> tls;
    std::string input;  // bytes read and not yet parsed
    Capabilities caps;
    std::chrono::seconds timeout{30};
    bool usable = true;
    bool is_wire_data = false;  // of the transaction under way
    std::string tls_version;
    std::string peer_ip;

    void close()
    {
        usable = false;
        boost::system::error_code ignored;
        socket.close(ignored);
    }

    // Closes the session and turns an I/O completion into an error.
    template <class Done>
    Result<void> check_io(const Done& done)
    {
        if (!done) {
            close();
            return Error::transient("timeout", "peer did not answer in time");
        }
        if (auto ec = std::get<0>(*done)) {
            close();
            return Error::transient("connection_lost", "connection failed: " + ec.message());
        }
        return {};
    }

    boost::asio::awaitable<Result<void>> write(std::string_view data)
    {
        auto buffer = boost::asio::buffer(data.data(), data.size());
        auto done = tls ? co_await detail::within(
                              boost::asio::async_write(*tls, buffer, detail::kTuple), timeout)
                        : co_await detail::within(
                              boost::asio::async_write(socket, buffer, detail::kTuple), timeout);
        co_return check_io(done);
    }

    // The timeout bounds the whole reply, not each read: a peer that drips
    // one continuation line at a time must not hold a session for ever.
    boost::asio::awaitable<Result<ParsedReply>> read_reply()
    {
        char chunk[4096];
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (true) {
            ParsedReply parsed = parse_reply(input);
            if (parsed.status == ParseStatus::complete) {
                input.erase(0, parsed.consumed);
                co_return parsed;
            }
            if (parsed.status == ParseStatus::malformed) {
                close();
                co_return Error::transient("protocol", "malformed SMTP reply");
            }
            auto left = deadline - std::chrono::steady_clock::now();
            if (left <= std::chrono::steady_clock::duration::zero()) {
                close();
                co_return Error::transient("timeout", "peer did not finish its reply in time");
            }
            auto buffer = boost::asio::buffer(chunk);
            auto done =
                tls ? co_await detail::within(tls->async_read_some(buffer, detail::kTuple), left)
                    : co_await detail::within(socket.async_read_some(buffer, detail::kTuple), left);
            if (auto ok = check_io(done); !ok) {
                co_return ok.error();
            }
            input.append(chunk, std::get<1>(*done));
        }
    }

    boost::asio::awaitable<Result<Reply>> read_simple_reply()
    {
        auto parsed = co_await read_reply();
        if (!parsed) {
            co_return parsed.error();
        }
        co_return std::move(parsed->reply);
    }

    boost::asio::awaitable<Result<Reply>> command(std::string_view line)
    {
        if (auto written = co_await write(line); !written) {
            co_return written.error();
        }
        co_return co_await read_simple_reply();
    }

    boost::asio::awaitable<Result<void>> open_socket(const ConnectOptions& options);
    boost::asio::awaitable<Result<void>> greet_and_ehlo(const ConnectOptions& options);
    boost::asio::awaitable<Result<void>> start_tls(const ConnectOptions& options);
    boost::asio::awaitable<Result<void>> ehlo(const std::string& name);
    boost::asio::awaitable<Result<Outcome>>
    transact(const Envelope& envelope, std::string_view message);
    boost::asio::awaitable<Result<void>> transact_pipelined(
        Outcome& out, const std::string& mail, const Envelope& envelope, std::string_view message);
    boost::asio::awaitable<Result<void>> transact_stepwise(
        Outcome& out, const std::string& mail, const Envelope& envelope, std::string_view message);
    boost::asio::awaitable<Result<void>> send_message(Outcome& out, std::string_view message);
};

}  // namespace carepost::smtp
