#include <algorithm>
#include <chrono>

#include <boost/json.hpp>

#include "api/api.hpp"
#include "api/route_util.hpp"
#include "api/send_request.hpp"
#include "audit/audit.hpp"
#include "auth/auth.hpp"
#include "common/log.hpp"
#include "crypto/crypto.hpp"
#include "mime/mime.hpp"
#include "templates/templates.hpp"

namespace carepost::api {
namespace {

namespace json = boost::json;

json::object message_status(const store::MessageRow& m, const std::vector<store::RecipientRow>& rs)
{
    json::array recipients;
    for (const auto& r : rs) {
        json::object o{
            {"id", r.id},
            {"email", r.email},
            {"type", r.kind},
            {"status", r.status},
            {"attempts", r.attempts},
            {"last_code", r.last_code},
            {"last_enhanced", r.last_enhanced},
            {"reason", r.reason},
            {"updated_at", r.updated_at},
        };
        o["next_attempt_at"] = r.status == "deferred" ? json::value(r.next_attempt_at) : nullptr;
        o["delivered_at"] = r.delivered_at ? json::value(*r.delivered_at) : nullptr;
        recipients.push_back(std::move(o));
    }
    return {
        {"id", m.id},
        {"created_at", m.created_at},
        {"size", m.size},
        {"recipients", std::move(recipients)}};
}

}  // namespace

void Router::record_access(
    const auth::Principal& principal, const char* action, const std::string& subject)
{
    // Reads leave a trace too (HIPAA audit controls); the reader does not
    // wait for it.
    store_.submit(
        [principal, action, subject](store::Writer& w) -> Result<void> {
            bool is_message = std::string_view(action).starts_with("message.");
            audit::append(
                w,
                {principal.key_id,
                 action,
                 principal.org_id,
                 is_message ? subject : "",
                 "",
                 is_message ? "ok" : subject},
                store::unix_now());
            return {};
        },
        nullptr);
}

HttpResponse error_response(int status, const Error& e)
{
    json::object err{{"code", e.code}, {"message", e.text}};
    if (!e.field.empty()) {
        err["field"] = e.field;
    }
    return json_response(status, json::object{{"error", std::move(err)}});
}

const std::vector<RouteSpec>& routes()
{
    static const std::vector<RouteSpec> table = {
        {"GET", "/v1/health", ""},
        {"GET", "/v1/openapi.json", ""},
        {"POST", "/v1/oauth/token", ""},
        {"POST", "/v1/oauth/revoke", ""},
        {"POST", "/v1/messages", "messages:send"},
        {"GET", "/v1/messages/{id}", "messages:read"},
        {"GET", "/v1/messages/{id}/events", "events:read"},
        {"POST", "/v1/templates", "templates:write"},
        {"GET", "/v1/templates/{id}", "templates:write"},
        {"PUT", "/v1/templates/{id}", "templates:write"},
        {"GET", "/v1/events", "events:read"},
        {"GET", "/v1/audit", "audit:read"},
        {"GET", "/v1/reports/refusals", "reports:read"},
        {"GET", "/v1/keys", "admin"},
        {"POST", "/v1/keys", "admin"},
        {"GET", "/v1/keys/{id}", "admin"},
        {"DELETE", "/v1/keys/{id}", "admin"},
        {"POST", "/v1/keys/{id}/rotate", "admin"},
        {"POST", "/v1/keys/{id}/unsuspend", "admin"},
        {"GET", "/v1/sessions", "admin"},
        {"DELETE", "/v1/sessions/{id}", "admin"},
        {"GET", "/v1/recipient-rules", "admin"},
        {"PUT", "/v1/recipient-rules", "admin"},
        {"GET", "/v1/suppressions", "events:read"},
        {"POST", "/v1/suppressions", "admin"},
        {"DELETE", "/v1/suppressions", "admin"},
        {"GET", "/v1/webhooks", "admin"},
        {"POST", "/v1/webhooks", "admin"},
        {"GET", "/v1/webhooks/{id}", "admin"},
        {"DELETE", "/v1/webhooks/{id}", "admin"},
        {"POST", "/v1/webhooks/{id}/enable", "admin"},
        // Followed by mail clients and recipients: the token is the credential.
        {"GET", "/t/o/{token}", ""},
        {"GET", "/t/c/{token}", ""},
        {"GET", "/u/{token}", ""},
        {"POST", "/u/{token}", ""},
    };
    return table;
}

namespace {

std::vector<std::string> split_path(std::string_view path)
{
    std::vector<std::string> parts;
    while (!path.empty()) {
        if (path.front() == '/') {
            path.remove_prefix(1);
            continue;
        }
        auto slash = path.find('/');
        parts.emplace_back(path.substr(0, slash));
        path = slash == std::string_view::npos ? std::string_view() : path.substr(slash);
    }
    return parts;
}

// Tracking and unsubscribe tokens: base64url, bounded.
bool is_token(std::string_view token)
{
    return !token.empty() && token.size() <= 4096 &&
           std::all_of(token.begin(), token.end(), [](unsigned char c) {
               return std::isalnum(c) || c == '-' || c == '_';
           });
}

bool matches(const RouteSpec& route, const std::vector<std::string>& parts)
{
    auto pattern = split_path(route.path);
    if (pattern.size() != parts.size()) {
        return false;
    }
    for (std::size_t i = 0; i < parts.size(); ++i) {
        bool ok = pattern[i] == "{id}"      ? is_safe_id(parts[i])
                  : pattern[i] == "{token}" ? is_token(parts[i])
                                            : pattern[i] == parts[i];
        if (!ok) {
            return false;
        }
    }
    return true;
}

struct Match {
    const RouteSpec* route = nullptr;
    std::string allowed;  // methods of the path, for 405
};

Match find_route(std::string_view method, const std::vector<std::string>& parts)
{
    Match m;
    for (const auto& route : routes()) {
        if (!matches(route, parts)) {
            continue;
        }
        m.allowed += m.allowed.empty() ? route.method : std::string(", ") + route.method;
        if (route.method == method ||
            (method == "HEAD" && std::string_view(route.method) == "GET")) {
            m.route = &route;
        }
    }
    return m;
}

// Routes open to every caller (health, the OpenAPI document, OAuth) take
// no more than a form.
constexpr std::size_t open_route_max_body = 16 * 1024;

HttpResponse route_refusal(const Match& match)
{
    if (match.allowed.empty()) {
        return error_response(404, Error::permanent("not_found", "no such route"));
    }
    auto refusal =
        error_response(405, Error::permanent("method_not_allowed", "use " + match.allowed));
    refusal.headers.emplace_back("Allow", match.allowed);
    return refusal;
}

auth::Credentials credentials_of(const HttpRequest& req)
{
    return {
        req.authorization,
        req.key_id,
        req.timestamp,
        req.nonce,
        req.signature,
        req.method,
        req.target};
}

}  // namespace

Router::Router(
    store::Store& store,
    crypto::KeyRing& keys,
    accept::Pipeline& pipeline,
    auth::Authenticator& authenticator,
    accept::Gate& gate,
    policy::RateLimiter& limiter,
    RouterOptions options)
    : store_(store), keys_(keys), pipeline_(pipeline), auth_(authenticator), gate_(gate),
      limiter_(limiter), options_(std::move(options))
{}

std::optional<HttpResponse> Router::refuse_if_guessing(const std::string& remote_address)
{
    // Guessing is limited per source address: once its failures use up the
    // bucket, every attempt from it is refused unchecked until it refills.
    double per_minute = static_cast<double>(options_.auth_failures_per_minute);
    policy::Rate failures{per_minute / 60.0, per_minute};
    auto budget = limiter_.take("authfail:" + remote_address, failures, 0, now_ms());
    if (budget.remaining >= 1) {
        return std::nullopt;
    }
    budget.allowed = false;
    budget.retry_after_ms = static_cast<std::int64_t>(60000.0 / per_minute) + 1;
    return with_headers(
        error_response(
            429, Error::permanent("too_many_failures", "too many failed authentications")),
        policy::rate_limit_headers("auth-failures", failures, budget));
}

void Router::record_failure(const std::string& remote_address, const auth::Refusal& why)
{
    double per_minute = static_cast<double>(options_.auth_failures_per_minute);
    limiter_.take("authfail:" + remote_address, {per_minute / 60.0, per_minute}, 1, now_ms());
    store_.submit(
        [why, remote_address, at = store::unix_now()](store::Writer& w) -> Result<void> {
            audit::append(
                w,
                {why.claimed_key_id.empty() ? "anonymous" : why.claimed_key_id,
                 "auth.failed",
                 why.org_id,
                 "",
                 "",
                 why.reason + " from " + remote_address},
                at);
            return {};
        },
        nullptr);
    log::info("api", "auth_failed", {{"reason", why.reason}, {"key_id", why.claimed_key_id}});
}

std::optional<HttpResponse>
Router::authenticate(const HttpRequest& req, bool with_body, auth::Principal& principal)
{
    if (auto refusal = refuse_if_guessing(req.remote_address)) {
        return refusal;
    }
    auth::Refusal why;
    auto credentials = credentials_of(req);
    std::int64_t now = store::unix_now();
    auto p = with_body ? auth_.authenticate(credentials, req.body, now, &why)
                       : auth_.check_headers(credentials, now, &why);
    if (p) {
        principal = std::move(*p);
        return std::nullopt;
    }
    if (p.error().code == "key_suspended") {
        return error_response(403, p.error());
    }
    record_failure(req.remote_address, why);
    auto refusal = error_response(401, p.error());
    refusal.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"carepost\"");
    return refusal;
}

