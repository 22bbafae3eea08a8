// Routes for administrators and auditors: keys, sessions, recipient rules,
// events, the audit log and refusal reports. Every query is scoped to the
// caller's organisation.
#include <algorithm>
#include <chrono>

#include "api/api.hpp"
#include "api/route_util.hpp"
#include "audit/audit.hpp"
#include "common/log.hpp"
#include "crypto/crypto.hpp"
#include "mime/mime.hpp"

namespace carepost::api {
namespace {

namespace json = boost::json;

constexpr std::size_t max_page = 500;

// The `limit` query parameter of a listing: 1 to 500 rows (more is capped),
// 100 when absent.
Result<std::size_t> page_size(std::string_view target)
{
    auto limit = integer_param(target, "limit", 100);
    if (!limit) {
        return limit.error();
    }
    if (*limit < 1) {
        return Error::invalid("invalid_value", "limit", "from 1 to 500");
    }
    return std::min<std::size_t>(static_cast<std::size_t>(*limit), max_page);
}

json::value optional_time(const std::optional<std::int64_t>& t)
{
    return t ? json::value(*t) : json::value(nullptr);
}

json::array strings(const std::vector<std::string>& items)
{
    json::array out;
    for (const auto& s : items) {
        out.emplace_back(s);
    }
    return out;
}

// A key as administrators see it: never its digest or sealed secret.
json::object key_json(const store::ApiKeyRow& k)
{
    return {
        {"id", k.id},
        {"name", k.name},
        {"scopes", strings(k.scopes)},
        {"created_at", k.created_at},
        {"expires_at", optional_time(k.expires_at)},
        {"revoked_at", optional_time(k.revoked_at)},
        {"suspended_at", optional_time(k.suspended_at)},
        {"suspended_reason", k.suspended_reason},
        {"templates", strings(k.templates)},
        {"allow_domains", strings(k.allow_domains)},
        {"deny_domains", strings(k.deny_domains)},
        {"requests_per_second", k.requests_per_second},
        {"recipients_per_hour", k.recipients_per_hour},
        {"rotated_from", k.rotated_from},
    };
}

json::object event_json(const store::EventRow& e)
{
    return {
        {"id", e.id},
        {"type", e.type},
        {"time", e.time},
        {"key_id", e.key_id},
        {"message_id", e.message_id},
        {"recipient_id", e.recipient_id},
        {"email", e.email},
        {"reply_code", e.reply_code},
        {"enhanced_status", e.enhanced},
        {"reason", e.reason},
        {"bounce_class", e.bounce_class},
    };
}

Result<auth::KeySettings> key_settings_of(const json::object& o)
{
    auth::KeySettings s;
    if (auto* name = o.if_contains("name"); name && !name->is_null()) {
        if (!name->is_string() || name->get_string().size() > 200) {
            return Error::invalid("invalid_type", "name", "must be a string of at most 200");
        }
        s.name = std::string(name->get_string());
    }
    std::int64_t expires_at = 0;
    for (auto r :
         {read_strings(o, "scopes", s.scopes),
          read_strings(o, "templates", s.templates),
          read_strings(o, "allow_domains", s.allow_domains),
          read_strings(o, "deny_domains", s.deny_domains),
          read_integer(o, "expires_at", expires_at),
          read_integer(o, "requests_per_second", s.requests_per_second),
          read_integer(o, "recipients_per_hour", s.recipients_per_hour)}) {
        if (!r) {
            return r.error();
        }
    }
    if (expires_at > 0) {
        s.expires_at = expires_at;
    }
    for (std::size_t i = 0; i < s.templates.size(); ++i) {
        if (!is_safe_id(s.templates[i])) {
            return Error::invalid(
                "invalid_id",
                "templates[" + std::to_string(i) + "]",
                "letters, digits, - _ . only");
        }
    }
    if (auto r = policy::check_domain_rules({s.allow_domains, s.deny_domains}); !r) {
        return r.error();
    }
    return s;
}

}  // namespace

void Router::keys_route(
    const auth::Principal& principal,
    const HttpRequest& req,
    const std::vector<std::string>& parts,
    Done done)
{
    auto fail = [&](const Error& e) { done(error_response(status_for(e), e)); };
    const std::string& org = principal.org_id;
    std::string id = parts.size() > 2 ? parts[2] : "";

    if (parts.size() == 2 && req.method == "GET") {
        json::array keys;
        for (const auto& k : store_.list_api_keys(org)) {
            keys.push_back(key_json(k));
        }
        record_access(principal, "keys.read", "all");
        return done(json_response(200, json::object{{"data", std::move(keys)}}));
    }
    if (parts.size() == 2) {
        auto body = parse_object(req.body);
        if (!body) {
            return fail(body.error());
        }
        auto settings = key_settings_of(*body);
        if (!settings) {
            return fail(settings.error());
        }
        auto created = auth_.create_key(org, std::move(*settings), principal.key_id);
        if (!created) {
            return fail(created.error());
        }
        auto out = key_json(*store_.find_api_key(org, created->key_id));
        out["key"] = created->secret;
        return done(json_response(201, out));
    }
    if (parts.size() == 3 && req.method == "GET") {
        auto k = store_.find_api_key(org, id);
        if (k) {
            record_access(principal, "keys.read", id);
        }
        return k ? done(json_response(200, key_json(*k)))
                 : fail(Error::permanent("not_found", "no such key"));
    }
    if (parts.size() == 3) {  // DELETE: revoke at once, with its tokens
        auto r = auth_.revoke_key(org, id, principal.key_id);
        return r ? done(json_response(200, json::object{{"id", id}, {"revoked", true}}))
                 : fail(r.error());
    }
    if (parts[3] == "rotate") {
        std::int64_t grace = 86400;
        if (!req.body.empty()) {
            auto body = parse_object(req.body);
            if (!body) {
                return fail(body.error());
            }
            if (auto r = read_integer(*body, "grace_seconds", grace); !r) {
                return fail(r.error());
            }
        }
        auto created = auth_.rotate_key(org, id, grace, principal.key_id);
        if (!created) {
            return fail(created.error());
        }
        auto out = key_json(*store_.find_api_key(org, created->key_id));
        out["key"] = created->secret;
        out["rotated_from"] = id;
        return done(json_response(201, out));
    }
    // unsuspend
    auto r = auth_.lift_suspension(org, id, principal.key_id);
    if (!r) {
        return fail(r.error());
    }
    gate_.lift(id, store::unix_now());
    done(json_response(200, json::object{{"id", id}, {"suspended", false}}));
}

void Router::sessions_route(
    const auth::Principal& principal,
    const HttpRequest& req,
    const std::vector<std::string>& parts,
    Done done)
{
    auto fail = [&](const Error& e) { done(error_response(status_for(e), e)); };
    const std::string& org = principal.org_id;
    if (parts.size() == 2) {
        json::array sessions;
        for (const auto& t : store_.list_tokens(org, store::unix_now())) {
            sessions.push_back(
                {{"id", t.id},
                 {"kind", "token"},
                 {"key_id", t.key_id},
                 {"scopes", strings(t.scopes)},
                 {"created_at", t.created_at},
                 {"expires_at", t.expires_at}});
        }
        for (const auto& [key_id, last] : auth_.signing_clients(org)) {
            sessions.push_back(
                {{"id", key_id},
                 {"kind", "signing_client"},
                 {"key_id", key_id},
                 {"last_used_at", last}});
        }
        record_access(principal, "sessions.read", "all");
        return done(json_response(200, json::object{{"data", std::move(sessions)}}));
    }
    // A token ends alone; a signing client is its key, revoked with its
    // tokens.
    const std::string& id = parts[2];
    auto r = id.starts_with("tok_") ? auth_.revoke_token_by_id(org, id, principal.key_id)
                                    : auth_.revoke_key(org, id, principal.key_id);
    if (!r) {
        return fail(r.error());
    }
    (void)req;
    done(json_response(200, json::object{{"id", id}, {"revoked", true}}));
}

void Router::rules_route(const auth::Principal& principal, const HttpRequest& req, Done done)
{
    auto fail = [&](const Error& e) { done(error_response(status_for(e), e)); };
    const std::string& org_id = principal.org_id;
    if (req.method == "PUT") {
        auto body = parse_object(req.body);
        if (!body) {
            return fail(body.error());
        }
        policy::DomainRules rules;
        for (auto r :
             {read_strings(*body, "allow_domains", rules.allow),
              read_strings(*body, "deny_domains", rules.deny)}) {
            if (!r) {
                return fail(r.error());
            }
        }
        if (auto r = policy::check_domain_rules(rules); !r) {
            return fail(r.error());
        }
        std::int64_t now = store::unix_now();
        auto r = store_.write([&](store::Writer& w) -> Result<void> {
            w.set_org_rules(org_id, rules.allow, rules.deny);
            audit::append(w, {principal.key_id, "rules.updated", org_id, "", "", "ok"}, now);
            return {};
        });
        if (!r) {
            return fail(r.error());
        }
        gate_.forget_org_rules(org_id);
    }
    if (req.method == "GET") {
        record_access(principal, "rules.read", "ok");
    }
    auto org = store_.find_org(org_id);
    if (!org) {
        return fail(Error::permanent("not_found", "no such organisation"));
    }
    done(json_response(
        200,
        json::object{
            {"allow_domains", strings(org->allow_domains)},
            {"deny_domains", strings(org->deny_domains)}}));
}

void Router::events_route(
    const auth::Principal& principal,
    const HttpRequest& req,
    const std::string& message_id,
    Done done)
{
    auto fail = [&](const Error& e) { done(error_response(status_for(e), e)); };
    auto after = integer_param(req.target, "after", 0);
    auto limit = page_size(req.target);
    if (!after || !limit) {
        return fail(!after ? after.error() : limit.error());
    }
    auto since = integer_param(req.target, "since", 0);
    auto until = integer_param(req.target, "until", INT64_MAX);
    if (!since || !until) {
        return fail(!since ? since.error() : until.error());
    }
    store::EventFilter filter;
    filter.type = query_param(req.target, "type").value_or("");
    filter.message_id =
        message_id.empty() ? query_param(req.target, "message_id").value_or("") : message_id;
    filter.recipient_id = query_param(req.target, "recipient_id").value_or("");
    filter.since = *since;
    filter.until = *until;
    auto page = *limit;
    auto rows = store_.events(principal.org_id, *after, filter, page);
    json::array data;
    for (const auto& e : rows) {
        data.push_back(event_json(e));
    }
    json::value next =
        rows.size() == page ? json::value(std::to_string(rows.back().seq)) : json::value(nullptr);
    done(json_response(200, json::object{{"data", std::move(data)}, {"next_cursor", next}}));
}

void Router::audit_route(const auth::Principal& principal, const HttpRequest& req, Done done)
{
    auto fail = [&](const Error& e) { done(error_response(status_for(e), e)); };
    auto after = integer_param(req.target, "after", 0);
    auto limit = page_size(req.target);
    if (!after || !limit) {
        return fail(!after ? after.error() : limit.error());
    }
    auto page = *limit;
    auto rows = store_.audit_of_org(principal.org_id, *after, page);
    record_access(principal, "audit.read", std::to_string(rows.size()) + " records");
    json::array data;
    for (const auto& a : rows) {
        data.push_back(
            {{"seq", a.seq},
             {"time", a.time},
             {"actor", a.actor},
             {"action", a.action},
             {"message_id", a.message_id},
             {"recipient", a.recipient},
             {"outcome", a.outcome},
             {"hash", a.hash}});
    }
    json::value next =
        rows.size() == page ? json::value(std::to_string(rows.back().seq)) : json::value(nullptr);
    done(json_response(200, json::object{{"data", std::move(data)}, {"next_cursor", next}}));
}

void Router::reports_route(const auth::Principal& principal, const HttpRequest& req, Done done)
{
    auto fail = [&](const Error& e) { done(error_response(status_for(e), e)); };
    auto days = integer_param(req.target, "days", 30);
    if (!days) {
        return fail(days.error());
    }
    std::int64_t since = store::unix_now() / 86400 - std::min<std::int64_t>(*days, 3660);
    record_access(principal, "reports.read", "refusals");
    json::array data;
    std::int64_t total = 0;
    for (const auto& r : store_.refusals(principal.org_id, since)) {
        data.push_back(
            {{"key_id", r.key_id},
             {"day", r.day * 86400},
             {"reason", r.reason},
             {"count", r.count}});
        total += r.count;
    }
    done(json_response(200, json::object{{"data", std::move(data)}, {"total", total}}));
}

}  // namespace carepost::api

