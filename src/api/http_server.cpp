// The only translation unit that includes Boost.Beast: it keeps the
// project's compile time down.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "api/api.hpp"
#include "common/log.hpp"

namespace carepost::api {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using namespace std::chrono_literals;

// Runs the router and resumes the caller's coroutine on its own executor,
// whichever thread the router finishes on.
template <class Token>
auto async_route(Router& router, HttpRequest request, Token&& token)
{
    return asio::async_initiate<Token, void(HttpResponse)>(
        [&router](auto handler, HttpRequest req) {
            auto shared = std::make_shared<decltype(handler)>(std::move(handler));
            router.handle(std::move(req), [shared](HttpResponse response) {
                auto ex = asio::get_associated_executor(*shared);
                asio::post(ex, [shared, response = std::move(response)]() mutable {
                    (*shared)(std::move(response));
                });
            });
        },
        token,
        std::move(request));
}

http::response<http::string_body> to_beast(HttpResponse r, unsigned version, bool keep_alive)
{
    http::response<http::string_body> res{static_cast<http::status>(r.status), version};
    res.set(http::field::server, "carepost");
    res.set(http::field::content_type, "application/json");
    res.set(http::field::cache_control, "no-store");
    for (auto& [name, value] : r.headers) {
        // A value with a line break would start a header of its own: such a
        // value never reaches the wire (callers check too).
        bool is_clean = std::none_of(
            value.begin(), value.end(), [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
        if (is_clean) {
            res.set(name, value);
        }
    }
    res.body() = std::move(r.body);
    res.keep_alive(keep_alive);
    res.prepare_payload();
    return res;
}

// The answer to a request that could not be read, if it deserves one.
std::optional<HttpResponse> refusal_for(const beast::error_code& ec)
{
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::eof ||
        ec == asio::error::connection_reset || ec == asio::error::operation_aborted ||
        ec == http::error::partial_message) {
        return std::nullopt;
    }
    if (ec == http::error::body_limit) {
        return error_response(413, Error::permanent("payload_too_large", "body too large"));
    }
    if (ec == http::error::header_limit) {
        return error_response(
            431, Error::permanent("headers_too_large", "request headers too large"));
    }
    return error_response(400, Error::permanent("bad_request", "the HTTP request is malformed"));
}

std::string header(const http::request<http::string_body>& req, http::field f)
{
    auto it = req.find(f);
    return it == req.end() ? std::string() : std::string(it->value());
}

// The request's head as the router sees it (no body yet).
HttpRequest request_of(const http::request<http::string_body>& req, const std::string& remote)
{
    HttpRequest r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    r.authorization = header(req, http::field::authorization);
    r.idempotency_key = std::string(req["Idempotency-Key"]);
    r.content_type = header(req, http::field::content_type);
    r.remote_address = remote;
    r.key_id = std::string(req["X-Carepost-Key-Id"]);
    r.timestamp = std::string(req["X-Carepost-Timestamp"]);
    r.nonce = std::string(req["X-Carepost-Nonce"]);
    r.signature = std::string(req["X-Carepost-Signature"]);
    return r;
}

// Connections being served, across all threads.
std::atomic<std::size_t> open_connections{0};

struct ConnectionCount {
    ConnectionCount() { ++open_connections; }
    ~ConnectionCount() { --open_connections; }
};

asio::awaitable<void>
serve_connection(tcp::socket socket, Router& router, std::size_t max_body, std::atomic<int>& active)
{
    ConnectionCount counted;
    boost::system::error_code peer_ec;
    auto peer = socket.remote_endpoint(peer_ec);
    std::string remote = peer_ec ? std::string("unknown") : peer.address().to_string();
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
        http::request_parser<http::string_body> parser;
        parser.body_limit(max_body);
        parser.header_limit(16 * 1024);
        stream.expires_after(60s);
        auto [hec, hn] = co_await http::async_read_header(
            stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
        if (hec) {
            // Closed or timed out: nothing to answer. Anything else is a bad
            // request the client should hear about before we close.
            auto refusal = refusal_for(hec);
            if (refusal) {
                auto res = to_beast(std::move(*refusal), 11, false);
                co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
            }
            break;
        }

        // Refuse a bad key before reading (and buffering) the body; the
        // unread body makes the connection unusable, so it is closed.
        HttpRequest head = request_of(parser.get(), remote);
        {
            std::size_t limit = max_body;
            auto refusal = router.check_before_body(head, limit);
            parser.body_limit(limit);
            // The declared length is known now: a body over this route's
            // limit is refused without reading it.
            if (!refusal && parser.content_length() && *parser.content_length() > limit) {
                refusal = error_response(
                    413, Error::permanent("payload_too_large", "body too large for this route"));
            }
            if (refusal) {
                auto res = to_beast(std::move(*refusal), parser.get().version(), false);
                co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
                break;
            }
        }

        // curl and others wait for "100 Continue" before sending a large body.
        if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
            http::response<http::empty_body> cont{http::status::continue_, 11};
            co_await http::async_write(stream, cont, asio::as_tuple(asio::use_awaitable));
        }
        stream.expires_after(120s);
        auto [ec, n] =
            co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
        if (ec) {
            auto refusal = refusal_for(ec);
            if (refusal) {
                auto res = to_beast(std::move(*refusal), 11, false);
                co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
            }
            break;
        }

        auto req = parser.release();
        HttpRequest r = std::move(head);  // with the principal found before the body
        r.body = std::move(req.body());
        auto started = std::chrono::steady_clock::now();
        ++active;
        HttpResponse response = co_await async_route(router, std::move(r), asio::use_awaitable);
        auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(
            std::chrono::steady_clock::now() - started);
        log::debug(
            "api",
            "request",
            {{"method", std::string(req.method_string())},
             {"status", response.status},
             {"duration_us", elapsed.count()}});

        bool keep_alive = req.keep_alive();
        std::size_t body_size = response.body.size();
        auto res = to_beast(std::move(response), req.version(), keep_alive);
        // RFC 9110 §9.3.2: HEAD gets the headers GET would, without the body.
        if (req.method() == http::verb::head) {
            res.body().clear();
            res.set(http::field::content_length, std::to_string(body_size));
        }
        auto [wec, wn] =
            co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
        --active;
        if (wec || !keep_alive) {
            break;
        }
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

asio::awaitable<void> accept_loop(
    tcp::acceptor& acceptor,
    Router& router,
    std::size_t max_body,
    std::size_t max_connections,
    std::atomic<int>& active)
{
    auto last_warning = std::chrono::steady_clock::time_point{};
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
        if (ec == asio::error::operation_aborted) {
            co_return;
        }
        if (ec) {
            // Out of descriptors (EMFILE, ENFILE) or memory: retrying at once
            // would spin a core and flood the log. Pause, and say so once a
            // minute at most.
            auto now = std::chrono::steady_clock::now();
            if (now - last_warning > std::chrono::minutes(1)) {
                log::warn("api", "accept_failed", {{"error", ec.message()}});
                last_warning = now;
            }
            asio::steady_timer pause(acceptor.get_executor(), std::chrono::milliseconds(100));
            co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
            continue;
        }
        // Each connection may hold a body up to the limit: their number is
        // what bounds memory. Beyond it, new ones are closed at once.
        if (open_connections.load() >= max_connections) {
            boost::system::error_code ignored;
            socket.close(ignored);
            continue;
        }
        socket.set_option(tcp::no_delay(true));
        asio::co_spawn(
            acceptor.get_executor(),
            serve_connection(std::move(socket), router, max_body, active),
            [](std::exception_ptr e) {
                if (e) {
                    try {
                        std::rethrow_exception(e);
                    } catch (const std::exception& ex) {
                        log::warn("api", "connection_failed", {{"error", ex.what()}});
                    }
                }
            });
    }
}

Result<tcp::endpoint> parse_listen(const std::string& listen)
{
    auto colon = listen.rfind(':');
    if (colon == std::string::npos) {
        return Error::invalid("invalid_config", "server.listen", "expected HOST:PORT");
    }
    std::string host = listen.substr(0, colon);
    if (host.size() > 1 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    boost::system::error_code ec;
    auto address = asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
    int port = 0;
    try {
        port = std::stoi(listen.substr(colon + 1));
    } catch (...) {
        port = -1;
    }
    if (ec || port < 0 || port > 65535) {
        return Error::invalid("invalid_config", "server.listen", "expected IP:PORT");
    }
    return tcp::endpoint(address, static_cast<std::uint16_t>(port));
}

}  // namespace

class Server::Impl {
public:
    Impl(ServerOptions o, Router& r) : options(std::move(o)), router(r), acceptor(io) {}
    ServerOptions options;
    Router& router;
    asio::io_context io;
    tcp::acceptor acceptor;
    std::vector<std::thread> threads;
    std::atomic<int> active{0};  // requests read and not yet answered
};

Server::Server(ServerOptions options, Router& router)
    : impl_(std::make_unique<Impl>(std::move(options), router))
{}

Server::~Server()
{
    stop();
}

Result<void> Server::start()
{
    auto endpoint = parse_listen(impl_->options.listen);
    if (!endpoint) {
        return endpoint.error();
    }
    boost::system::error_code ec;
    auto& acceptor = impl_->acceptor;
    acceptor.open(endpoint->protocol(), ec);
    if (!ec) {
        acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    }
    if (!ec) {
        acceptor.bind(*endpoint, ec);
    }
    if (!ec) {
        acceptor.listen(asio::socket_base::max_listen_connections, ec);
    }
    if (ec) {
        return Error::internal("listen_failed", "cannot listen on server.listen: " + ec.message());
    }
    asio::co_spawn(
        impl_->io,
        accept_loop(
            acceptor,
            impl_->router,
            impl_->options.max_body_octets,
            impl_->options.max_connections,
            impl_->active),
        asio::detached);
    for (std::size_t i = 0; i < std::max<std::size_t>(1, impl_->options.threads); ++i) {
        impl_->threads.emplace_back([this] { impl_->io.run(); });
    }
    log::info(
        "api",
        "listening",
        {{"address", endpoint->address().to_string()}, {"port", endpoint->port()}});
    return {};
}

void Server::stop()
{
    if (!impl_) {
        return;
    }
    // Stop taking connections, then let requests already read get their
    // answer (a send whose commit is under way must still hear its 202),
    // for a bounded time.
    asio::post(impl_->io, [this] {
        boost::system::error_code ignored;
        impl_->acceptor.close(ignored);
    });
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (impl_->active.load() > 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    impl_->io.stop();
    for (auto& t : impl_->threads) {
        t.join();
    }
    impl_->threads.clear();
}

}  // namespace carepost::api