std::optional<HttpResponse> Router::limit_requests(const auth::Principal& principal)
{
    auto per_second = [](std::int64_t n) {
        return policy::Rate{static_cast<double>(n), static_cast<double>(n)};
    };
    auto key_rate = per_second(
        principal.requests_per_second > 0 ? principal.requests_per_second
                                          : options_.key_requests_per_second);
    auto org_rate = per_second(options_.org_requests_per_second);
    auto taken = limiter_.take_all(
        {{"rps:key:" + principal.key_id, key_rate}, {"rps:org:" + principal.org_id, org_rate}},
        1,
        now_ms());
    if (taken.decision.allowed) {
        return std::nullopt;
    }
    return with_headers(
        error_response(429, Error::permanent("rate_limited", "too many requests")),
        policy::rate_limit_headers(
            "requests", taken.refused_index == 1 ? org_rate : key_rate, taken.decision));
}

std::optional<HttpResponse>
Router::check_before_body(HttpRequest& head, std::size_t& max_body_octets)
{
    // Whatever will be refused is refused before the body is read, and
    // routes open to anyone take only small bodies: no caller without a
    // credential can make the server hold a large one.
    auto parts = split_path(path_of(head.target));
    auto match = find_route(head.method, parts);
    if (!match.route) {
        return route_refusal(match);
    }
    if (std::string_view(match.route->scope).empty()) {
        max_body_octets = std::min<std::size_t>(max_body_octets, open_route_max_body);
        return std::nullopt;
    }
    auth::Principal principal;
    auto refusal = authenticate(head, false, principal);
    if (!refusal && !credentials_of(head).is_signed()) {
        head.principal = std::move(principal);
    }
    return refusal;
}

