// policy: RateLimit, RateLimit-Policy and Retry-After headers for a decision.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include <fmt/format.h>

#include "policy/policy.hpp"

namespace carepost::policy {

namespace {

// An RFC 8941 sf-string: printable ASCII only, with '"' and '\' escaped.
std::string quote_name(std::string_view name)
{
    std::string out = "\"";
    for (char c : name) {
        if (c < 0x20 || c > 0x7e) {
            continue;
        }
        if (c == '"' || c == '\\') {
            out += '\\';
        }
        out += c;
    }
    out += '"';
    return out;
}

std::int64_t ceil_seconds(std::int64_t ms)
{
    return ms <= 0 ? 0 : (ms + 999) / 1000;
}

}  // namespace

std::vector<std::pair<std::string, std::string>>
rate_limit_headers(const std::string& policy_name, const Rate& rate, const Decision& d)
{
    std::vector<std::pair<std::string, std::string>> headers;
    if (rate.is_unlimited()) {
        return headers;
    }
    const std::string name = quote_name(policy_name);

    // Quota and remaining are whole tokens; a partial token cannot be spent.
    auto quota = static_cast<std::int64_t>(std::floor(std::max(0.0, rate.burst)));
    auto window = static_cast<std::int64_t>(std::ceil(std::max(0.0, rate.burst) / rate.per_second));
    auto remaining = static_cast<std::int64_t>(std::floor(std::max(0.0, d.remaining)));
    headers.emplace_back(
        "RateLimit-Policy",
        fmt::format("{};q={};w={}", name, quota, std::max<std::int64_t>(1, window)));
    headers.emplace_back(
        "RateLimit", fmt::format("{};r={};t={}", name, remaining, ceil_seconds(d.reset_ms)));

    // RFC 9110 §10.2.3: delay-seconds; 0 would invite an immediate retry.
    if (!d.allowed && d.retry_after_ms >= 0) {
        headers.emplace_back(
            "Retry-After",
            fmt::format("{}", std::max<std::int64_t>(1, ceil_seconds(d.retry_after_ms))));
    }
    return headers;
}

}  // namespace carepost::policy