namespace carepost::api {
namespace {

json::object webhook_json(const store::WebhookRow& w)
{
    json::array types;
    for (const auto& t : w.types) {
        types.emplace_back(t);
    }
    return {
        {"id", w.id},
        {"url", w.url},
        {"types", std::move(types)},
        {"enabled", w.enabled},
        {"disabled_reason", w.disabled_reason},
        {"created_at", w.created_at}};
}

bool is_stream_name(std::string_view s)
{
    return s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
               return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
           });
}

}  // namespace

void Router::suppressions_route(const auth::Principal& principal, const HttpRequest& req, Done done)
{
    auto fail = [&](const Error& e) { done(error_response(status_for(e), e)); };
    const std::string& org = principal.org_id;
    if (req.method == "GET") {
        auto limit = page_size(req.target);
        if (!limit) {
            return fail(limit.error());
        }
        // The cursor is "email|stream" of the last row of the page before.
        std::string after = query_param(req.target, "after").value_or("");
        auto bar = after.rfind('|');
        std::string after_email = bar == std::string::npos ? after : after.substr(0, bar);
        std::string after_stream = bar == std::string::npos ? "" : after.substr(bar + 1);
        auto page = *limit;
        auto filter = query_param(req.target, "email").value_or("");
        auto rows = store_.suppressions(
            org,
            filter.empty() ? "" : mime::canonical_mailbox(filter),
            after_email,
            after_stream,
            page);
        json::array data;
        for (const auto& r : rows) {
            data.push_back(
                {{"email", r.email},
                 {"stream", r.stream},
                 {"reason", r.reason},
                 {"source", r.source},
                 {"created_at", r.created_at}});
        }
        json::value next = rows.size() == page
                               ? json::value(rows.back().email + "|" + rows.back().stream)
                               : json::value(nullptr);
        return done(
            json_response(200, json::object{{"data", std::move(data)}, {"next_cursor", next}}));
    }

    store::SuppressionRow row{org, "", "", "manual", "api", store::unix_now()};
    if (req.method == "POST") {
        auto body = parse_object(req.body);
        if (!body) {
            return fail(body.error());
        }
        for (auto [key, dst] :
             {std::pair{"email", &row.email}, {"stream", &row.stream}, {"reason", &row.reason}}) {
            auto* v = body->if_contains(key);
            if (v && !v->is_string()) {
                return fail(Error::invalid("invalid_type", key, "must be a string"));
            }
            if (v) {
                *dst = std::string(v->get_string());
            }
        }
    } else {
        row.email = query_param(req.target, "email").value_or("");
        row.stream = query_param(req.target, "stream").value_or("");
    }
    if (!mime::parse_address(row.email)) {
        return fail(Error::invalid("invalid_address", "email", "not a valid email address"));
    }
    row.email = mime::canonical_mailbox(row.email);
    if (!is_stream_name(row.stream) || row.reason.empty() || row.reason.size() > 64) {
        return fail(Error::invalid("invalid_value", "stream", "a stream name, or empty for all"));
    }
    bool is_add = req.method == "POST";
    bool changed = false;
    auto r = store_.write([&](store::Writer& w) -> Result<void> {
        changed =
            is_add ? w.add_suppression(row) : w.remove_suppression(org, row.email, row.stream);
        if (changed) {
            audit::append(
                w,
                {principal.key_id,
                 is_add ? "suppression.added" : "suppression.removed",
                 org,
                 "",
                 row.email,
                 row.stream.empty() ? "all streams" : "stream " + row.stream},
                row.created_at);
        }
        return {};
    });
    if (!r) {
        return fail(r.error());
    }
    if (!is_add && !changed) {
        return fail(Error::permanent("not_found", "no such suppression"));
    }
    done(json_response(
        is_add && changed ? 201 : 200,
        json::object{{"email", row.email}, {"stream", row.stream}, {"suppressed", is_add}}));
}

