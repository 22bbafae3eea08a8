#include <regex>

#include <gtest/gtest.h>

#include "crypto/crypto.hpp"
#include "inbound/inbound.hpp"

namespace carepost::inbound {
namespace {

const std::vector<std::string> kDomains = {"bounces.clinic.test", "rp.example.org"};
const std::string kKey = "verp-key-for-tests-0123456789abcdef";
const std::string kId = "rcp_0123456789abcdef01234567";

std::string expected_tag(std::string_view id, std::string_view key)
{
    return crypto::to_hex(crypto::hmac_sha256(key, id)).substr(0, 16);
}

TEST(ReturnPath, MakesTheDocumentedForm)
{
    std::string address = make_return_path(kId, "bounces.clinic.test", kKey);
    EXPECT_EQ(address, "bounce+" + kId + "-" + expected_tag(kId, kKey) + "@bounces.clinic.test");
    EXPECT_TRUE(std::regex_match(address, std::regex("bounce\\+rcp_[0-9a-f]{24}-[0-9a-f]{16}@.*")));
}

TEST(ReturnPath, RoundTripsForEveryDomainAndRandomIds)
{
    for (int i = 0; i < 50; ++i) {
        std::string id = "rcp_" + crypto::random_hex(12);
        for (const auto& domain : kDomains) {
            auto parsed = parse_return_path(make_return_path(id, domain, kKey), kDomains, kKey);
            ASSERT_TRUE(parsed) << id;
            EXPECT_EQ(*parsed, id);
        }
    }
}

TEST(ReturnPath, AcceptsTheDomainInAnyCase)
{
    auto parsed =
        parse_return_path(make_return_path(kId, "BOUNCES.Clinic.TEST", kKey), kDomains, kKey);
    ASSERT_TRUE(parsed);
    EXPECT_EQ(*parsed, kId);
}

void expect_not_ours(std::string_view address, std::string_view key = kKey)
{
    auto parsed = parse_return_path(address, kDomains, key);
    ASSERT_FALSE(parsed) << address;
    EXPECT_EQ(parsed.error().code, "not_ours");
}

TEST(ReturnPath, RefusesAChangedRecipientId)
{
    std::string address = make_return_path(kId, kDomains[0], kKey);
    address[address.find("rcp_") + 5] ^= 1;  // '1' <-> '0'
    expect_not_ours(address);
    std::string other = "rcp_" + std::string(24, 'f');
    expect_not_ours("bounce+" + other + "-" + expected_tag(kId, kKey) + "@" + kDomains[0]);
}

TEST(ReturnPath, RefusesAChangedTag)
{
    std::string address = make_return_path(kId, kDomains[0], kKey);
    auto tag_at = address.find('-') + 1;
    for (std::size_t i = 0; i < 16; ++i) {
        std::string changed = address;
        changed[tag_at + i] = changed[tag_at + i] == 'a' ? 'b' : 'a';
        expect_not_ours(changed);
    }
    std::string upper = address;
    for (std::size_t i = 0; i < 16; ++i) {
        upper[tag_at + i] = static_cast<char>(std::toupper(upper[tag_at + i]));
    }
    if (upper != address) {
        expect_not_ours(upper);  // the tag is lower-case hex only
    }
    expect_not_ours(address.substr(0, tag_at + 15) + address.substr(tag_at + 16));
}

TEST(ReturnPath, RefusesAnotherKeyAndAnEmptyKey)
{
    expect_not_ours(make_return_path(kId, kDomains[0], "another key"));
    expect_not_ours(make_return_path(kId, kDomains[0], kKey), "another key");
    expect_not_ours(make_return_path(kId, kDomains[0], ""), "");
}

TEST(ReturnPath, RefusesAnotherDomain)
{
    expect_not_ours(make_return_path(kId, "bounces.clinic.test.evil.test", kKey));
    expect_not_ours(make_return_path(kId, "clinic.test", kKey));
    expect_not_ours(make_return_path(kId, "", kKey));
}

TEST(ReturnPath, RefusesOtherShapes)
{
    std::string tag = expected_tag(kId, kKey);
    expect_not_ours("");
    expect_not_ours("postmaster@" + kDomains[0]);
    expect_not_ours("BOUNCE+" + kId + "-" + tag + "@" + kDomains[0]);
    expect_not_ours("bounce+-" + tag + "@" + kDomains[0]);
    expect_not_ours("bounce+" + kId + tag + "@" + kDomains[0]);
    expect_not_ours("bounce+" + kId + "-" + tag);
    expect_not_ours("x" + make_return_path(kId, kDomains[0], kKey));
}

}  // namespace
}  // namespace carepost::inbound
