#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "policy/policy.hpp"

namespace carepost::policy {
namespace {

constexpr std::int64_t start_s = 1'700'000'123;  // 923 s into an hour
constexpr std::int64_t day_s = 24 * 3600;
constexpr std::int64_t history_mark = std::numeric_limits<std::int64_t>::min();

std::int64_t hour_of(std::int64_t s)
{
    return s / 3600;
}

// The rule in AnomalyDetector's comment, recomputed by brute force from a
// plain list of every send: no rings, buckets or caches.
class Oracle {
public:
    explicit Oracle(AnomalyOptions options) : options_(options) {}

    void load_history(const std::vector<HourlyVolume>& hours, const std::vector<std::string>& seen)
    {
        for (const HourlyVolume& h : hours) {
            hourly_[h.hour] = h.recipients;
            first_hour_ = std::min(first_hour_.value_or(h.hour), h.hour);
        }
        for (const std::string& d : seen) {
            first_seen_[d] = history_mark;
        }
    }

    // Records a send and returns the expected reason, "" for no suspension.
    std::string record(const std::vector<std::string>& domains, std::int64_t now)
    {
        if (!first_hour_) {
            first_hour_ = hour_of(now);
        }
        std::int64_t to_new = 0;
        for (const std::string& d : domains) {
            auto [it, inserted] = first_seen_.emplace(d, now);
            if (inserted || (it->second != history_mark && it->second > now - window())) {
                ++to_new;
            }
        }
        sends_.push_back({now, static_cast<std::int64_t>(domains.size()), to_new});
        hourly_[hour_of(now)] += static_cast<std::int64_t>(domains.size());
        return judge(now);
    }

    double baseline(std::int64_t now) const
    {
        std::int64_t end = hour_of(now - window());
        std::int64_t begin = std::max(*first_hour_, end - options_.history_days * 24);
        if (end <= begin) {
            return 0;
        }
        double sum = 0;
        for (std::int64_t h = begin; h < end; ++h) {
            auto it = hourly_.find(h);
            sum += it == hourly_.end() ? 0 : static_cast<double>(it->second);
        }
        return sum / static_cast<double>(end - begin);
    }

private:
    struct Send {
        std::int64_t second, recipients, to_new;
    };

    std::int64_t window() const { return options_.window_seconds; }

    std::string judge(std::int64_t now) const
    {
        if (!options_.enabled) {
            return "";
        }
        // Sends are recorded in time order: walk back to the window's start.
        double total = 0, to_new = 0;
        for (auto it = sends_.rbegin(); it != sends_.rend() && it->second > now - window(); ++it) {
            total += static_cast<double>(it->recipients);
            to_new += static_cast<double>(it->to_new);
        }
        double threshold = std::max(
            static_cast<double>(options_.floor_recipients),
            options_.multiple * baseline(now) * static_cast<double>(window()) / 3600.0);
        if (total > threshold) {
            return "volume";
        }
        if (hour_of(now) - *first_hour_ >= options_.min_history_hours &&
            total >= static_cast<double>(options_.floor_recipients) / 2.0 && total > 0 &&
            to_new / total >= options_.new_domain_share) {
            return "new_domains";
        }
        return "";
    }

