#include <map>
#include <string>

#include <gtest/gtest.h>

#include "policy/policy.hpp"

namespace carepost::policy {
namespace {

std::map<std::string, std::string>
as_map(const std::vector<std::pair<std::string, std::string>>& headers)
{
    std::map<std::string, std::string> m;
    for (const auto& [name, value] : headers) {
        EXPECT_TRUE(m.emplace(name, value).second) << "duplicate " << name;
    }
    return m;
}

TEST(RateLimitHeaders, allowed_decision_gets_policy_and_state_without_retry_after)
{
    Decision d;
    d.limit = 100;
    d.remaining = 42.7;
    d.reset_ms = 5730;
    auto h = as_map(rate_limit_headers("send", Rate{10, 100}, d));
    EXPECT_EQ(h.size(), 2u);
    EXPECT_EQ(h["RateLimit-Policy"], R"("send";q=100;w=10)");
    EXPECT_EQ(h["RateLimit"], R"("send";r=42;t=6)");
}

TEST(RateLimitHeaders, window_rounds_up_and_is_at_least_one_second)
{
    Decision d;
    EXPECT_EQ(
        as_map(rate_limit_headers("p", Rate{3, 10}, d))["RateLimit-Policy"], R"("p";q=10;w=4)");
    EXPECT_EQ(
        as_map(rate_limit_headers("p", Rate{500, 10}, d))["RateLimit-Policy"], R"("p";q=10;w=1)");
}

TEST(RateLimitHeaders, refusal_adds_retry_after_in_whole_seconds_rounded_up)
{
    Decision d;
    d.allowed = false;
    d.retry_after_ms = 1200;
    d.reset_ms = 9000;
    auto h = as_map(rate_limit_headers("send", Rate{1, 10}, d));
    EXPECT_EQ(h["Retry-After"], "2");
    EXPECT_EQ(h["RateLimit"], R"("send";r=0;t=9)");

    d.retry_after_ms = 1;
    EXPECT_EQ(as_map(rate_limit_headers("send", Rate{1, 10}, d))["Retry-After"], "1");
    d.retry_after_ms = 3000;
    EXPECT_EQ(as_map(rate_limit_headers("send", Rate{1, 10}, d))["Retry-After"], "3");
}

TEST(RateLimitHeaders, cost_that_never_fits_gets_no_retry_after)
{
    Decision d;
    d.allowed = false;
    d.retry_after_ms = -1;
    auto h = as_map(rate_limit_headers("send", Rate{1, 10}, d));
    EXPECT_EQ(h.count("Retry-After"), 0u);
    EXPECT_EQ(h.size(), 2u);
}

TEST(RateLimitHeaders, unlimited_rate_gets_no_headers)
{
    EXPECT_TRUE(rate_limit_headers("send", Rate{0, 10}, Decision{}).empty());
}

TEST(RateLimitHeaders, name_is_a_quoted_string_with_escapes_and_no_controls)
{
    auto h = as_map(rate_limit_headers("a\"b\\c\r\nd\x80", Rate{1, 1}, Decision{}));
    EXPECT_EQ(h["RateLimit"], R"("a\"b\\cd";r=0;t=0)");
}

// The headers follow what the limiter decided, not a fixed answer.
TEST(RateLimitHeaders, follow_a_limiter_decision)
{
    RateLimiter limiter;
    Rate rate{2, 6};
    Decision d;
    for (int i = 0; i < 7; ++i) {
        d = limiter.take("k", rate, 1, 1000);
    }
    ASSERT_FALSE(d.allowed);
    auto h = as_map(rate_limit_headers("key", rate, d));
    EXPECT_EQ(h["RateLimit-Policy"], R"("key";q=6;w=3)");
    EXPECT_EQ(h["RateLimit"], R"("key";r=0;t=3)");
    EXPECT_EQ(h["Retry-After"], "1");  // 500 ms, rounded up
}

}  // namespace
}  // namespace carepost::policy
