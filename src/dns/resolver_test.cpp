#include "dns/dns.hpp"

// The header under test comes first (it must compile alone); then the rest.
#include <set>
#include <thread>

#include <gtest/gtest.h>

namespace carepost::dns {
namespace {

// Answers only from local zones, so no test leaves the machine.
ResolverOptions local_only()
{
    ResolverOptions options;
    options.resolv_conf = "";
    options.local_zones = {{"clinic.test.", "static"}, {"refused.test.", "refuse"}};
    options.local_data = {
        "clinic.test. 600 IN MX 20 mx2.clinic.test.",
        "clinic.test. 600 IN MX 10 MX1.Clinic.Test.",
        "clinic.test. 600 IN MX 30 backup.example.",
        "shared.clinic.test. 300 IN MX 5 a.clinic.test.",
        "shared.clinic.test. 300 IN MX 5 b.clinic.test.",
        "nullmx.clinic.test. 300 IN MX 0 .",
        "addr.clinic.test. 120 IN A 192.0.2.10",
        "addr6.clinic.test. 120 IN AAAA 2001:db8::10",
        "txtonly.clinic.test. 120 IN TXT \"v=spf1 -all\"",
    };
    return options;
}

TEST(Resolver, static_route_wins_and_is_case_insensitive)
{
    Resolver resolver({{"Clinic.Test", "127.0.0.1:2525"}}, local_only());
    for (std::string_view name : {"clinic.test", "CLINIC.TEST", "clinic.test."}) {
        auto targets = resolver.resolve(name);
        ASSERT_TRUE(targets.has_value()) << name;
        ASSERT_EQ(targets->size(), 1u);
        EXPECT_EQ((*targets)[0].host, "127.0.0.1");
        EXPECT_EQ((*targets)[0].port, 2525);
    }
}

TEST(Resolver, default_constructor_serves_static_routes_without_network)
{
    Resolver resolver({{"clinic.test", "[::1]:2526"}, {"*", "smarthost.test"}});
    auto v6 = resolver.resolve("clinic.test");
    ASSERT_TRUE(v6.has_value());
    EXPECT_EQ((*v6)[0].host, "::1");
    EXPECT_EQ((*v6)[0].port, 2526);
    auto any = resolver.resolve("elsewhere.example");
    ASSERT_TRUE(any.has_value());
    EXPECT_EQ((*any)[0].host, "smarthost.test");
    EXPECT_EQ((*any)[0].port, 25);
}

TEST(Resolver, malformed_static_route_is_a_permanent_error)
{
    Resolver resolver({{"clinic.test", "127.0.0.1:99999"}}, local_only());
    auto targets = resolver.resolve("clinic.test");
    ASSERT_FALSE(targets.has_value());
    EXPECT_EQ(targets.error().code, "bad_route");
}

TEST(ParseRoute, accepts_the_documented_forms)
{
    EXPECT_EQ(parse_route("mx.example:587")->port, 587);
    EXPECT_EQ(parse_route("mx.example")->host, "mx.example");
    EXPECT_EQ(parse_route("[2001:db8::1]")->host, "2001:db8::1");
    EXPECT_EQ(parse_route("2001:db8::1")->port, 25);
    EXPECT_FALSE(parse_route("[::1").has_value());
    EXPECT_FALSE(parse_route("host:").has_value());
    EXPECT_FALSE(parse_route("[::1]x").has_value());
    EXPECT_FALSE(parse_route("host:0").has_value());
    EXPECT_FALSE(parse_route(":25").has_value());
}

TEST(Resolver, mx_records_come_back_by_preference)
{
    Resolver resolver({}, local_only());
    auto targets = resolver.resolve("clinic.test");
    ASSERT_TRUE(targets.has_value()) << targets.error().code << " " << targets.error().text;
    ASSERT_EQ(targets->size(), 3u);
    EXPECT_EQ((*targets)[0].host, "mx1.clinic.test");
    EXPECT_EQ((*targets)[0].preference, 10);
    EXPECT_EQ((*targets)[1].host, "mx2.clinic.test");
    EXPECT_EQ((*targets)[2].host, "backup.example");
    EXPECT_EQ((*targets)[0].port, 25);
    EXPECT_EQ((*targets)[0].ttl_seconds, 600u);
}

TEST(Resolver, equal_preferences_are_all_returned)
{
    Resolver resolver({}, local_only());
    std::set<std::string> firsts;
    for (int i = 0; i < 40; ++i) {
        auto targets = resolver.resolve("shared.clinic.test");
        ASSERT_TRUE(targets.has_value());
        ASSERT_EQ(targets->size(), 2u);
        firsts.insert((*targets)[0].host);
    }
    EXPECT_EQ(firsts.size(), 2u);  // shuffled: both come first sometimes
}

TEST(Resolver, null_mx_is_permanent)
{
    Resolver resolver({}, local_only());
    auto targets = resolver.resolve("nullmx.clinic.test");
    ASSERT_FALSE(targets.has_value());
    EXPECT_EQ(targets.error().code, "null_mx");
    EXPECT_EQ(targets.error().error_class, ErrorClass::permanent);
}

TEST(Resolver, no_mx_falls_back_to_the_domain_with_an_address)
{
    Resolver resolver({}, local_only());
    for (std::string_view name : {"addr.clinic.test", "addr6.clinic.test"}) {
        auto targets = resolver.resolve(name);
        ASSERT_TRUE(targets.has_value()) << name << " " << targets.error().code;
        ASSERT_EQ(targets->size(), 1u);
        EXPECT_EQ((*targets)[0].host, name);
        EXPECT_EQ((*targets)[0].ttl_seconds, 120u);
    }
}

TEST(Resolver, no_mx_and_no_address_is_permanent)
{
    Resolver resolver({}, local_only());
    auto targets = resolver.resolve("txtonly.clinic.test");
    ASSERT_FALSE(targets.has_value());
    EXPECT_EQ(targets.error().code, "no_address");
}

TEST(Resolver, nxdomain_is_host_unknown)
{
    Resolver resolver({}, local_only());
    auto targets = resolver.resolve("nobody.clinic.test");
    ASSERT_FALSE(targets.has_value());
    EXPECT_EQ(targets.error().code, "host_unknown");
    EXPECT_EQ(targets.error().error_class, ErrorClass::permanent);
}

TEST(Resolver, refused_answer_is_transient)
{
    Resolver resolver({}, local_only());
    auto targets = resolver.resolve("x.refused.test");
    ASSERT_FALSE(targets.has_value());
    EXPECT_EQ(targets.error().code, "dns_failed");
    EXPECT_TRUE(targets.error().is_transient());
}

TEST(Resolver, invalid_tld_is_host_unknown_from_unbound_defaults)
{
    // libunbound answers .invalid (RFC 6761) from its built-in local zones,
    // so this needs no network even with the system configuration.
    Resolver resolver({});
    auto targets = resolver.resolve("nothing.invalid");
    if (targets.has_value() || targets.error().is_transient()) {
        GTEST_SKIP() << "this libunbound does not answer .invalid locally";
    }
    EXPECT_EQ(targets.error().code, "host_unknown");
}

TEST(Resolver, malformed_domains_are_refused_before_any_query)
{
    Resolver resolver({}, local_only());
    for (std::string_view name :
         {"",
          "a..b",
          "bad domain.test",
          "b\xc3\xbc"
          "cher.test",
          "x.-bad-.test."}) {
        auto targets = resolver.resolve(name);
        ASSERT_FALSE(targets.has_value()) << name;
        EXPECT_EQ(targets.error().code, "bad_domain") << name;
    }
}

TEST(Resolver, address_literal_is_its_own_target)
{
    Resolver resolver({}, local_only());
    auto targets = resolver.resolve("[IPv6:2001:db8::5]");
    ASSERT_TRUE(targets.has_value());
    EXPECT_EQ((*targets)[0].host, "2001:db8::5");
}

TEST(Resolver, concurrent_lookups_agree)
{
    Resolver resolver({}, local_only());
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 50; ++i) {
                auto targets = resolver.resolve("clinic.test");
                if (!targets || (*targets)[0].host != "mx1.clinic.test") {
                    ++failures;
                }
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace carepost::dns