    AnomalyOptions options_;
    std::vector<Send> sends_;
    std::map<std::int64_t, std::int64_t> hourly_;
    std::map<std::string, std::int64_t> first_seen_;
    std::optional<std::int64_t> first_hour_;
};

struct Batch {
    std::int64_t second = 0;
    std::vector<std::string> domains;
};

std::vector<std::string> make_domains(const std::string& stem, int count)
{
    std::vector<std::string> out;
    for (int i = 0; i < count; ++i) {
        out.push_back(stem + std::to_string(i) + ".example");
    }
    return out;
}

// About per_hour recipients each hour (+-30%), in batches of 1 to
// max_batch at random seconds of the hour, to domains of `pool`.
std::vector<Batch> steady_traffic(
    std::mt19937& rng,
    std::int64_t from_s,
    int hours,
    int per_hour,
    int max_batch,
    const std::vector<std::string>& pool)
{
    std::uniform_real_distribution<double> vary(0.7, 1.3);
    std::uniform_int_distribution<int> batch_size(1, max_batch);
    std::uniform_int_distribution<std::int64_t> second(0, 3599);
    std::uniform_int_distribution<std::size_t> pick(0, pool.size() - 1);

    std::vector<Batch> out;
    for (int h = 0; h < hours; ++h) {
        auto remaining = static_cast<int>(std::lround(per_hour * vary(rng)));
        std::vector<Batch> hour;
        while (remaining > 0) {
            Batch b;
            b.second = from_s + h * 3600 + second(rng);
            for (int n = std::min(remaining, batch_size(rng)); n > 0; --n, --remaining) {
                b.domains.push_back(pool[pick(rng)]);
            }
            hour.push_back(std::move(b));
        }
        std::sort(hour.begin(), hour.end(), [](const Batch& a, const Batch& b) {
            return a.second < b.second;
        });
        out.insert(out.end(), hour.begin(), hour.end());
    }
    return out;
}

// Feeds both; fails on any disagreement or any suspension.
void send_steady(
    AnomalyDetector& detector,
    Oracle& oracle,
    const std::string& key,
    const std::vector<Batch>& batches)
{
    for (const Batch& b : batches) {
        Verdict v = detector.observe(key, b.domains, b.second);
        ASSERT_FALSE(v.suspend) << v.reason << " at +" << (b.second - start_s) << " s";
        ASSERT_EQ(oracle.record(b.domains, b.second), "");
    }
}

struct BurstResult {
    int first_batch = -1;  // first suspended batch, -1: none
    std::string reason;
    int oracle_first_batch = -1;
};

// `batches` batches of `size` recipients, one every `every_ms`, from from_s,
// to domains chosen by `domain_for(batch, i)`. Every verdict must agree with
// the oracle.
template <class DomainFor>
BurstResult send_burst(
    AnomalyDetector& detector,
    Oracle& oracle,
    const std::string& key,
    std::int64_t from_s,
    int batches,
    int size,
    std::int64_t every_ms,
    DomainFor domain_for)
{
    BurstResult r;
    for (int i = 0; i < batches; ++i) {
        std::int64_t now = (from_s * 1000 + i * every_ms) / 1000;
        std::vector<std::string> domains;
        for (int j = 0; j < size; ++j) {
            domains.push_back(domain_for(i, j));
        }
        Verdict v = detector.observe(key, domains, now);
        std::string expected = oracle.record(domains, now);
        EXPECT_EQ(v.suspend ? v.reason : std::string(), expected) << "batch " << i;
        if (v.suspend && r.first_batch < 0) {
            r.first_batch = i;
            r.reason = v.reason;
        }
        if (!expected.empty() && r.oracle_first_batch < 0) {
            r.oracle_first_batch = i;
        }
    }
    return r;
}

std::vector<HourlyVolume> flat_history(std::int64_t before_s, int hours, std::int64_t per_hour)
{
    std::vector<HourlyVolume> out;
    for (int h = 1; h <= hours; ++h) {
        out.push_back({hour_of(before_s) - h, per_hour});
    }
    return out;
}

TEST(AnomalyDetector, burst_after_a_steady_week_is_suspended_in_its_first_minute)
{
    AnomalyOptions options;
    AnomalyDetector detector(options);
    Oracle oracle(options);
    std::mt19937 rng(20240601);
    const auto pool = make_domains("clinic", 40);
    send_steady(detector, oracle, "key", steady_traffic(rng, start_s, 7 * 24, 100, 4, pool));

    // 10,000 recipients in ten minutes: 10 every 0.6 s, to known domains.
    const std::int64_t burst_s = start_s + 7 * day_s;
    double baseline = oracle.baseline(burst_s);
    EXPECT_NEAR(baseline, 100, 10);
    BurstResult r = send_burst(detector, oracle, "key", burst_s, 1000, 10, 600, [&](int i, int j) {
        return pool[static_cast<std::size_t>(i + j) % pool.size()];
    });

    ASSERT_GE(r.first_batch, 0);
    EXPECT_EQ(r.first_batch, r.oracle_first_batch);
    EXPECT_EQ(r.reason, "volume");

    // With a baseline near 100/h the threshold is the floor (1000): the
    // window's steady tail plus 10 a batch passes it within ~100 batches.
    std::int64_t elapsed_s = r.first_batch * 600 / 1000;
    EXPECT_LT(elapsed_s, 120);
    EXPECT_EQ(elapsed_s / 60, 0) << "suspended in minute " << elapsed_s / 60;
    EXPECT_GE(r.first_batch, 90);
    EXPECT_LE(r.first_batch, 100);
}

TEST(AnomalyDetector, steady_key_is_never_suspended_over_three_weeks)
{
    AnomalyOptions options;
    AnomalyDetector detector(options);
    Oracle oracle(options);
    std::mt19937 rng(99);
    const auto pool = make_domains("clinic", 40);
    send_steady(detector, oracle, "key", steady_traffic(rng, start_s, 21 * 24, 100, 4, pool));

    // Still judged: a burst after the three weeks is caught.
    BurstResult r =
        send_burst(detector, oracle, "key", start_s + 21 * day_s, 200, 10, 600, [&](int, int j) {
            return pool[static_cast<std::size_t>(j)];
        });
    EXPECT_GE(r.first_batch, 0);
    EXPECT_EQ(r.first_batch, r.oracle_first_batch);
}

TEST(AnomalyDetector, steady_high_volume_key_is_never_suspended_at_its_rate)
{
    AnomalyOptions options;
    AnomalyDetector detector(options);
    Oracle oracle(options);
    std::mt19937 rng(5000);
    const auto pool = make_domains("patient-mail", 3000);
    send_steady(detector, oracle, "big", steady_traffic(rng, start_s, 7 * 24, 5000, 50, pool));

    // Ten times its rate, after the week, passes 10 x baseline.
    BurstResult r =
        send_burst(detector, oracle, "big", start_s + 7 * day_s, 1000, 50, 1000, [&](int i, int j) {
            return pool[static_cast<std::size_t>(i * 50 + j) % pool.size()];
        });
    ASSERT_GE(r.first_batch, 0);
    EXPECT_EQ(r.first_batch, r.oracle_first_batch);
    EXPECT_EQ(r.reason, "volume");
    EXPECT_GT(r.first_batch * 50, 7000);  // far above the floor of 1000
}

TEST(AnomalyDetector, switch_to_never_seen_domains_with_history_is_suspended)
{
    AnomalyOptions options;
    const auto pool = make_domains("clinic", 40);
    const auto history = flat_history(start_s, 7 * 24, 100);
    AnomalyDetector detector(options);
    Oracle oracle(options);
    detector.load_history("key", history, pool);
    oracle.load_history(history, pool);
    std::mt19937 rng(1);
    send_steady(detector, oracle, "key", steady_traffic(rng, start_s, 1, 100, 4, pool));

    // 60 a minute (under the floor of 1000 in ten minutes), 90% to fresh domains.
    auto mostly_new = [&](int i, int j) {
        return j == 0 ? pool[static_cast<std::size_t>(i) % pool.size()]
                      : "fresh" + std::to_string(i) + "-" + std::to_string(j) + ".example";
    };
    BurstResult r = send_burst(detector, oracle, "key", start_s + 3600, 60, 10, 10'000, mostly_new);
    ASSERT_GE(r.first_batch, 0);
    EXPECT_EQ(r.first_batch, r.oracle_first_batch);
    EXPECT_EQ(r.reason, "new_domains");
    // About 500 in the window: the floor / 2 condition decides the moment.
    EXPECT_GE(r.first_batch, 45);
    EXPECT_LE(r.first_batch, 50);
}

TEST(AnomalyDetector, never_seen_domains_without_history_suspend_only_on_volume)
{
    AnomalyOptions options;
    auto mostly_new = [](int i, int j) {
        return j == 0 ? std::string("clinic.example")
                      : "fresh" + std::to_string(i) + "-" + std::to_string(j) + ".example";
    };

    AnomalyDetector modest(options);
    Oracle modest_oracle(options);
    BurstResult r = send_burst(modest, modest_oracle, "key", start_s, 60, 10, 10'000, mostly_new);
    EXPECT_EQ(r.first_batch, -1);
    EXPECT_EQ(r.oracle_first_batch, -1);

    AnomalyDetector heavy(options);
    Oracle heavy_oracle(options);
    r = send_burst(heavy, heavy_oracle, "key", start_s, 150, 10, 4'000, mostly_new);
    ASSERT_GE(r.first_batch, 0);
    EXPECT_EQ(r.first_batch, r.oracle_first_batch);
    EXPECT_EQ(r.reason, "volume");
    EXPECT_EQ(r.first_batch, 100);  // 1010 recipients > 1000
}

TEST(AnomalyDetector, lifted_key_is_not_judged_during_the_grace_time)
{
    AnomalyOptions options;
    AnomalyDetector detector(options);
    const auto pool = make_domains("clinic", 40);
    detector.load_history("key", flat_history(start_s, 7 * 24, 100), pool);

    // 10 recipients every 0.6 s until the suspension, then lift and go on.
    std::int64_t lifted_ms = -1;
    std::int64_t resuspended_s = -1;
    for (std::int64_t ms = start_s * 1000; ms < (start_s + 7200) * 1000; ms += 600) {
        const std::int64_t now = ms / 1000;
        Verdict v = detector.observe("key", std::vector<std::string>(10, pool[0]), now);
        if (lifted_ms < 0) {
            if (v.suspend) {
                detector.lift("key", now);
                lifted_ms = ms;
            }
            continue;
        }
        if (now < lifted_ms / 1000 + 3600) {
            ASSERT_FALSE(v.suspend) << "judged " << now - lifted_ms / 1000 << " s after lift";
        } else if (v.suspend) {
            resuspended_s = now;
            break;
        }
    }
    ASSERT_GE(lifted_ms, 0);
    EXPECT_EQ(resuspended_s, lifted_ms / 1000 + 3600);  // judged again at once
}

TEST(AnomalyDetector, lift_forgets_the_recent_window)
{
    AnomalyOptions options;
    AnomalyDetector detector(options);
    detector.load_history("key", flat_history(start_s, 7 * 24, 100), {"a.example"});
    const std::vector<std::string> ten(10, "a.example");

    int batch = 0;
    while (!detector.observe("key", ten, start_s + batch).suspend) {
        ASSERT_LT(++batch, 1000);
    }
    detector.lift("key", start_s + batch, 0);

    // The window starts empty: the floor (1000) is passed by the 101st batch.
    for (int k = 1; k <= 100; ++k) {
        ASSERT_FALSE(detector.observe("key", ten, start_s + batch).suspend) << k;
    }
    Verdict v = detector.observe("key", ten, start_s + batch);
    EXPECT_TRUE(v.suspend);
    EXPECT_EQ(v.reason, "volume");
}

TEST(AnomalyDetector, disabled_never_suspends)
{
    AnomalyOptions options;
    options.enabled = false;
    AnomalyDetector detector(options);
    for (int i = 0; i < 5000; ++i) {
        std::vector<std::string> fresh;
        for (int j = 0; j < 10; ++j) {
            fresh.push_back("d" + std::to_string(i * 10 + j) + ".example");
        }
        ASSERT_FALSE(detector.observe("key", fresh, start_s + i / 10).suspend);
    }
}

TEST(AnomalyDetector, quiet_hours_count_as_zero_in_the_baseline)
{
    AnomalyOptions options;
    options.floor_recipients = 10;
    AnomalyDetector detector(options);

    // One busy hour a week ago, nothing since: 16,800 / 168 h = 100 an hour,
    // so the threshold is 10 x 100 x 600 / 3600 = 166.7 recipients.
    std::int64_t first = hour_of(start_s - 600) - 168;
    detector.load_history("key", {{first, 16'800}}, {"a.example"});
    for (int i = 1; i <= 166; ++i) {
        ASSERT_FALSE(detector.observe("key", {"a.example"}, start_s).suspend) << i;
    }
    EXPECT_TRUE(detector.observe("key", {"a.example"}, start_s).suspend);
}

TEST(AnomalyDetector, history_older_than_history_days_is_not_in_the_baseline)
{
    AnomalyOptions options;
    options.floor_recipients = 10;
    AnomalyDetector detector(options);
    detector.load_history("key", {{hour_of(start_s - 600) - 169, 1'000'000}}, {"a.example"});
    for (int i = 1; i <= 10; ++i) {
        ASSERT_FALSE(detector.observe("key", {"a.example"}, start_s).suspend) << i;
    }
    EXPECT_TRUE(detector.observe("key", {"a.example"}, start_s).suspend);
}

TEST(AnomalyDetector, recipients_to_a_domain_first_seen_in_the_window_count_as_new)
{
    AnomalyOptions options;
    const auto pool = make_domains("clinic", 40);
    const auto history = flat_history(start_s, 7 * 24, 100);
    AnomalyDetector detector(options);
    Oracle oracle(options);
    detector.load_history("key", history, pool);
    oracle.load_history(history, pool);

    // Five fresh domains, each used again and again: after their first use
    // they are known, but not from before the window.
    auto few_new = [&](int i, int j) {
        return j == 0 ? pool[0] : "fresh" + std::to_string(j % 5) + ".example";
    };
    BurstResult r = send_burst(detector, oracle, "key", start_s, 60, 10, 10'000, few_new);
    ASSERT_GE(r.first_batch, 0);
    EXPECT_EQ(r.first_batch, r.oracle_first_batch);
    EXPECT_EQ(r.reason, "new_domains");
    EXPECT_EQ(r.first_batch, 49);  // 500 recipients, 90% to the fresh domains

    // Once they are older than the window they are ordinary.
    r = send_burst(detector, oracle, "key", start_s + 7200, 60, 10, 10'000, few_new);
    EXPECT_EQ(r.first_batch, -1);
    EXPECT_EQ(r.oracle_first_batch, -1);
}

TEST(AnomalyDetector, reports_each_new_domain_once)
{
    AnomalyDetector detector(AnomalyOptions{});
    detector.load_history("key", {}, {"known.example"});
    std::vector<std::string> learnt;
    detector.observe(
        "key", {"a.example", "known.example", "a.example", "b.example"}, start_s, &learnt);
    EXPECT_EQ(learnt, (std::vector<std::string>{"a.example", "b.example"}));

    learnt.clear();
    detector.observe("key", {"b.example", "c.example"}, start_s + 1, &learnt);
    EXPECT_EQ(learnt, (std::vector<std::string>{"c.example"}));
    EXPECT_EQ(detector.seen_domain_count("key"), 4u);
    EXPECT_EQ(detector.seen_domain_count("other"), 0u);
}

TEST(AnomalyDetector, seen_domains_per_key_are_capped)
{
    AnomalyOptions options;
    options.enabled = false;
    AnomalyDetector detector(options);
    std::size_t learnt_total = 0;
    for (int i = 0; i < 200; ++i) {
        std::vector<std::string> batch;
        for (int j = 0; j < 100; ++j) {
            batch.push_back("d" + std::to_string(i * 100 + j) + ".example");
        }
        std::vector<std::string> learnt;
        detector.observe("key", batch, start_s + i, &learnt);
        learnt_total += learnt.size();
    }
    EXPECT_EQ(learnt_total, 10'000u);
    EXPECT_EQ(detector.seen_domain_count("key"), 10'000u);

    detector.forget("key");
    EXPECT_EQ(detector.seen_domain_count("key"), 0u);
}

TEST(AnomalyDetector, concurrent_observers_agree_on_the_crossing)
{
    AnomalyDetector detector(AnomalyOptions{});
    std::atomic<int> suspended{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 300; ++i) {
                if (detector.observe("key", {"a.example"}, start_s).suspend) {
                    ++suspended;
                }
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    EXPECT_EQ(suspended.load(), 200);  // calls 1001..1200
}

}  // namespace
}  // namespace carepost::policy
