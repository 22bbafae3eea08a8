#include <atomic>
#include <charconv>
#include <map>
#include <optional>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/log.hpp"
#include "inbound/inbound.hpp"
#include "inbound/session.hpp"

namespace carepost::inbound {

namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kHandlerThreads = 4;

// "host:port" or "[v6]:port" as an endpoint.
std::optional<tcp::endpoint> parse_listen(std::string_view listen)
{
    auto colon = listen.rfind(':');
    if (colon == std::string_view::npos) {
        return std::nullopt;
    }
    std::string_view host = listen.substr(0, colon);
    std::string_view port_text = listen.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    std::uint16_t port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || port_text.empty()) {
        return std::nullopt;
    }
    boost::system::error_code bad;
    auto address = asio::ip::make_address(std::string(host), bad);
    if (bad) {
        return std::nullopt;
    }
    return tcp::endpoint(address, port);
}

// Tells a connection over the limit so at the greeting (RFC 5321 §3.1) and
// hangs up, without waiting on the peer: one non-blocking write at most.
void refuse_connection(tcp::socket& socket, std::string_view hostname)
{
    std::string line = "421 4.3.2 " + std::string(hostname) + " Too many connections\r\n";
    boost::system::error_code ignored;
    socket.non_blocking(true, ignored);
    socket.write_some(asio::buffer(line), ignored);
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
}

}  // namespace

struct Listener::Impl {
    Options options;
    Handler handler;
    std::atomic<std::uint16_t> port{0};
    std::size_t connections = 0;                  // touched on the I/O thread only
    std::map<std::string, std::size_t> per_peer;  // likewise
    bool is_started = false;
    bool is_stopped = false;

    // Destroyed in stop(): the pool before the I/O context, because a queued
    // handler call owns the session waiting for it, and with it a socket.
    std::unique_ptr<asio::io_context> io;
    std::unique_ptr<asio::thread_pool> handler_pool;
    std::unique_ptr<tcp::acceptor> acceptor;
    std::unique_ptr<detail::SessionContext> context;
    std::thread io_thread;

    awaitable<void> accept_loop();
    awaitable<void> serve(tcp::socket socket, std::string peer);
};

awaitable<void> Listener::Impl::serve(tcp::socket socket, std::string peer)
{
    // The counts drop when the session ends, or when stop() destroys it.
    struct Slot {
        std::size_t& count;
        std::map<std::string, std::size_t>& per_peer;
        std::string peer;
        ~Slot()
        {
            --count;
            if (--per_peer[peer] == 0) {
                per_peer.erase(peer);
            }
        }
    } slot{connections, per_peer, std::move(peer)};
    co_await detail::run_session(std::move(socket), *context);
}

awaitable<void> Listener::Impl::accept_loop()
{
    while (true) {
        auto [ec, socket] = co_await acceptor->async_accept(kTuple);
        if (ec == asio::error::operation_aborted || !acceptor->is_open()) {
            co_return;
        }
        // Out of descriptors or a reset before accept: pause rather than spin.
        if (ec) {
            log::warn("inbound", "accept_failed", {{"error", ec.message()}});
            asio::steady_timer pause(*io, std::chrono::milliseconds(100));
            co_await pause.async_wait(kTuple);
            continue;
        }
        if (connections >= options.max_connections) {
            log::warn("inbound", "connection_refused", {{"reason", "max_connections"}});
            refuse_connection(socket, options.hostname);
            continue;
        }
        // One peer may not take every slot (idle connections held open).
        boost::system::error_code peer_ec;
        auto endpoint = socket.remote_endpoint(peer_ec);
        std::string peer = peer_ec ? "" : endpoint.address().to_string();
        if (per_peer[peer] >= options.max_connections_per_peer) {
            log::warn("inbound", "connection_refused", {{"reason", "max_connections_per_peer"}});
            refuse_connection(socket, options.hostname);
            continue;
        }
        ++connections;
        ++per_peer[peer];
        asio::co_spawn(*io, serve(std::move(socket), std::move(peer)), asio::detached);
    }
}

Listener::Listener(Options options, Handler handler) : impl_(std::make_unique<Impl>())
{
    impl_->options = std::move(options);
    impl_->handler = std::move(handler);
}

Listener::~Listener()
{
    stop();
}

std::uint16_t Listener::port() const
{
    return impl_->port.load();
}

Result<void> Listener::start()
{
    Impl& impl = *impl_;
    if (impl.is_started) {
        return Error::internal("already_started", "the listener was started before");
    }
    auto endpoint = parse_listen(impl.options.listen);
    if (!endpoint) {
        return Error::permanent("invalid_config", "listen must be host:port or [v6]:port");
    }
    if (impl.options.key.empty() || impl.options.domains.empty() || !impl.handler) {
        return Error::permanent("invalid_config", "a VERP key, a domain and a handler are needed");
    }

    impl.io = std::make_unique<asio::io_context>(1);
    impl.acceptor = std::make_unique<tcp::acceptor>(*impl.io);
    boost::system::error_code ec;
    impl.acceptor->open(endpoint->protocol(), ec);
    if (!ec) {
        impl.acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
    }
    if (!ec) {
        impl.acceptor->bind(*endpoint, ec);
    }
    if (!ec) {
        impl.acceptor->listen(asio::socket_base::max_listen_connections, ec);
    }
    if (ec) {
        impl.acceptor.reset();
        impl.io.reset();
        return Error::transient("listen_failed", "cannot listen: " + ec.message());
    }

    impl.port = impl.acceptor->local_endpoint().port();
    impl.handler_pool = std::make_unique<asio::thread_pool>(kHandlerThreads);
    impl.context = std::make_unique<detail::SessionContext>(
        detail::SessionContext{impl.options, impl.handler, impl.handler_pool->get_executor()});
    asio::co_spawn(*impl.io, impl.accept_loop(), asio::detached);
    impl.io_thread = std::thread([io = impl.io.get()] { io->run(); });
    impl.is_started = true;
    log::info("inbound", "listener_started", {{"port", impl.port.load()}});
    return {};
}

void Listener::stop()
{
    Impl& impl = *impl_;
    if (!impl.is_started || impl.is_stopped) {
        return;
    }
    impl.is_stopped = true;

    // Stop the loop first: no session runs while the pieces are taken down.
    impl.io->stop();
    impl.io_thread.join();
    impl.handler_pool->stop();
    impl.handler_pool->join();
    impl.handler_pool.reset();
    impl.acceptor.reset();
    impl.io.reset();
    log::info("inbound", "listener_stopped", {{"port", impl.port.load()}});
}

}  // namespace carepost::inbound
