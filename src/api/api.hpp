// api: the REST API — HTTP server, routes, request and response JSON.
//
// Owns: the HTTP/1.1 server (Boost.Beast, keep-alive, body limit), the
//   routes under /v1, parsing request JSON into accept requests with the
//   path of every offending field, and JSON error bodies.
// Trust boundary: every byte comes from the network. Only /v1/health,
//   /v1/openapi.json and the OAuth endpoints (which authenticate the client
//   themselves) are served without a credential.
// Follows: RFC 9110 semantics; errors are {"error":{code,message,field}}.
// Logs: method, route, status, duration, key id; never bodies, header
//   values or query strings.
// Limits:
//   LIMIT(#2): plain HTTP on the listen address; TLS for the API is meant to
//   be terminated by a local proxy until native HTTPS is added.
//   LIMIT(#3): failed authentication is limited per source address, so an
//   attacker behind the same address (a NAT) can lock out its users for a
//   minute; per-key limits on failures would narrow it.
//   LIMIT(#2): a JSON object with a repeated key keeps the last value
//   (Boost.JSON 1.81 cannot refuse duplicates); the fix is a parse handler
//   that rejects them.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "accept/accept.hpp"
#include "accept/gate.hpp"
#include "auth/auth.hpp"
#include "crypto/key_ring.hpp"
#include "events/events.hpp"
#include "policy/policy.hpp"
#include "store/store.hpp"

namespace carepost::api {

struct HttpRequest {
    std::string method;
    std::string target;
    std::string authorization;
    std::string idempotency_key;
    std::string content_type;
    std::string body;
    std::string remote_address;
    // Signed requests (see README, "Signed requests").
    std::string key_id, timestamp, nonce, signature;
    // Set by check_before_body when the headers alone proved the caller
    // (every method but signed requests, whose proof needs the body).
    std::optional<auth::Principal> principal;
};

// One route: what it needs and what the OpenAPI document must describe.
struct RouteSpec {
    const char* method;
    const char* path;   // OpenAPI form: /v1/messages/{id}
    const char* scope;  // "" for routes open to every caller
};

// Every route the router serves; the OpenAPI test and the scope table test
// walk it.
const std::vector<RouteSpec>& routes();

// The OpenAPI 3.1 document (docs/openapi.json, built in).
std::string_view openapi_document();

struct RouterOptions {
    std::int64_t key_requests_per_second = 1000;
    std::int64_t org_requests_per_second = 2000;
    std::int64_t auth_failures_per_minute = 30;
    crypto::Key tracking_key{};      // opens tracking and unsubscribe tokens
    events::Options webhooks;        // what a webhook URL may be
    std::function<void()> on_event;  // new events were written (wakes webhooks)
};

struct HttpResponse {
    int status = 200;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
};

class Router {
public:
    Router(
        store::Store& store,
        crypto::KeyRing& keys,
        accept::Pipeline& pipeline,
        auth::Authenticator& authenticator,
        accept::Gate& gate,
        policy::RateLimiter& limiter,
        RouterOptions options);
    // `done` may run on another thread (the store's writer for sends).
    void handle(HttpRequest request, std::function<void(HttpResponse)> done);

    // Checked once the headers are read, before the body: a request that
    // will be refused for its key gets its answer without the server
    // buffering its body. Nothing when the request may go on.
    // `max_body_octets` may be lowered for the route.
    std::optional<HttpResponse> check_before_body(HttpRequest& head, std::size_t& max_body_octets);

private:
    using Done = std::function<void(HttpResponse)>;
    struct Call;  // one authenticated request on its way through a handler

    std::optional<HttpResponse>
    authenticate(const HttpRequest& req, bool with_body, auth::Principal& principal);
    std::optional<HttpResponse> limit_requests(const auth::Principal& principal);
    std::optional<HttpResponse> refuse_if_guessing(const std::string& remote_address);
    void record_failure(const std::string& remote_address, const auth::Refusal& why);
    void dispatch(const auth::Principal& principal, HttpRequest req, Done done);
    void oauth_route(HttpRequest req, bool is_revoke, Done done);
    void keys_route(
        const auth::Principal& principal,
        const HttpRequest& req,
        const std::vector<std::string>& parts,
        Done done);
    void sessions_route(
        const auth::Principal& principal,
        const HttpRequest& req,
        const std::vector<std::string>& parts,
        Done done);
    void rules_route(const auth::Principal& principal, const HttpRequest& req, Done done);
    void events_route(
        const auth::Principal& principal,
        const HttpRequest& req,
        const std::string& message_id,
        Done done);
    void audit_route(const auth::Principal& principal, const HttpRequest& req, Done done);
    void suppressions_route(const auth::Principal& principal, const HttpRequest& req, Done done);
    void webhooks_route(
        const auth::Principal& principal,
        const HttpRequest& req,
        const std::vector<std::string>& parts,
        Done done);
    void tracking_route(const HttpRequest& req, const std::vector<std::string>& parts, Done done);
    void reports_route(const auth::Principal& principal, const HttpRequest& req, Done done);

    void send_message(
        const auth::Principal& principal, HttpRequest req, std::function<void(HttpResponse)> done);
    std::optional<HttpResponse>
    replay_idempotent(const std::string& org_id, const accept::Idempotency& idempotency);
    void
    record_access(const auth::Principal& principal, const char* action, const std::string& subject);
    void template_route(
        const auth::Principal& principal,
        const HttpRequest& req,
        const std::string& id,
        std::function<void(HttpResponse)> done);

    store::Store& store_;
    crypto::KeyRing& keys_;
    accept::Pipeline& pipeline_;
    auth::Authenticator& auth_;
    accept::Gate& gate_;
    policy::RateLimiter& limiter_;
    RouterOptions options_;
};

// The JSON error body: {"error":{"code","message","field"?}}.
HttpResponse error_response(int status, const Error& error);

struct ServerOptions {
    std::string listen = "127.0.0.1:8080";
    std::size_t threads = 2;
    std::size_t max_body_octets = 36 * 1024 * 1024;  // base64 of a 25 MB message, and JSON
    std::size_t max_connections = 1024;
};

class Server {
public:
    Server(ServerOptions options, Router& router);
    ~Server();
    // Binds and starts serving on background threads; error when the
    // address cannot be bound.
    Result<void> start();
    void stop();

private:
    class Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace carepost::api
