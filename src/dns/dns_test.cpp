#include <gtest/gtest.h>

#include "dns/dns.hpp"

using namespace carepost;

TEST(Dns, static_route_wins_and_is_case_insensitive)
{
    dns::Resolver r(std::map<std::string, std::string>{{"Clinic.Test", "127.0.0.1:2525"}});
    auto t = r.resolve("clinic.TEST");
    ASSERT_TRUE(t);
    ASSERT_EQ(t->size(), 1u);
    EXPECT_EQ((*t)[0].host, "127.0.0.1");
    EXPECT_EQ((*t)[0].port, 2525);
}

TEST(Dns, parse_route_accepts_names_v6_and_default_port)
{
    EXPECT_EQ(dns::parse_route("localhost:2526")->port, 2526);
    EXPECT_EQ(dns::parse_route("mx.example.org")->port, 25);
    auto v6 = dns::parse_route("[::1]:2600");
    ASSERT_TRUE(v6);
    EXPECT_EQ(v6->host, "::1");
    EXPECT_EQ(v6->port, 2600);
    EXPECT_FALSE(dns::parse_route("host:99999"));
    EXPECT_FALSE(dns::parse_route("host:2x"));
    EXPECT_FALSE(dns::parse_route(":25"));
}

TEST(Dns, bad_static_route_is_an_error)
{
    dns::Resolver r(std::map<std::string, std::string>{{"bad.test", "[::1"}});
    EXPECT_FALSE(r.resolve("bad.test"));
}
