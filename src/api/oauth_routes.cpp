// OAuth 2.0 client credentials (RFC 6749 §4.4) and token revocation
// (RFC 7009). The client is an API key: client_id is the key id, the
// client secret is the key.
#include "api/api.hpp"
#include "api/route_util.hpp"
#include "crypto/crypto.hpp"

namespace carepost::api {
namespace {

namespace json = boost::json;

// RFC 6749 §5.2 error bodies.
HttpResponse oauth_error(int status, const char* error, const char* description)
{
    auto r =
        json_response(status, json::object{{"error", error}, {"error_description", description}});
    if (status == 401) {
        r.headers.emplace_back("WWW-Authenticate", "Basic realm=\"carepost\"");
    }
    return r;
}

struct ClientCredentials {
    std::string id, secret;
};

// From HTTP Basic (client_secret_basic, RFC 6749 §2.3.1: the parts are
// form-encoded first) or the body (client_secret_post).
std::optional<ClientCredentials> client_credentials(const HttpRequest& req, const std::string& form)
{
    if (req.authorization.starts_with("Basic ")) {
        auto decoded = crypto::base64_decode(std::string_view(req.authorization).substr(6));
        if (!decoded) {
            return std::nullopt;
        }
        auto colon = decoded->find(':');
        if (colon == std::string::npos) {
            return std::nullopt;
        }
        auto id = query_param("?x=" + decoded->substr(0, colon), "x");
        auto secret = query_param("?x=" + decoded->substr(colon + 1), "x");
        return ClientCredentials{id.value_or(""), secret.value_or("")};
    }
    auto id = query_param(form, "client_id");
    auto secret = query_param(form, "client_secret");
    if (!id || !secret) {
        return std::nullopt;
    }
    return ClientCredentials{*id, *secret};
}

std::vector<std::string> split_scope(const std::string& text)
{
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < text.size()) {
        auto end = text.find(' ', start);
        if (end == std::string::npos) {
            end = text.size();
        }
        if (end > start) {
            out.push_back(text.substr(start, end - start));
        }
        start = end + 1;
    }
    return out;
}

}  // namespace

void Router::oauth_route(HttpRequest req, bool is_revoke, Done done)
{
    if (!req.content_type.starts_with("application/x-www-form-urlencoded")) {
        return done(oauth_error(400, "invalid_request", "use application/x-www-form-urlencoded"));
    }
    if (auto refusal = refuse_if_guessing(req.remote_address)) {
        return done(std::move(*refusal));
    }
    std::string form = "?" + req.body;
    auto client = client_credentials(req, form);
    if (!client) {
        return done(oauth_error(401, "invalid_client", "client authentication is required"));
    }
    auth::Refusal why;
    std::int64_t now = store::unix_now();
    auto principal = auth_.authenticate_client(client->id, client->secret, now, &why);
    if (!principal) {
        if (principal.error().code == "key_suspended") {
            return done(oauth_error(401, "invalid_client", "this client is suspended"));
        }
        record_failure(req.remote_address, why);
        return done(oauth_error(401, "invalid_client", "client authentication failed"));
    }

    // The client's request budget applies here too: every token is a
    // stored row and an audit record.
    if (auto refusal = limit_requests(*principal)) {
        return done(std::move(*refusal));
    }

    if (is_revoke) {
        auto token = query_param(form, "token");
        if (!token) {
            return done(oauth_error(400, "invalid_request", "token is required"));
        }
        auth_.revoke_token(*principal, *token, now);
        return done(HttpResponse{200, "{}", {}});
    }

    if (query_param(form, "grant_type").value_or("") != "client_credentials") {
        return done(
            oauth_error(400, "unsupported_grant_type", "only client_credentials is supported"));
    }
    auto issued =
        auth_.issue_token(*principal, split_scope(query_param(form, "scope").value_or("")), now);
    if (!issued) {
        if (issued.error().code == "invalid_scope") {
            return done(oauth_error(400, "invalid_scope", "the client does not hold that scope"));
        }
        return done(error_response(status_for(issued.error()), issued.error()));
    }
    std::string scope;
    for (const auto& s : issued->scopes) {
        scope += scope.empty() ? s : " " + s;
    }
    auto r = json_response(
        200,
        json::object{
            {"access_token", issued->access_token},
            {"token_type", "Bearer"},
            {"expires_in", issued->expires_in},
            {"scope", scope}});
    r.headers.emplace_back("Pragma", "no-cache");
    done(std::move(r));
}

}  // namespace carepost::api
