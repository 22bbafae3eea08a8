#include <boost/asio/ssl/context.hpp>

#include "smtp/smtp.hpp"

namespace carepost::smtp {

Result<std::shared_ptr<boost::asio::ssl::context>> make_tls_context(const TlsSettings& settings)
{
    namespace ssl = boost::asio::ssl;
    auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
    SSL_CTX* native = context->native_handle();

    // TLS 1.0 and 1.1 are broken (RFC 8996); no compression (CRIME) and no
    // renegotiation, which a mail client never needs.
    if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1) {
        return Error::permanent("tls_config", "cannot set the minimum TLS version");
    }
    SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);

    boost::system::error_code ec;
    if (!settings.verify) {
        context->set_verify_mode(ssl::verify_none, ec);
        return context;
    }
    context->set_verify_mode(ssl::verify_peer, ec);
    context->set_default_verify_paths(ec);
    if (ec) {
        return Error::permanent("tls_config", "cannot load the system trust store");
    }
    if (!settings.ca_file.empty()) {
        context->load_verify_file(settings.ca_file, ec);
        if (ec) {
            return Error::permanent("tls_config", "cannot load the configured CA file");
        }
    }
    return context;
}

}  // namespace carepost::smtp
