#include "api/send_request.hpp"

#include <algorithm>

#include <boost/json.hpp>

#include "crypto/crypto.hpp"

namespace carepost::api {
namespace {

namespace json = boost::json;

Error wrong_type(const std::string& path, const char* expected)
{
    return Error::invalid("invalid_type", path, std::string("must be ") + expected);
}

Result<std::string> get_string(const json::object& o, const char* key, const std::string& path)
{
    auto* v = o.if_contains(key);
    if (!v || v->is_null()) {
        return std::string();
    }
    if (!v->is_string()) {
        return wrong_type(path, "a string");
    }
    return std::string(v->get_string());
}

// An address is "a@b.example" or {"email": ..., "name": ...}.
Result<mime::Mailbox> get_mailbox(const json::value& v, const std::string& path)
{
    if (v.is_string()) {
        return mime::Mailbox{std::string(v.get_string()), ""};
    }
    if (!v.is_object()) {
        return wrong_type(path, "an address string or an object with email and name");
    }
    const auto& o = v.get_object();
    auto email = get_string(o, "email", path + ".email");
    auto name = get_string(o, "name", path + ".name");
    if (!email) {
        return email.error();
    }
    if (!name) {
        return name.error();
    }
    if (email->empty()) {
        return Error::invalid("missing_field", path + ".email", "is required");
    }
    return mime::Mailbox{std::move(*email), std::move(*name)};
}

Result<std::vector<mime::Mailbox>> get_mailboxes(const json::object& o, const char* key)
{
    std::vector<mime::Mailbox> out;
    auto* v = o.if_contains(key);
    if (!v || v->is_null()) {
        return out;
    }
    if (!v->is_array()) {
        return wrong_type(key, "an array");
    }
    const auto& a = v->get_array();
    for (std::size_t i = 0; i < a.size(); ++i) {
        auto m = get_mailbox(a[i], std::string(key) + "[" + std::to_string(i) + "]");
        if (!m) {
            return m.error();
        }
        out.push_back(std::move(*m));
    }
    return out;
}

Result<std::vector<mime::Attachment>> get_attachments(const json::object& o)
{
    std::vector<mime::Attachment> out;
    auto* v = o.if_contains("attachments");
    if (!v || v->is_null()) {
        return out;
    }
    if (!v->is_array()) {
        return wrong_type("attachments", "an array");
    }
    const auto& a = v->get_array();
    for (std::size_t i = 0; i < a.size(); ++i) {
        std::string path = "attachments[" + std::to_string(i) + "]";
        if (!a[i].is_object()) {
            return wrong_type(path, "an object");
        }
        const auto& ao = a[i].get_object();
        auto filename = get_string(ao, "filename", path + ".filename");
        auto type = get_string(ao, "content_type", path + ".content_type");
        auto content = get_string(ao, "content", path + ".content");
        for (auto* r : {&filename, &type, &content}) {
            if (!*r) {
                return r->error();
            }
        }
        if (filename->empty()) {
            return Error::invalid("missing_field", path + ".filename", "is required");
        }
        if (!ao.contains("content")) {
            return Error::invalid("missing_field", path + ".content", "is required");
        }
        auto decoded = crypto::base64_decode(*content);
        if (!decoded) {
            return Error::invalid("invalid_base64", path + ".content", "must be base64");
        }
        out.push_back(
            {std::move(*filename),
             type->empty() ? "application/octet-stream" : std::move(*type),
             std::move(*decoded)});
    }
    return out;
}

Result<void> get_headers(const json::object& o, accept::SendRequest& r)
{
    auto* v = o.if_contains("headers");
    if (!v || v->is_null()) {
        return {};
    }
    if (!v->is_object()) {
        return wrong_type("headers", "an object of strings");
    }
    for (const auto& [name, value] : v->get_object()) {
        if (!value.is_string()) {
            return wrong_type("headers." + std::string(name), "a string");
        }
        r.headers.emplace_back(std::string(name), std::string(value.get_string()));
    }
    return {};
}

Result<void> get_template(const json::object& o, accept::SendRequest& r)
{
    if (auto* id = o.if_contains("template_id"); id && !id->is_null()) {
        if (!id->is_string()) {
            return wrong_type("template_id", "a string");
        }
        r.template_id = std::string(id->get_string());
    }
    if (auto* ver = o.if_contains("template_version"); ver && !ver->is_null()) {
        if (!ver->is_int64()) {
            return wrong_type("template_version", "an integer");
        }
        r.template_version = ver->get_int64();
    }
    if (auto* t = o.if_contains("template"); t && !t->is_null()) {
        if (!t->is_object()) {
            return wrong_type("template", "an object with subject, text and html");
        }
        accept::TemplateSource src;
        for (auto [key, dst] :
             {std::pair{"subject", &src.subject}, {"text", &src.text}, {"html", &src.html}}) {
            auto s = get_string(t->get_object(), key, std::string("template.") + key);
            if (!s) {
                return s.error();
            }
            *dst = std::move(*s);
        }
        r.inline_template = std::move(src);
    }
    if (r.template_version && !r.template_id) {
        return Error::invalid("missing_field", "template_id", "template_version needs template_id");
    }
    if (r.template_id && r.inline_template) {
        return Error::invalid("conflicting_fields", "template", "give template_id or template");
    }
    if (auto* d = o.if_contains("template_data"); d && !d->is_null()) {
        if (!d->is_object()) {
            return wrong_type("template_data", "an object");
        }
        r.template_data = *d;
    } else {
        r.template_data = json::object();
    }
    return {};
}

Result<void> get_tags(const json::object& o, accept::SendRequest& r)
{
    if (auto* m = o.if_contains("metadata"); m && !m->is_null() && !m->is_object()) {
        return wrong_type("metadata", "an object");
    }
    auto* v = o.if_contains("tags");
    if (!v || v->is_null()) {
        return {};
    }
    if (!v->is_array()) {
        return wrong_type("tags", "an array of strings");
    }
    for (const auto& t : v->get_array()) {
        if (!t.is_string()) {
            return wrong_type("tags", "an array of strings");
        }
        r.tags.emplace_back(t.get_string());
    }
    return {};
}

// Stream and tracking choices: which suppression list applies, and what
// may be added to the message.
Result<void> get_stream(const json::object& o, accept::SendRequest& r)
{
    if (auto* v = o.if_contains("stream"); v && !v->is_null()) {
        if (!v->is_string()) {
            return wrong_type("stream", "a string");
        }
        std::string_view name = v->get_string();
        bool is_name =
            !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
                return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
            });
        if (!is_name) {
            return Error::invalid("invalid_value", "stream", "a-z, 0-9, - and _ only, up to 64");
        }
        r.stream = std::string(name);
    }
    if (auto* v = o.if_contains("phi"); v && !v->is_null()) {
        if (!v->is_bool()) {
            return wrong_type("phi", "true or false");
        }
        r.contains_phi = v->get_bool();
    }
    for (auto [key, dst] :
         {std::pair{"track_opens", &r.track_opens}, {"track_clicks", &r.track_clicks}}) {
        if (auto* v = o.if_contains(key); v && !v->is_null()) {
            if (!v->is_bool()) {
                return wrong_type(key, "true or false");
            }
            *dst = v->get_bool();
        }
    }
    if (auto* v = o.if_contains("list_unsubscribe"); v && !v->is_null()) {
        if (!v->is_bool()) {
            return wrong_type("list_unsubscribe", "true or false");
        }
        r.list_unsubscribe = v->get_bool();
    }
    return {};
}

}  // namespace