void Router::handle(HttpRequest req, std::function<void(HttpResponse)> done)
{
    auto fail = [&](const Error& e) { done(error_response(status_for(e), e)); };
    std::string_view path = path_of(req.target);
    auto parts = split_path(path);
    auto match = find_route(req.method, parts);
    if (!match.route) {
        return done(route_refusal(match));
    }

    // Decided by the route that matched, not the raw path ("//" and the
    // like collapse to the same route).
    std::string_view route = match.route->path;
    if (route == "/v1/health") {
        return done(json_response(200, json::object{{"status", "ok"}}));
    }
    if (route == "/v1/openapi.json") {
        return done(HttpResponse{200, std::string(openapi_document()), {}});
    }
    if (route.starts_with("/v1/oauth/")) {
        return oauth_route(std::move(req), route == "/v1/oauth/revoke", std::move(done));
    }
    if (!route.starts_with("/v1/")) {
        return tracking_route(req, parts, std::move(done));
    }

    auth::Principal principal;
    if (req.principal) {
        principal = std::move(*req.principal);  // proven by its headers already
    } else if (auto refusal = authenticate(req, true, principal)) {
        return done(std::move(*refusal));
    }
    if (auto refusal = limit_requests(principal)) {
        return done(std::move(*refusal));
    }
    // messages:send-template may also send (checked against its template
    // list once the body is parsed).
    std::string_view scope = match.route->scope;
    bool allowed = principal.has_scope(scope) ||
                   (scope == "messages:send" && principal.has_scope("messages:send-template"));
    if (!allowed) {
        return fail(
            Error::permanent("insufficient_scope", "this route needs scope " + std::string(scope)));
    }
    dispatch(principal, std::move(req), std::move(done));
}

