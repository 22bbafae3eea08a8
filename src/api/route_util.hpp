// Shared by the api's translation units: JSON responses, errors, query
// parameters and ids.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "api/api.hpp"

namespace carepost::api {

int status_for(const Error& e);
std::int64_t now_ms();  // wall clock, milliseconds since the epoch
HttpResponse with_headers(HttpResponse r, std::vector<std::pair<std::string, std::string>> headers);
HttpResponse json_response(int status, const boost::json::value& v);
std::string_view path_of(std::string_view target);
// The value of one query parameter, percent-decoded; nothing when absent.
std::optional<std::string> query_param(std::string_view target, std::string_view name);
bool is_safe_id(std::string_view id);
// A non-negative integer query parameter; `fallback` when absent, error
// `invalid_type` when not a number.
Result<std::int64_t>
integer_param(std::string_view target, std::string_view name, std::int64_t fallback);

// Reads an optional array of strings from a JSON object.
Result<void>
read_strings(const boost::json::object& o, const char* name, std::vector<std::string>& out);
Result<void> read_integer(const boost::json::object& o, const char* name, std::int64_t& out);
// Parses a JSON object body: error invalid_json otherwise.
Result<boost::json::object> parse_object(const std::string& body);

}  // namespace carepost::api
