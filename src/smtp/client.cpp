#include <boost/asio/connect.hpp>
#include <openssl/x509v3.h>

#include "common/log.hpp"
#include "smtp/session.hpp"
#include "smtp/smtp.hpp"

namespace carepost::smtp {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using asio::awaitable;
using asio::ip::tcp;
using detail::error_from_reply;
using detail::is_accepted;
using detail::kTuple;
using detail::within;

namespace {

std::string strip_brackets(std::string_view host)
{
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    return std::string(host);
}

}  // namespace

awaitable<Result<void>> Client::Impl::open_socket(const ConnectOptions& options)
{
    tcp::resolver resolver(socket.get_executor());
    auto resolved = co_await within(
        resolver.async_resolve(strip_brackets(options.host), std::to_string(options.port), kTuple),
        timeout);
    if (!resolved) {
        co_return Error::transient("timeout", "host name resolution timed out");
    }
    if (auto [ec, endpoints] = *resolved; ec || endpoints.empty()) {
        co_return Error::transient("connect_failed", "cannot resolve the peer host");
    }

    auto connected =
        co_await within(asio::async_connect(socket, std::get<1>(*resolved), kTuple), timeout);
    if (!connected) {
        close();
        co_return Error::transient("timeout", "connect timed out");
    }
    if (auto [ec, endpoint] = *connected; ec) {
        close();
        co_return Error::transient("connect_failed", "connect failed: " + ec.message());
    }
    peer_ip = std::get<1>(*connected).address().to_string();
    co_return Result<void>{};
}

awaitable<Result<void>> Client::Impl::ehlo(const std::string& name)
{
    if (auto written = co_await write("EHLO " + name + "\r\n"); !written) {
        co_return written.error();
    }
    auto parsed = co_await read_reply();
    if (!parsed) {
        co_return parsed.error();
    }
    if (is_accepted(parsed->reply)) {
        caps = parse_capabilities(parsed->lines);
        co_return Result<void>{};
    }

    // RFC 5321 §3.2: a server that does not know EHLO may still take HELO;
    // it then offers no extensions (and no STARTTLS).
    auto helo = co_await command("HELO " + name + "\r\n");
    if (!helo) {
        co_return helo.error();
    }
    if (!is_accepted(*helo)) {
        co_return error_from_reply("ehlo_rejected", *helo);
    }
    caps = Capabilities{};
    co_return Result<void>{};
}

awaitable<Result<void>> Client::Impl::greet_and_ehlo(const ConnectOptions& options)
{
    auto greeting = co_await read_simple_reply();
    if (!greeting) {
        co_return greeting.error();
    }
    if (greeting->code != 220) {
        close();
        co_return error_from_reply("greeting_rejected", *greeting);
    }

    std::string name = options.helo_name.empty() ? "localhost" : options.helo_name;
    if (auto done = co_await ehlo(name); !done) {
        close();
        co_return done.error();
    }
    if (!options.tls.require_tls && !caps.has_starttls) {
        co_return Result<void>{};
    }
    if (!caps.has_starttls) {
        close();
        co_return Error::transient("tls_required", "peer does not offer STARTTLS");
    }
    if (auto done = co_await start_tls(options); !done) {
        co_return done.error();
    }
    co_return co_await ehlo(name);
}

awaitable<Result<void>> Client::Impl::start_tls(const ConnectOptions& options)
{
    auto reply = co_await command("STARTTLS\r\n");
    if (!reply) {
        co_return reply.error();
    }
    if (reply->code != 220) {
        close();
        Error e = error_from_reply("tls_required", *reply);
        e.error_class = ErrorClass::transient;
        co_return e;
    }

    // Bytes that arrived before the handshake were sent in plaintext and
    // would be read as if protected (command injection, CVE-2011-0411).
    if (!input.empty()) {
        close();
        co_return Error::transient("protocol", "peer sent data after its STARTTLS reply");
    }

    tls.emplace(socket, *tls_context);
    SSL* native = tls->native_handle();
    std::string name = options.tls_name.empty() ? strip_brackets(options.host) : options.tls_name;
    boost::system::error_code not_ip;
    asio::ip::make_address(name, not_ip);
    if (not_ip) {
        SSL_set_tlsext_host_name(native, name.c_str());
    }
    if (options.tls.verify) {
        X509_VERIFY_PARAM* param = SSL_get0_param(native);
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        int set = not_ip ? X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size())
                         : X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
        if (set != 1) {
            close();
            co_return Error::transient("tls_required", "cannot set the name to verify");
        }
    }

    auto done = co_await within(tls->async_handshake(ssl::stream_base::client, kTuple), timeout);
    if (!done || std::get<0>(*done)) {
        long verify = SSL_get_verify_result(native);
        std::string text = !done                 ? "TLS handshake timed out"
                           : verify != X509_V_OK ? std::string("certificate rejected: ") +
                                                       X509_verify_cert_error_string(verify)
                                                 : "TLS handshake failed";
        close();
        co_return Error::transient("tls_required", text);
    }
    tls_version = SSL_get_version(native);
    co_return Result<void>{};
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Client::~Client()
{
    if (impl_) {
        impl_->close();
    }
}

bool Client::is_usable() const
{
    return impl_->usable;
}

std::string Client::tls_version() const
{
    return impl_->tls_version;
}

awaitable<Result<std::unique_ptr<Client>>>
Client::connect(asio::any_io_executor executor, ConnectOptions options)
{
    auto impl = std::make_unique<Impl>(executor);
    impl->timeout = options.timeout;
    impl->tls_context = options.tls_context;
    if (!impl->tls_context) {
        auto context = make_tls_context(options.tls);
        if (!context) {
            co_return context.error();
        }
        impl->tls_context = std::move(*context);
    }

    // Exceptions stay inside: a failed session is an error value.
    Result<void> done;
    try {
        done = co_await impl->open_socket(options);
        if (done) {
            done = co_await impl->greet_and_ehlo(options);
        }
    } catch (const std::exception&) {
        done = Error::internal("internal", "unexpected exception while connecting");
    }
    if (!done) {
        impl->close();
        log::warn(
            "smtp",
            "connect_failed",
            {{"peer_ip", impl->peer_ip}, {"port", options.port}, {"code", done.error().code}});
        co_return done.error();
    }

    log::info(
        "smtp",
        "connected",
        {{"peer_ip", impl->peer_ip},
         {"port", options.port},
         {"tls_version", impl->tls_version},
         {"pipelining", impl->caps.has_pipelining}});
    co_return std::unique_ptr<Client>(new Client(std::move(impl)));
}

awaitable<void> Client::quit()
{
    if (!impl_->usable) {
        impl_->close();
        co_return;
    }
    try {
        auto previous = impl_->timeout;
        impl_->timeout = std::min(previous, std::chrono::seconds(5));
        co_await impl_->command("QUIT\r\n");
        impl_->timeout = previous;
    } catch (const std::exception&) {
        // Nothing to report: the session ends either way.
    }
    impl_->close();
}

}  // namespace carepost::smtp
