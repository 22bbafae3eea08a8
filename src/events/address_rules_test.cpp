#include <arpa/inet.h>
#include <gtest/gtest.h>

#include "events/address_rules.hpp"

namespace carepost::events {
namespace {

Options strict()
{
    return {};
}

Options allowing(std::vector<std::string> hosts)
{
    Options o;
    o.allow_insecure_hosts = std::move(hosts);
    return o;
}

std::string code_of(const Result<void>& r)
{
    return r ? std::string("ok") : r.error().code;
}

bool refused4(const char* text)
{
    in_addr a{};
    EXPECT_EQ(inet_pton(AF_INET, text, &a), 1) << text;
    return is_refused_ipv4(ntohl(a.s_addr));
}

bool refused6(const char* text)
{
    std::array<std::uint8_t, 16> a{};
    EXPECT_EQ(inet_pton(AF_INET6, text, a.data()), 1) << text;
    return is_refused_ipv6(a);
}

TEST(CheckEndpointUrl, requires_https)
{
    EXPECT_EQ(code_of(check_endpoint_url("http://8.8.8.8/hook", strict())), "endpoint_not_allowed");
    EXPECT_EQ(code_of(check_endpoint_url("ftp://8.8.8.8/hook", strict())), "invalid_url");
    EXPECT_EQ(code_of(check_endpoint_url("https://8.8.8.8/hook", strict())), "ok");
}

TEST(CheckEndpointUrl, refuses_private_loopback_and_metadata_addresses)
{
    for (const char* url :
         {"https://10.0.0.1/hook",
          "https://169.254.169.254/latest/meta-data/",
          "https://[::1]/hook",
          "https://127.0.0.1/hook",
          "https://100.64.1.1/hook",
          "https://192.168.1.10:8443/hook",
          "https://[fd00::1]/hook",
          "https://[::ffff:10.0.0.1]/hook",
          "https://[fe80::1]/hook",
          "https://0.0.0.0/hook",
          "https://224.0.0.1/hook"}) {
        EXPECT_EQ(code_of(check_endpoint_url(url, strict())), "endpoint_not_allowed") << url;
    }
}

TEST(CheckEndpointUrl, refuses_a_name_that_resolves_to_loopback)
{
    EXPECT_EQ(
        code_of(check_endpoint_url("https://localhost:8443/hook", strict())),
        "endpoint_not_allowed");
}

TEST(CheckEndpointUrl, allows_listed_hosts_over_http_and_on_loopback)
{
    Options o = allowing({"127.0.0.1", "::1", "localhost"});
    EXPECT_EQ(code_of(check_endpoint_url("http://localhost:8080/hook", o)), "ok");
    EXPECT_EQ(code_of(check_endpoint_url("http://127.0.0.1:8080/hook", o)), "ok");
    EXPECT_EQ(code_of(check_endpoint_url("https://[::1]:8443/hook", o)), "ok");
    EXPECT_EQ(code_of(check_endpoint_url("http://LOCALHOST/hook", o)), "ok");
    // Listing one host does not open the others.
    EXPECT_EQ(code_of(check_endpoint_url("http://10.0.0.1/hook", o)), "endpoint_not_allowed");
}

TEST(CheckEndpointUrl, refuses_userinfo_missing_host_and_bad_ports)
{
    EXPECT_EQ(code_of(check_endpoint_url("https://user:pw@8.8.8.8/hook", strict())), "invalid_url");
    EXPECT_EQ(code_of(check_endpoint_url("https://user@8.8.8.8/hook", strict())), "invalid_url");
    // curl reads "https:///hook" as host "hook"; either way it is refused.
    EXPECT_NE(code_of(check_endpoint_url("https:///hook", strict())), "ok");
    EXPECT_NE(code_of(check_endpoint_url("https://:8443/hook", strict())), "ok");
    EXPECT_EQ(code_of(check_endpoint_url("https://8.8.8.8:0/hook", strict())), "invalid_url");
    EXPECT_EQ(code_of(check_endpoint_url("https://8.8.8.8:65536/hook", strict())), "invalid_url");
    EXPECT_EQ(code_of(check_endpoint_url("not a url", strict())), "invalid_url");
    EXPECT_EQ(code_of(check_endpoint_url("https://8.8.8.8:65535/hook", strict())), "ok");
}

TEST(CheckEndpointUrl, refuses_numeric_tricks_that_mean_loopback)
{
    for (const char* url :
         {"https://2130706433/hook", "https://0x7f.1/hook", "https://127.1/hook"}) {
        EXPECT_NE(code_of(check_endpoint_url(url, strict())), "ok") << url;
    }
}

TEST(AddressRules, refuses_special_ipv4_blocks)
{
    for (const char* a :
         {"0.1.2.3",
          "10.255.0.1",
          "100.64.0.1",
          "100.127.255.255",
          "127.0.0.2",
          "169.254.169.254",
          "172.16.0.1",
          "172.31.255.255",
          "192.0.0.8",
          "192.0.2.1",
          "192.168.0.1",
          "198.18.0.1",
          "198.51.100.7",
          "203.0.113.9",
          "224.0.0.251",
          "239.255.255.250",
          "240.0.0.1",
          "255.255.255.255"}) {
        EXPECT_TRUE(refused4(a)) << a;
    }
}

TEST(AddressRules, allows_public_ipv4_next_to_the_blocks)
{
    for (const char* a :
         {"8.8.8.8",
          "100.63.255.255",
          "100.128.0.1",
          "172.15.255.255",
          "172.32.0.1",
          "1.1.1.1",
          "223.255.255.254",
          "169.253.1.1",
          "11.0.0.1"}) {
        EXPECT_FALSE(refused4(a)) << a;
    }
}

TEST(AddressRules, judges_ipv6_and_the_ipv4_it_carries)
{
    for (const char* a :
         {"::",
          "::1",
          "fe80::1",
          "fc00::1",
          "fd12:3456::1",
          "ff02::1",
          "fec0::1",
          "::ffff:127.0.0.1",
          "::ffff:169.254.169.254",
          "64:ff9b::a00:1",
          "2002:0a00:0001::1",
          "2001:db8::1",
          "2001::1",
          "::10.0.0.1"}) {
        EXPECT_TRUE(refused6(a)) << a;
    }
    for (const char* a :
         {"2606:4700:4700::1111",
          "2a00:1450:4001::1",
          "::ffff:8.8.8.8",
          "64:ff9b::808:808",
          "2002:0808:0808::1"}) {
        EXPECT_FALSE(refused6(a)) << a;
    }
}

}  // namespace
}  // namespace carepost::events