void Router::webhooks_route(
    const auth::Principal& principal,
    const HttpRequest& req,
    const std::vector<std::string>& parts,
    Done done)
{
    auto fail = [&](const Error& e) { done(error_response(status_for(e), e)); };
    const std::string& org = principal.org_id;
    if (parts.size() == 2 && req.method == "GET") {
        json::array data;
        for (const auto& w : store_.webhooks(org)) {
            data.push_back(webhook_json(w));
        }
        return done(json_response(200, json::object{{"data", std::move(data)}}));
    }
    if (parts.size() == 2) {
        auto body = parse_object(req.body);
        if (!body) {
            return fail(body.error());
        }
        store::WebhookRow row;
        auto* url = body->if_contains("url");
        if (!url || !url->is_string() || url->get_string().size() > 2048) {
            return fail(Error::invalid("missing_field", "url", "an https URL is required"));
        }
        row.url = std::string(url->get_string());
        if (auto r = read_strings(*body, "types", row.types); !r) {
            return fail(r.error());
        }
        // Refuses plain http and private, loopback and link-local
        // addresses (the dispatcher checks again at every connection).
        if (auto checked = events::check_endpoint_url(row.url, options_.webhooks); !checked) {
            return fail(checked.error());
        }
        std::string secret = "whsec_" + crypto::random_token(32);
        row.id = "whk_" + crypto::random_hex(8);
        row.org_id = org;
        row.created_at = store::unix_now();
        auto sealed = keys_.seal_for_org(org, "webhook:" + row.id, secret);
        if (!sealed) {
            return fail(sealed.error());
        }
        row.sealed_secret = std::move(*sealed);
        auto r = store_.write([&](store::Writer& w) -> Result<void> {
            row.cursor_seq = w.last_event_seq();  // from now on
            w.insert_webhook(row);
            audit::append(
                w, {principal.key_id, "webhook.created", org, "", "", row.id}, row.created_at);
            return {};
        });
        if (!r) {
            return fail(r.error());
        }
        auto out = webhook_json(row);
        out["secret"] = secret;
        return done(json_response(201, out));
    }

    const std::string& id = parts[2];
    auto existing = store_.find_webhook(org, id);
    if (!existing) {
        return fail(Error::permanent("not_found", "no such webhook"));
    }
    if (req.method == "GET") {
        return done(json_response(200, webhook_json(*existing)));
    }
    std::int64_t now = store::unix_now();
    bool is_delete = req.method == "DELETE";
    auto r = store_.write([&](store::Writer& w) -> Result<void> {
        bool changed =
            is_delete ? w.delete_webhook(org, id) : w.set_webhook_enabled(org, id, true, "");
        if (!changed) {
            return Error::permanent("not_found", "no such webhook");
        }
        audit::append(
            w,
            {principal.key_id, is_delete ? "webhook.deleted" : "webhook.enabled", org, "", "", id},
            now);
        return {};
    });
    if (!r) {
        return fail(r.error());
    }
    done(json_response(200, json::object{{"id", id}, {is_delete ? "deleted" : "enabled", true}}));
}

}  // namespace carepost::api