void Router::dispatch(const auth::Principal& principal, HttpRequest req, Done done)
{
    auto fail = [&](const Error& e) { done(error_response(status_for(e), e)); };
    auto parts = split_path(path_of(req.target));
    const std::string& area = parts[1];

    if (area == "messages" && parts.size() == 2) {
        return send_message(principal, std::move(req), std::move(done));
    }
    if (area == "messages" && parts.size() == 4) {
        if (!store_.find_message(principal.org_id, parts[2])) {
            return fail(Error::permanent("not_found", "no such message"));
        }
        return events_route(principal, req, parts[2], std::move(done));
    }
    if (area == "messages") {
        auto m = store_.find_message(principal.org_id, parts[2]);
        if (!m) {
            return fail(Error::permanent("not_found", "no such message"));
        }
        record_access(principal, "message.read", parts[2]);
        return done(json_response(200, message_status(*m, store_.recipients_of(parts[2]))));
    }
    if (area == "templates") {
        return template_route(
            principal, req, parts.size() > 2 ? parts[2] : std::string(), std::move(done));
    }
    if (area == "events") {
        return events_route(principal, req, "", std::move(done));
    }
    if (area == "audit") {
        return audit_route(principal, req, std::move(done));
    }
    if (area == "reports") {
        return reports_route(principal, req, std::move(done));
    }
    if (area == "keys") {
        return keys_route(principal, req, parts, std::move(done));
    }
    if (area == "sessions") {
        return sessions_route(principal, req, parts, std::move(done));
    }
    if (area == "recipient-rules") {
        return rules_route(principal, req, std::move(done));
    }
    if (area == "suppressions") {
        return suppressions_route(principal, req, std::move(done));
    }
    if (area == "webhooks") {
        return webhooks_route(principal, req, parts, std::move(done));
    }
    fail(Error::permanent("not_found", "no such route"));
}
void Router::send_message(
    const auth::Principal& principal, HttpRequest req, std::function<void(HttpResponse)> done)
{
    auto fail = [&](const Error& e) { done(error_response(status_for(e), e)); };
    std::optional<accept::Idempotency> idempotency;
    if (!req.idempotency_key.empty()) {
        if (req.idempotency_key.size() > 255) {
            return fail(Error::invalid("invalid_header", "Idempotency-Key", "too long"));
        }
        idempotency = accept::Idempotency{req.idempotency_key, crypto::sha256_hex(req.body)};
        if (auto replay = replay_idempotent(principal.org_id, *idempotency)) {
            return done(std::move(*replay));
        }
    }
    auto request = parse_send_request(req.body);
    if (!request) {
        return fail(request.error());
    }
    // A key that may send only its templates sends their content and
    // nothing of its own: no subject, body parts, attachments, headers or
    // reply address beside the template.
    bool is_template_only = !principal.has_scope("messages:send");
    bool adds_content = !request->subject.empty() || !request->text.empty() ||
                        !request->html.empty() || !request->attachments.empty() ||
                        !request->headers.empty() || request->reply_to.has_value() ||
                        request->inline_template.has_value();
    if (!principal.may_send(request->template_id) || (is_template_only && adds_content)) {
        return fail(Error::permanent(
            "insufficient_scope", "this key may send only the stored templates it lists"));
    }

    // The policy step: rules, recipients per hour, abnormal sending. Its
    // rate headers travel with the refusal.
    auto headers = std::make_shared<std::vector<std::pair<std::string, std::string>>>();
    auto admit = [this, principal, headers](const std::vector<accept::GateRecipient>& rs) {
        auto admission = gate_.admit(principal, rs, now_ms());
        *headers = std::move(admission.headers);
        return admission.result;
    };
    pipeline_.accept(
        principal,
        std::move(*request),
        idempotency,
        [this, org = principal.org_id, idempotency, headers, done = std::move(done)](auto r) {
            if (r) {
                return done(HttpResponse{r->status, r->body, {}});
            }
            // Lost a race on the same Idempotency-Key: answer as the winner did.
            if (r.error().code == "idempotency_race" && idempotency) {
                if (auto replay = replay_idempotent(org, *idempotency)) {
                    return done(std::move(*replay));
                }
            }
            done(with_headers(error_response(status_for(r.error()), r.error()), *headers));
        },
        std::move(admit));
}

std::optional<HttpResponse>
Router::replay_idempotent(const std::string& org_id, const accept::Idempotency& idempotency)
{
    auto seen = store_.find_idempotency(org_id, idempotency.key);
    if (!seen) {
        return std::nullopt;
    }
    if (seen->request_hash != idempotency.request_hash) {
        return error_response(
            409,
            Error::permanent(
                "idempotency_conflict", "this Idempotency-Key was used with another body"));
    }
    return HttpResponse{seen->status, seen->response, {{"Idempotent-Replayed", "true"}}};
}

