#include <array>
#include <cstdio>
#include <regex>
#include <string>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "crypto/crypto.hpp"
#include "events/events.hpp"
#include "events/test_support.hpp"

namespace carepost::events {
namespace {

// Runs Python's hmac (an implementation independent of ours) over the same
// "<t>.<body>" and returns its hex digest. Inputs travel as hex.
std::string python_hmac_hex(const std::string& secret, const std::string& message)
{
    std::string command = "/usr/bin/python3 -c 'import hmac,hashlib,sys;"
                          "print(hmac.new(bytes.fromhex(sys.argv[1]),bytes.fromhex(sys.argv[2]),"
                          "hashlib.sha256).hexdigest())' " +
                          crypto::to_hex(secret) + " " + crypto::to_hex(message);
    std::string out;
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) {
        return out;
    }
    std::array<char, 256> buffer{};
    while (fgets(buffer.data(), buffer.size(), pipe) != nullptr) {
        out += buffer.data();
    }
    pclose(pipe);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) {
        out.pop_back();
    }
    return out;
}

TEST(SignatureHeader, has_the_t_and_v1_format)
{
    std::string header = signature_header("whsec_test", 1700000123, "{\"id\":\"evt_1\"}");
    EXPECT_TRUE(std::regex_match(header, std::regex("t=1700000123,v1=[0-9a-f]{64}"))) << header;
}

TEST(SignatureHeader, matches_python_hmac_over_timestamp_dot_body)
{
    for (int round = 0; round < 3; ++round) {
        std::string secret = crypto::random_token(24 + round);
        std::string body = payload_json(testing::make_event("org_1", "bounced", round));
        std::int64_t t = 1700000000 + round * 977;
        std::string expected = python_hmac_hex(secret, std::to_string(t) + "." + body);
        ASSERT_EQ(expected.size(), 64u);
        EXPECT_EQ(signature_header(secret, t, body), "t=" + std::to_string(t) + ",v1=" + expected);
    }
}

TEST(SignatureHeader, uses_hmac_sha256_as_in_rfc_4231)
{
    // RFC 4231 test case 2 checks the primitive with our hex formatting.
    EXPECT_EQ(
        crypto::to_hex(crypto::hmac_sha256("Jefe", "what do ya want for nothing?")),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(SignatureHeader, changes_when_body_timestamp_or_secret_changes)
{
    std::string base = signature_header("s1", 100, "body");
    EXPECT_NE(signature_header("s1", 100, "bodY"), base);
    EXPECT_NE(signature_header("s2", 100, "body"), base);
    EXPECT_NE(signature_header("s1", 101, "body").substr(6), base.substr(6));
}

TEST(PayloadJson, carries_exactly_the_allowed_fields_in_order)
{
    Event e = testing::make_event("org_9", "bounced", 7);
    e.seq = 42;
    auto parsed = boost::json::parse(payload_json(e)).as_object();

    std::vector<std::string> keys;
    for (const auto& item : parsed) {
        keys.emplace_back(item.key());
    }
    EXPECT_EQ(
        keys,
        (std::vector<std::string>{
            "id",
            "type",
            "time",
            "message_id",
            "recipient_id",
            "email",
            "reply_code",
            "enhanced_status",
            "reason",
            "bounce_class"}));
    EXPECT_EQ(parsed.at("id").as_string(), e.id);
    EXPECT_EQ(parsed.at("type").as_string(), "bounced");
    EXPECT_EQ(parsed.at("time").as_int64(), e.time);
    EXPECT_EQ(parsed.at("email").as_string(), e.email);
    EXPECT_EQ(parsed.at("reply_code").as_int64(), 550);
    EXPECT_EQ(parsed.at("reason").as_string(), e.reason);
    EXPECT_EQ(parsed.at("bounce_class").as_string(), "hard");
}

TEST(PayloadJson, keeps_empty_fields_so_the_schema_is_fixed)
{
    Event e;
    e.id = "evt_1";
    e.type = "opened";
    auto parsed = boost::json::parse(payload_json(e)).as_object();
    EXPECT_EQ(parsed.size(), 10u);
    EXPECT_EQ(parsed.at("reply_code").as_int64(), 0);
    EXPECT_EQ(parsed.at("bounce_class").as_string(), "");
}

TEST(PayloadJson, leaves_out_org_id_and_seq)
{
    Event e = testing::make_event("org_secret_name", "delivered", 1);
    e.seq = 987654;
    std::string body = payload_json(e);
    EXPECT_EQ(body.find("org_secret_name"), std::string::npos);
    EXPECT_EQ(body.find("987654"), std::string::npos);
}

TEST(PayloadJson, escapes_quotes_and_control_characters)
{
    Event e;
    e.reason = "said \"no\"\r\nX-Injected: 1";
    auto parsed = boost::json::parse(payload_json(e)).as_object();
    EXPECT_EQ(parsed.at("reason").as_string(), e.reason);
}

}  // namespace
}  // namespace carepost::events
