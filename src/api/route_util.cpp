#include "api/route_util.hpp"

#include <algorithm>
#include <chrono>

namespace carepost::api {

namespace json = boost::json;

int status_for(const Error& e)
{
    static const std::pair<const char*, int> table[] = {
        {"unauthorized", 401},
        {"insufficient_scope", 403},
        {"key_suspended", 403},
        {"not_found", 404},
        {"template_not_found", 422},
        {"idempotency_conflict", 409},
        {"invalid_json", 400},
        {"invalid_type", 400},
        {"missing_field", 400},
        {"payload_too_large", 413},
        {"message_too_large", 413},
        {"method_not_allowed", 405},
        {"rate_limited", 429},
        {"too_many_failures", 429},
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

std::int64_t now_ms()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

HttpResponse with_headers(HttpResponse r, std::vector<std::pair<std::string, std::string>> headers)
{
    for (auto& h : headers) {
        r.headers.push_back(std::move(h));
    }
    return r;
}

HttpResponse json_response(int status, const json::value& v)
{
    return {status, json::serialize(v), {}};
}

std::string_view path_of(std::string_view target)
{
    return target.substr(0, target.find('?'));
}

namespace {

int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

std::string percent_decode(std::string_view in)
{
    std::string out;
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '+') {
            out.push_back(' ');
        } else if (
            in[i] == '%' && i + 2 < in.size() && hex_value(in[i + 1]) >= 0 &&
            hex_value(in[i + 2]) >= 0) {
            out.push_back(static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2])));
            i += 2;
        } else {
            out.push_back(in[i]);
        }
    }
    return out;
}

}  // namespace

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
        if (eq != std::string_view::npos && pair.substr(0, eq) == name) {
            return percent_decode(pair.substr(eq + 1));
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
    return std::all_of(id.begin(), id.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '-' || c == '_' || c == '.';
    });
}

Result<std::int64_t>
integer_param(std::string_view target, std::string_view name, std::int64_t fallback)
{
    auto v = query_param(target, name);
    if (!v) {
        return fallback;
    }
    bool is_number = !v->empty() && v->size() < 16 &&
                     std::all_of(v->begin(), v->end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!is_number) {
        return Error::invalid("invalid_type", std::string(name), "must be a non-negative integer");
    }
    return std::stoll(*v);
}

Result<void> read_strings(const json::object& o, const char* name, std::vector<std::string>& out)
{
    auto* v = o.if_contains(name);
    if (!v || v->is_null()) {
        return {};
    }
    if (!v->is_array()) {
        return Error::invalid("invalid_type", name, "must be an array of strings");
    }
    out.clear();
    for (std::size_t i = 0; i < v->get_array().size(); ++i) {
        const auto& item = v->get_array()[i];
        if (!item.is_string() || item.get_string().size() > 253) {
            return Error::invalid(
                "invalid_type",
                std::string(name) + "[" + std::to_string(i) + "]",
                "must be a string of at most 253 characters");
        }
        out.emplace_back(item.get_string());
    }
    return {};
}

Result<void> read_integer(const json::object& o, const char* name, std::int64_t& out)
{
    auto* v = o.if_contains(name);
    if (!v || v->is_null()) {
        return {};
    }
    if (!v->is_int64() && !v->is_uint64()) {
        return Error::invalid("invalid_type", name, "must be an integer");
    }
    if (v->is_uint64() || v->get_int64() < 0) {
        return Error::invalid("invalid_type", name, "must be a non-negative integer");
    }
    out = v->get_int64();
    return {};
}

Result<json::object> parse_object(const std::string& body)
{
    boost::system::error_code ec;
    json::value doc = json::parse(body, ec);
    if (ec || !doc.is_object()) {
        return Error::invalid("invalid_json", "", "the body must be a JSON object");
    }
    return std::move(doc.get_object());
}

}  // namespace carepost::api
