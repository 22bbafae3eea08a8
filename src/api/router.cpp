#include <algorithm>

#include <boost/json.hpp>

#include "api/api.hpp"
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

int status_for(const Error& e)
{
    static const std::pair<const char*, int> table[] = {
        {"unauthorized", 401},
        {"insufficient_scope", 403},
        {"not_found", 404},
        {"template_not_found", 422},
        {"idempotency_conflict", 409},
        {"invalid_json", 400},
        {"invalid_type", 400},
        {"missing_field", 400},
        {"payload_too_large", 413},
        {"message_too_large", 413},
        {"method_not_allowed", 405},
    };
    for (auto [code, status] : table) {
        if (e.code == code) {
            return status;
        }
    }
    if (e.is_transient()) {
        return 503;
    }
    return e.error_class == ErrorClass::internal ? 500 : 422;
}

HttpResponse json_response(int status, const json::value& v)
{
    return {status, json::serialize(v), {}};
}

std::string_view path_of(std::string_view target)
{
    return target.substr(0, target.find('?'));
}

// The value of one query parameter (no percent-decoding needed for ours).
std::optional<std::string> query_param(std::string_view target, std::string_view name)
{
    auto q = target.find('?');
    if (q == std::string_view::npos) {
        return std::nullopt;
    }
    std::string_view rest = target.substr(q + 1);
    while (!rest.empty()) {
        auto amp = rest.find('&');
        auto pair = rest.substr(0, amp);
        auto eq = pair.find('=');
        if (pair.substr(0, eq) == name && eq != std::string_view::npos) {
            return std::string(pair.substr(eq + 1));
        }
        if (amp == std::string_view::npos) {
            break;
        }
        rest = rest.substr(amp + 1);
    }
    return std::nullopt;
}

bool is_safe_id(std::string_view id)
{
    if (id.empty() || id.size() > 128) {
        return false;
    }
    for (unsigned char c : id) {
        if (!std::isalnum(c) && c != '-' && c != '_' && c != '.') {
            return false;
        }
    }
    return true;
}

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

Router::Router(store::Store& store, accept::Pipeline& pipeline) : store_(store), pipeline_(pipeline)
{}

std::optional<HttpResponse>
Router::check_before_body(std::string_view target, std::string_view authorization)
{
    std::string_view path = path_of(target);
    if (path == "/v1/health" || !path.starts_with("/v1/")) {
        return std::nullopt;
    }
    Error e = Error::permanent("unauthorized", "missing or invalid API key");
    if (!authorization.starts_with("Bearer ")) {
        return error_response(401, e);
    }
    auto principal = auth::authenticate_bearer(store_, authorization.substr(7));
    if (!principal) {
        return error_response(401, principal.error());
    }
    return std::nullopt;
}

void Router::handle(HttpRequest req, std::function<void(HttpResponse)> done)
{
    auto fail = [&](const Error& e) { done(error_response(status_for(e), e)); };
    std::string_view path = path_of(req.target);

    if (path == "/v1/health") {
        return done(json_response(200, json::object{{"status", "ok"}}));
    }
    if (!path.starts_with("/v1/")) {
        return fail(Error::permanent("not_found", "no such route"));
    }

    // Everything else needs a key.
    std::string_view authz = req.authorization;
    if (!authz.starts_with("Bearer ")) {
        return fail(Error::permanent("unauthorized", "missing or invalid API key"));
    }
    auto principal = auth::authenticate_bearer(store_, authz.substr(7));
    if (!principal) {
        log::info("api", "auth_failed", {{"route", "/v1"}});
        return fail(principal.error());
    }
    auto require = [&](const char* scope) -> bool {
        if (principal->has_scope(scope)) {
            return true;
        }
        Error e = Error::permanent("insufficient_scope", std::string("needs scope ") + scope);
        fail(e);
        return false;
    };

    if (path == "/v1/messages") {
        if (req.method != "POST") {
            return fail(Error::permanent("method_not_allowed", "use POST"));
        }
        if (!require("messages:send")) {
            return;
        }
        return send_message(*principal, std::move(req), std::move(done));
    }
    if (path.starts_with("/v1/messages/")) {
        auto id = std::string(path.substr(13));
        if (req.method != "GET") {
            return fail(Error::permanent("method_not_allowed", "use GET"));
        }
        if (!require("messages:read")) {
            return;
        }
        auto m = is_safe_id(id) ? store_.find_message(principal->org_id, id) : std::nullopt;
        if (!m) {
            return fail(Error::permanent("not_found", "no such message"));
        }
        record_access(*principal, "message.read", id);
        return done(json_response(200, message_status(*m, store_.recipients_of(id))));
    }
    if (path == "/v1/templates" || path.starts_with("/v1/templates/")) {
        if (!require("templates:write")) {
            return;
        }
        std::string id = path.size() > 14 ? std::string(path.substr(14)) : "";
        return template_route(*principal, req, id, std::move(done));
    }
    return fail(Error::permanent("not_found", "no such route"));
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
    pipeline_.accept(
        principal,
        std::move(*request),
        idempotency,
        [this, org = principal.org_id, idempotency, done = std::move(done)](auto r) {
            if (r) {
                return done(HttpResponse{r->status, r->body, {}});
            }
            // Lost a race on the same Idempotency-Key: answer as the winner did.
            if (r.error().code == "idempotency_race" && idempotency) {
                if (auto replay = replay_idempotent(org, *idempotency)) {
                    return done(std::move(*replay));
                }
            }
            done(error_response(status_for(r.error()), r.error()));
        });
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
