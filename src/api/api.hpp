// api: the REST API — HTTP server, routes, request and response JSON.
//
// Owns: the HTTP/1.1 server (Boost.Beast, keep-alive, body limit), the
//   routes under /v1, parsing request JSON into accept requests with the
//   path of every offending field, and JSON error bodies.
// Trust boundary: every byte comes from the network. Only /v1/health is
//   served without a valid API key.
// Follows: RFC 9110 semantics; errors are {"error":{code,message,field}}.
// Logs: method, route, status, duration, key id; never bodies, header
//   values or query strings.
// Limits:
//   LIMIT(#2): plain HTTP on the listen address; TLS for the API is meant to
//   be terminated by a local proxy until native HTTPS is added.
//   LIMIT(#2): a JSON object with a repeated key keeps the last value
//   (Boost.JSON 1.81 cannot refuse duplicates); the fix is a parse handler
//   that rejects them.
//   LIMIT(#3): OpenAPI document and per-route scope table come with the
//   access-control issue.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "accept/accept.hpp"
#include "crypto/key_ring.hpp"
#include "store/store.hpp"

namespace carepost::api {

struct HttpRequest {
    std::string method;
    std::string target;
    std::string authorization;
    std::string idempotency_key;
    std::string content_type;
    std::string body;
};

struct HttpResponse {
    int status = 200;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
};

class Router {
public:
    Router(store::Store& store, accept::Pipeline& pipeline);
    // `done` may run on another thread (the store's writer for sends).
    void handle(HttpRequest request, std::function<void(HttpResponse)> done);

    // Checked once the headers are read, before the body: a request that
    // will be refused for its key gets its answer without the server
    // buffering its body. Nothing when the request may go on.
    std::optional<HttpResponse>
    check_before_body(std::string_view target, std::string_view authorization);

private:
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
    accept::Pipeline& pipeline_;
};

// The JSON error body: {"error":{"code","message","field"?}}.
HttpResponse error_response(int status, const Error& error);

struct ServerOptions {
    std::string listen = "127.0.0.1:8080";
    std::size_t threads = 2;
    std::size_t max_body_octets = 36 * 1024 * 1024;  // base64 of a 25 MB message, and JSON
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
