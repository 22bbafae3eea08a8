#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "policy/policy.hpp"

namespace carepost::policy {
namespace {

constexpr std::int64_t t0 = 1'700'000'000'000;

TEST(RateLimiter, starts_full_allows_the_burst_then_refuses)
{
    RateLimiter limiter;
    Rate rate{10, 5};
    for (int i = 0; i < 5; ++i) {
        Decision d = limiter.take("k", rate, 1, t0);
        ASSERT_TRUE(d.allowed) << i;
        EXPECT_DOUBLE_EQ(d.limit, 5);
        EXPECT_DOUBLE_EQ(d.remaining, 4 - i);
    }
    Decision d = limiter.take("k", rate, 1, t0);
    EXPECT_FALSE(d.allowed);
    EXPECT_EQ(d.retry_after_ms, 100);
    EXPECT_EQ(d.reset_ms, 500);
}

TEST(RateLimiter, refills_at_its_rate_up_to_the_burst)
{
    RateLimiter limiter;
    Rate rate{10, 5};
    ASSERT_TRUE(limiter.take("k", rate, 5, t0).allowed);

    // 250 ms at 10/s: 2.5 tokens.
    EXPECT_TRUE(limiter.take("k", rate, 2, t0 + 250).allowed);
    Decision d = limiter.take("k", rate, 1, t0 + 250);
    EXPECT_FALSE(d.allowed);
    EXPECT_EQ(d.retry_after_ms, 50);

    // An hour idle refills to the burst, not beyond.
    d = limiter.take("k", rate, 1, t0 + 3'600'000);
    EXPECT_TRUE(d.allowed);
    EXPECT_DOUBLE_EQ(d.remaining, 4);
    EXPECT_EQ(d.reset_ms, 100);
}

TEST(RateLimiter, refusal_takes_nothing)
{
    RateLimiter limiter;
    Rate rate{1, 5};
    ASSERT_TRUE(limiter.take("k", rate, 2, t0).allowed);
    for (int i = 0; i < 10; ++i) {
        EXPECT_FALSE(limiter.take("k", rate, 4, t0).allowed);
    }
    Decision d = limiter.take("k", rate, 3, t0);
    EXPECT_TRUE(d.allowed);
    EXPECT_DOUBLE_EQ(d.remaining, 0);
}

// Oracle: with integer costs and a rate of n/d tokens a second, the wait for
// k tokens from empty is ceil(k * 1000 * d / n) ms, computed in integers.
TEST(RateLimiter, retry_after_is_exact)
{
    struct Case {
        std::int64_t numerator, denominator, burst, cost;
    };
    const Case cases[] = {
        {10, 1, 5, 1},
        {7, 1, 7, 3},
        {3, 1, 10, 10},
        {1, 60, 2, 1},
        {7, 2, 9, 4},
        {1000, 1, 50, 17},
        {9, 7, 3, 2},
    };
    for (const Case& c : cases) {
        RateLimiter limiter;
        Rate rate{static_cast<double>(c.numerator) / c.denominator, static_cast<double>(c.burst)};
        ASSERT_TRUE(limiter.take("k", rate, static_cast<double>(c.burst), t0).allowed);

        std::int64_t expected = (c.cost * 1000 * c.denominator + c.numerator - 1) / c.numerator;
        Decision d = limiter.take("k", rate, static_cast<double>(c.cost), t0);
        ASSERT_FALSE(d.allowed);
        EXPECT_EQ(d.retry_after_ms, expected) << c.numerator << "/" << c.denominator;

        EXPECT_FALSE(
            limiter.take("k", rate, static_cast<double>(c.cost), t0 + expected - 1).allowed)
            << c.numerator << "/" << c.denominator;
        EXPECT_TRUE(limiter.take("k", rate, static_cast<double>(c.cost), t0 + expected).allowed)
            << c.numerator << "/" << c.denominator;
    }
}

TEST(RateLimiter, cost_above_the_burst_can_never_fit)
{
    RateLimiter limiter;
    Decision d = limiter.take("k", Rate{100, 10}, 11, t0);
    EXPECT_FALSE(d.allowed);
    EXPECT_EQ(d.retry_after_ms, -1);
    EXPECT_DOUBLE_EQ(d.remaining, 10);
}

TEST(RateLimiter, unlimited_rate_always_allows_and_keeps_no_bucket)
{
    RateLimiter limiter;
    for (int i = 0; i < 1000; ++i) {
        EXPECT_TRUE(limiter.take("k", Rate{0, 0}, 1e9, t0).allowed);
    }
    EXPECT_EQ(limiter.size(), 0u);
}

TEST(RateLimiter, clock_going_back_refills_nothing)
{
    RateLimiter limiter;
    Rate rate{10, 5};
    ASSERT_TRUE(limiter.take("k", rate, 5, t0 + 1000).allowed);
    EXPECT_FALSE(limiter.take("k", rate, 1, t0).allowed);
    EXPECT_FALSE(limiter.take("k", rate, 1, t0 + 1099).allowed);
    EXPECT_TRUE(limiter.take("k", rate, 1, t0 + 1100).allowed);
}

TEST(RateLimiter, lowered_burst_cuts_the_tokens)
{
    RateLimiter limiter;
    ASSERT_TRUE(limiter.take("k", Rate{10, 100}, 1, t0).allowed);
    Decision d = limiter.take("k", Rate{10, 5}, 1, t0);
    EXPECT_TRUE(d.allowed);
    EXPECT_DOUBLE_EQ(d.remaining, 4);
}

TEST(RateLimiter, take_all_charges_every_bucket_or_none)
{
    RateLimiter limiter;
    Rate key_rate{1, 5};
    Rate org_rate{1, 3};
    ASSERT_TRUE(limiter.take("org", org_rate, 2, t0).allowed);  // org: 1 left

    std::vector<std::pair<std::string, Rate>> both{{"key", key_rate}, {"org", org_rate}};
    RateLimiter::Multi m = limiter.take_all(both, 2, t0);
    EXPECT_FALSE(m.decision.allowed);
    EXPECT_EQ(m.refused_index, 1);
    EXPECT_EQ(m.decision.retry_after_ms, 1000);

    // The key bucket was not charged: all 5 tokens are still there.
    EXPECT_TRUE(limiter.take("key", key_rate, 5, t0).allowed);

    // Later both allow, and both are charged.
    m = limiter.take_all(both, 1, t0 + 2000);
    EXPECT_TRUE(m.decision.allowed);
    EXPECT_EQ(m.refused_index, -1);
    EXPECT_DOUBLE_EQ(limiter.take("key", key_rate, 0, t0 + 2000).remaining, 1);
    EXPECT_DOUBLE_EQ(limiter.take("org", org_rate, 0, t0 + 2000).remaining, 2);
}

TEST(RateLimiter, take_all_reports_the_most_restrictive_decision)
{
    RateLimiter limiter;
    std::vector<std::pair<std::string, Rate>> buckets{
        {"wide", Rate{100, 100}}, {"narrow", Rate{1, 4}}, {"free", Rate{}}};
    RateLimiter::Multi m = limiter.take_all(buckets, 1, t0);
    ASSERT_TRUE(m.decision.allowed);
    EXPECT_DOUBLE_EQ(m.decision.limit, 4);
    EXPECT_DOUBLE_EQ(m.decision.remaining, 3);

    // Both refuse: the longer wait wins.
    RateLimiter drained;
    std::vector<std::pair<std::string, Rate>> slow_second{{"a", Rate{10, 2}}, {"b", Rate{1, 2}}};
    ASSERT_TRUE(drained.take_all(slow_second, 2, t0).decision.allowed);
    m = drained.take_all(slow_second, 1, t0);
    EXPECT_FALSE(m.decision.allowed);
    EXPECT_EQ(m.refused_index, 1);
    EXPECT_EQ(m.decision.retry_after_ms, 1000);
}

TEST(RateLimiter, take_all_charges_a_repeated_key_twice)
{
    RateLimiter limiter;
    Rate rate{1, 3};
    std::vector<std::pair<std::string, Rate>> twice{{"k", rate}, {"k", rate}};
    EXPECT_TRUE(limiter.take_all(twice, 1, t0).decision.allowed);
    EXPECT_DOUBLE_EQ(limiter.take("k", rate, 0, t0).remaining, 1);

    // Second entry cannot fit after the first: nothing is charged.
    EXPECT_FALSE(limiter.take_all(twice, 1, t0).decision.allowed);
    EXPECT_DOUBLE_EQ(limiter.take("k", rate, 0, t0).remaining, 1);
}

TEST(RateLimiter, size_stays_bounded_over_a_million_distinct_keys)
{
    RateLimiter limiter(1000);
    Rate rate{1, 10};
    for (int i = 0; i < 1'000'000; ++i) {
        limiter.take("key-" + std::to_string(i), rate, 1, t0 + i);
        if (i % 100'000 == 0) {
            ASSERT_LE(limiter.size(), 1000u);
        }
    }
    EXPECT_LE(limiter.size(), 1000u);
    EXPECT_GT(limiter.size(), 0u);
}

TEST(RateLimiter, evicts_refilled_buckets_before_active_ones)
{
    RateLimiter limiter(64);
    Rate slow{0.001, 5};  // empty for 5000 s once drained
    ASSERT_TRUE(limiter.take("active", slow, 5, t0).allowed);

    // Many short-lived keys that refill within 100 ms, each used once.
    Rate fast{100, 10};
    for (int i = 0; i < 10'000; ++i) {
        limiter.take("burst-" + std::to_string(i), fast, 1, t0 + 1000 + i * 10);
    }
    EXPECT_LE(limiter.size(), 64u);

    // Still remembered as empty: a recreated bucket would be full.
    EXPECT_FALSE(limiter.take("active", slow, 1, t0 + 200'000).allowed);
}

TEST(RateLimiter, evicts_the_least_recently_used_when_all_are_active)
{
    RateLimiter limiter(64);
    Rate slow{0.001, 5};
    for (int i = 0; i < 64; ++i) {
        ASSERT_TRUE(limiter.take("k" + std::to_string(i), slow, 5, t0).allowed);
    }
    // k0 is used again, so k1 is now the oldest.
    EXPECT_FALSE(limiter.take("k0", slow, 1, t0 + 1).allowed);
    ASSERT_TRUE(limiter.take("new", slow, 1, t0 + 2).allowed);
    EXPECT_EQ(limiter.size(), 64u);

    EXPECT_FALSE(limiter.take("k0", slow, 1, t0 + 3).allowed);
    EXPECT_FALSE(limiter.take("k2", slow, 1, t0 + 3).allowed);
    EXPECT_TRUE(limiter.take("k1", slow, 1, t0 + 3).allowed);  // forgotten, so full again
}

TEST(RateLimiter, concurrent_takes_never_exceed_the_burst)
{
    RateLimiter limiter;
    Rate rate{0.001, 500};
    std::atomic<int> allowed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 1000; ++i) {
                if (limiter.take("shared", rate, 1, t0).allowed) {
                    ++allowed;
                }
                std::vector<std::pair<std::string, Rate>> pair{{"shared", rate}, {"other", rate}};
                limiter.take_all(pair, 0, t0);
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    EXPECT_EQ(allowed.load(), 500);
}

}  // namespace
}  // namespace carepost::policy
