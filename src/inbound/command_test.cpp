#include <gtest/gtest.h>

#include "inbound/command.hpp"

namespace carepost::inbound::detail {
namespace {

TEST(ParseCommand, ReadsVerbsInAnyCaseWithTheirArgument)
{
    auto command = parse_command("eHlo  mx.example.org  ");
    EXPECT_EQ(command.verb, Verb::ehlo);
    EXPECT_EQ(command.argument, "mx.example.org");
    EXPECT_EQ(parse_command("QUIT").verb, Verb::quit);
    EXPECT_EQ(parse_command("data").verb, Verb::data);
    EXPECT_EQ(parse_command("STARTTLS").verb, Verb::not_implemented);
    EXPECT_EQ(parse_command("BDAT 10 LAST").verb, Verb::not_implemented);
    EXPECT_EQ(parse_command("").verb, Verb::unknown);
    EXPECT_EQ(parse_command("MAILFROM:<a@b>").verb, Verb::unknown);
    EXPECT_EQ(parse_command("GET / HTTP/1.1").verb, Verb::unknown);
}

TEST(ParsePathArgument, ReadsAddressAndParameters)
{
    auto parsed =
        parse_path_argument("FROM:<a@b.example> size=1234 BODY=8BITMIME SMTPUTF8", "FROM:");
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->address, "a@b.example");
    ASSERT_EQ(parsed->parameters.size(), 3u);
    EXPECT_EQ(parsed->parameters[0].first, "SIZE");
    EXPECT_EQ(parsed->parameters[0].second, "1234");
    EXPECT_EQ(parsed->parameters[1].second, "8BITMIME");
    EXPECT_EQ(parsed->parameters[2].first, "SMTPUTF8");
    EXPECT_EQ(parsed->parameters[2].second, "");
}

TEST(ParsePathArgument, TakesTheNullPathASpaceAfterTheColonAndASourceRoute)
{
    auto null_path = parse_path_argument("from:<>", "FROM:");
    ASSERT_TRUE(null_path);
    EXPECT_EQ(null_path->address, "");
    auto spaced = parse_path_argument("TO: <x@y.test>", "TO:");
    ASSERT_TRUE(spaced);
    EXPECT_EQ(spaced->address, "x@y.test");
    auto routed = parse_path_argument("TO:<@relay.test,@b.test:x@y.test>", "TO:");
    ASSERT_TRUE(routed);
    EXPECT_EQ(routed->address, "x@y.test");
    auto quoted = parse_path_argument("TO:<\"odd> name\"@y.test>", "TO:");
    ASSERT_TRUE(quoted);
    EXPECT_EQ(quoted->address, "\"odd> name\"@y.test");
}

TEST(ParsePathArgument, RefusesBadSyntax)
{
    EXPECT_FALSE(parse_path_argument("FROM:a@b", "FROM:"));
    EXPECT_FALSE(parse_path_argument("TO:<a@b>", "FROM:"));
    EXPECT_FALSE(parse_path_argument("FROM:<a@b", "FROM:"));
    EXPECT_FALSE(parse_path_argument("FROM:<a b@c>", "FROM:"));
    EXPECT_FALSE(parse_path_argument("FROM:<a\x01@c>", "FROM:"));
    EXPECT_FALSE(parse_path_argument("FROM:<a@c> SIZE=", "FROM:"));
    EXPECT_FALSE(parse_path_argument("FROM:<a@c> =1", "FROM:"));
    EXPECT_FALSE(parse_path_argument("FROM:<a@c>junk<", "FROM:"));
    EXPECT_FALSE(parse_path_argument("FROM:<" + std::string(300, 'a') + "@c>", "FROM:"));
}

}  // namespace
}  // namespace carepost::inbound::detail
