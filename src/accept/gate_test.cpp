#include <filesystem>

#include <gtest/gtest.h>

#include "accept/gate.hpp"
#include "crypto/crypto.hpp"

using namespace carepost;

namespace {

// A store holding one organisation and two keys, with a week of history
// at about 100 recipients an hour written where `serve` reads it from.
class GateTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        dir_ = std::filesystem::temp_directory_path() / ("cp-gate-" + crypto::random_hex(6));
        store_ = std::move(store::Store::open({dir_}).value());
        start_ = (store::unix_now() / 3600 - 24 * 7) * 3600;
        ASSERT_TRUE(store_->write([&](store::Writer& w) -> Result<void> {
            w.insert_org({"org1", "Clinic", "wk", 1, {}, {}});
            for (const char* id : {"key_burst", "key_steady", "key_busy"}) {
                store::ApiKeyRow k;
                k.id = id;
                k.org_id = "org1";
                k.prefix = id;
                k.scopes = {"messages:send"};
                w.insert_api_key(k);
                for (std::int64_t h = 0; h < 24 * 7; ++h) {
                    std::int64_t usual = std::string_view(id) == "key_busy" ? 5000 : 100;
                    w.add_key_volume(id, start_ / 3600 + h, usual - 30 + (h * 37) % 61);
                }
                w.insert_key_domains(id, {"example.net", "example.org"}, start_);
            }
            return {};
        }));
    }
    void TearDown() override
    {
        gate_.reset();
        store_.reset();
        std::filesystem::remove_all(dir_);
    }

    void make_gate(std::int64_t now)
    {
        detector_ = std::make_unique<policy::AnomalyDetector>(policy::AnomalyOptions{});
        gate_ =
            std::make_unique<accept::Gate>(*store_, limiter_, *detector_, accept::GateOptions{});
        gate_->load_history(now);
    }

    static auth::Principal principal(const std::string& key_id)
    {
        auth::Principal p;
        p.key_id = key_id;
        p.org_id = "org1";
        p.scopes = {"messages:send"};
        return p;
    }

    static std::vector<accept::GateRecipient> recipients(int n, const std::string& domain)
    {
        return std::vector<accept::GateRecipient>(n, {domain, "to", "p@" + domain});
    }

    std::filesystem::path dir_;
    std::unique_ptr<store::Store> store_;
    std::int64_t start_ = 0;
    policy::RateLimiter limiter_;
    std::unique_ptr<policy::AnomalyDetector> detector_;
    std::unique_ptr<accept::Gate> gate_;
};

}  // namespace

TEST_F(GateTest, a_burst_far_beyond_the_stored_history_suspends_the_key_within_minutes)
{
    // 10,000 recipients in ten minutes: batches of 10 every 0.6 s.
    std::int64_t now = store::unix_now();
    make_gate(now);
    auto p = principal("key_burst");
    std::int64_t now_ms = now * 1000;
    int batches = 0;
    accept::Gate::Admission last{Result<void>{}, {}};
    for (; batches < 1000; ++batches) {
        last = gate_->admit(p, recipients(10, "example.net"), now_ms + batches * 600);
        if (!last.result) {
            break;
        }
    }
    ASSERT_FALSE(last.result) << "never suspended";
    EXPECT_EQ(last.result.error().code, "key_suspended");
    EXPECT_LT(batches * 0.6, 120.0) << "suspended only after " << batches * 0.6 << " s";

    // Stored: the key row, an audit record and an event.
    auto row = store_->find_api_key("org1", "key_burst");
    ASSERT_TRUE(row && row->suspended_at);
    EXPECT_EQ(row->suspended_reason, "volume");
    auto events = store_->events("org1", 0, "key.suspended", "", 10);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].key_id, "key_burst");
    bool audited = false;
    for (const auto& a : store_->audit_of_org("org1", 0, 100)) {
        audited = audited || a.action == "key.suspended";
    }
    EXPECT_TRUE(audited);
}

TEST_F(GateTest, a_key_keeping_its_usual_pace_is_never_suspended)
{
    // Three more simulated days at ~100 an hour, in sends of 1 to 4.
    std::int64_t now = store::unix_now();
    make_gate(now);
    auto p = principal("key_steady");
    for (std::int64_t s = 0; s < 3 * 86400; s += 120) {
        int n = 1 + static_cast<int>((s / 120) % 4);
        auto a = gate_->admit(p, recipients(n, "example.net"), (now + s) * 1000);
        ASSERT_TRUE(a.result) << "suspended at simulated second " << s;
    }
    EXPECT_FALSE(store_->find_api_key("org1", "key_steady")->suspended_at);
}

TEST_F(GateTest, recipient_rules_of_key_and_organisation_both_apply_and_are_counted)
{
    std::int64_t now = store::unix_now();
    make_gate(now);
    ASSERT_TRUE(store_->write([](store::Writer& w) -> Result<void> {
        w.set_org_rules("org1", {}, {"blocked.example"});
        return {};
    }));
    gate_->forget_org_rules("org1");
    auto p = principal("key_steady");
    p.allow_domains = {"*.partner.example", "blocked.example"};

    EXPECT_TRUE(gate_->admit(p, recipients(1, "a.partner.example"), now * 1000).result);
    auto refused = gate_->admit(p, recipients(2, "elsewhere.example"), now * 1000);
    ASSERT_FALSE(refused.result);
    EXPECT_EQ(refused.result.error().code, "recipient_not_allowed");
    EXPECT_FALSE(gate_->admit(p, recipients(1, "blocked.example"), now * 1000).result);

    ASSERT_TRUE(store_->write([](store::Writer&) -> Result<void> { return {}; }));
    std::int64_t total = 0;
    for (const auto& r : store_->refusals("org1", 0)) {
        total += r.count;
    }
    EXPECT_EQ(total, 3);
}

TEST_F(GateTest, recipients_per_hour_refuse_with_rate_headers)
{
    std::int64_t now = store::unix_now();
    make_gate(now);
    auto p = principal("key_steady");
    p.recipients_per_hour = 5;
    EXPECT_TRUE(gate_->admit(p, recipients(4, "example.net"), now * 1000).result);
    auto a = gate_->admit(p, recipients(2, "example.net"), now * 1000);
    ASSERT_FALSE(a.result);
    EXPECT_EQ(a.result.error().code, "rate_limited");
    bool has_retry_after = false;
    for (const auto& [name, value] : a.headers) {
        has_retry_after = has_retry_after || name == "Retry-After";
    }
    EXPECT_TRUE(has_retry_after);
}

TEST_F(GateTest, the_stored_history_is_what_the_burst_is_judged_against)
{
    // 3,000 recipients in ten minutes would suspend a key without history
    // (the floor is 1,000); for a key that sends 5,000 an hour it is normal.
    std::int64_t now = store::unix_now();
    make_gate(now);
    auto busy = principal("key_busy");
    for (int batch = 0; batch < 300; ++batch) {
        auto a = gate_->admit(busy, recipients(10, "example.net"), now * 1000 + batch * 2000);
        ASSERT_TRUE(a.result) << "suspended at batch " << batch;
    }
}