void Router::template_route(
    const auth::Principal& principal,
    const HttpRequest& req,
    const std::string& id,
    std::function<void(HttpResponse)> done)
{
    auto fail = [&](const Error& e) { done(error_response(status_for(e), e)); };
    if (req.method == "GET") {
        std::optional<std::int64_t> version;
        if (auto v = query_param(req.target, "version")) {
            bool is_number =
                !v->empty() && v->size() < 10 &&
                std::all_of(v->begin(), v->end(), [](char c) { return c >= '0' && c <= '9'; });
            if (!is_number) {
                return fail(Error::invalid("invalid_type", "version", "must be an integer"));
            }
            version = std::stoll(*v);
        }
        auto row =
            is_safe_id(id) ? store_.find_template(principal.org_id, id, version) : std::nullopt;
        if (!row) {
            return fail(Error::permanent("not_found", "no such template"));
        }
        record_access(principal, "template.read", row->id);
        return done(json_response(
            200,
            json::object{
                {"id", row->id},
                {"version", row->version},
                {"subject", row->subject},
                {"text", row->text},
                {"html", row->html},
                {"created_at", row->created_at}}));
    }
    if (req.method != "POST" && req.method != "PUT") {
        return fail(Error::permanent("method_not_allowed", "use GET, POST or PUT"));
    }
    boost::system::error_code ec;
    json::value doc = json::parse(req.body, ec);
    if (ec || !doc.is_object()) {
        return fail(Error::invalid("invalid_json", "", "the body must be a JSON object"));
    }
    const auto& o = doc.get_object();
    store::TemplateRow row;
    row.org_id = principal.org_id;
    row.id = id;
    if (row.id.empty()) {
        auto* given = o.if_contains("id");
        if (given && !given->is_string()) {
            return fail(Error::invalid("invalid_type", "id", "must be a string"));
        }
        row.id = given ? std::string(given->get_string()) : "tpl_" + crypto::random_hex(8);
    }
    if (!is_safe_id(row.id)) {
        return fail(Error::invalid("invalid_id", "id", "letters, digits, - _ . only"));
    }
    for (auto [key, dst] :
         {std::pair{"subject", &row.subject}, {"text", &row.text}, {"html", &row.html}}) {
        auto* v = o.if_contains(key);
        if (v && !v->is_string() && !v->is_null()) {
            return fail(Error::invalid("invalid_type", key, "must be a string"));
        }
        if (v && v->is_string()) {
            *dst = std::string(v->get_string());
        }
        if (auto s = templates::check_syntax(*dst); !s) {
            return fail(Error::invalid("template_syntax", key, s.error().text));
        }
    }
    // The subject becomes a header: refuse line breaks now, not at send time.
    if (mime::has_forbidden_header_octet(row.subject)) {
        return fail(
            Error::invalid("header_injection", "subject", "line breaks are not allowed here"));
    }
    if (row.text.empty() && row.html.empty()) {
        return fail(Error::invalid("missing_field", "text", "text or html is required"));
    }
    row.created_at = store::unix_now();
    bool is_update = !id.empty();
    // Written through the group commit without holding this thread: a
    // locked database must not stall the HTTP threads (health, reads).
    auto shared = std::make_shared<store::TemplateRow>(std::move(row));
    auto write = [shared, principal, is_update](store::Writer& w) -> Result<void> {
        auto& row = *shared;
        auto latest = w.latest_template_version(row.org_id, row.id);
        if (is_update && !latest) {
            return Error::permanent("not_found", "no such template");
        }
        if (!is_update && latest) {
            return Error::invalid("template_exists", "id", "exists; PUT /v1/templates/{id}");
        }
        row.version = latest.value_or(0) + 1;
        w.insert_template(row);
        audit::append(
            w,
            {principal.key_id,
             is_update ? "template.updated" : "template.created",
             row.org_id,
             "",
             "",
             row.id + " v" + std::to_string(row.version)},
            row.created_at);
        return {};
    };
    store_.submit(std::move(write), [shared, done = std::move(done)](Result<void> r) {
        if (!r) {
            return done(error_response(status_for(r.error()), r.error()));
        }
        done(json_response(201, json::object{{"id", shared->id}, {"version", shared->version}}));
    });
}

}  // namespace carepost::api