Result<accept::SendRequest> parse_send_request(std::string_view body)
{
    boost::system::error_code ec;
    json::value doc = json::parse(body, ec);
    if (ec) {
        return Error::invalid("invalid_json", "", "the body is not valid JSON");
    }
    if (!doc.is_object()) {
        return Error::invalid("invalid_json", "", "the body must be a JSON object");
    }
    const auto& o = doc.get_object();
    accept::SendRequest r;

    auto* from = o.if_contains("from");
    if (!from || from->is_null()) {
        return Error::invalid("missing_field", "from", "is required");
    }
    auto sender = get_mailbox(*from, "from");
    if (!sender) {
        return sender.error();
    }
    r.from = std::move(*sender);
    if (auto* rt = o.if_contains("reply_to"); rt && !rt->is_null()) {
        auto m = get_mailbox(*rt, "reply_to");
        if (!m) {
            return m.error();
        }
        r.reply_to = std::move(*m);
    }
    for (auto [key, dst] : {std::pair{"to", &r.to}, {"cc", &r.cc}, {"bcc", &r.bcc}}) {
        auto list = get_mailboxes(o, key);
        if (!list) {
            return list.error();
        }
        *dst = std::move(*list);
    }
    for (auto [key, dst] :
         {std::pair{"subject", &r.subject}, {"text", &r.text}, {"html", &r.html}}) {
        auto s = get_string(o, key, key);
        if (!s) {
            return s.error();
        }
        *dst = std::move(*s);
    }
    auto attachments = get_attachments(o);
    if (!attachments) {
        return attachments.error();
    }
    r.attachments = std::move(*attachments);
    for (auto step : {get_headers, get_template, get_tags, get_stream}) {
        if (auto s = step(o, r); !s) {
            return s.error();
        }
    }
    return r;
}

}  // namespace carepost::api
