// inbound: one SMTP server session (internal).
#pragma once

#include <cstddef>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/thread_pool.hpp>

#include "inbound/inbound.hpp"

namespace carepost::inbound::detail {

// RFC 5321 §4.5.3.1.4: a command line, CRLF included, holds at most 512
// octets; we allow 1000 for clients that pad. A text line in DATA may be far
// longer in the wild (HTML bounces); the cap only stops endless lines.
inline constexpr std::size_t max_command_line_octets = 1000;
inline constexpr std::size_t max_data_line_octets = 64 * 1024;
// Syntax errors, refused recipients and bad sequences a session may make
// before we hang up on it (a peer probing for addresses or lost in a loop).
inline constexpr int max_errors_per_session = 20;

// What every session shares; it outlives them all.
struct SessionContext {
    const Options& options;
    const Handler& handler;
    boost::asio::thread_pool::executor_type handler_executor;
};

// Serves one accepted connection to its end: greeting, commands, messages,
// QUIT or timeout. Runs on the socket's executor (one thread: no strand
// needed). Never throws; destroying the coroutine closes the socket.
boost::asio::awaitable<void>
run_session(boost::asio::ip::tcp::socket socket, const SessionContext& context);

}  // namespace carepost::inbound::detail
