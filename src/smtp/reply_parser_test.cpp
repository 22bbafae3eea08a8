#include "smtp/reply_parser.hpp"

// The header under test comes first (it must compile alone); then the rest.
#include <gtest/gtest.h>

#include "smtp/capabilities.hpp"

namespace carepost::smtp {
namespace {

TEST(ReplyParser, single_line_with_enhanced_code)
{
    ParsedReply p = parse_reply("550 5.1.1 mailbox unknown\r\nrest");
    ASSERT_EQ(p.status, ParseStatus::complete);
    EXPECT_EQ(p.reply.code, 550);
    EXPECT_EQ(p.reply.enhanced, "5.1.1");
    EXPECT_EQ(p.reply.text, "mailbox unknown");
    EXPECT_EQ(p.consumed, 27u);
}

TEST(ReplyParser, multi_line_reply_joins_text_and_keeps_lines)
{
    ParsedReply p = parse_reply("250-mx.example\r\n250-PIPELINING\r\n250 SIZE 1000\r\n");
    ASSERT_EQ(p.status, ParseStatus::complete);
    EXPECT_EQ(p.reply.code, 250);
    EXPECT_EQ(p.reply.enhanced, "");
    ASSERT_EQ(p.lines.size(), 3u);
    EXPECT_EQ(p.lines[2], "SIZE 1000");
    EXPECT_EQ(p.reply.text, "mx.example PIPELINING SIZE 1000");
}

TEST(ReplyParser, incomplete_reply_needs_more)
{
    EXPECT_EQ(parse_reply("250-first\r\n250 sec").status, ParseStatus::need_more);
    EXPECT_EQ(parse_reply("").status, ParseStatus::need_more);
}

TEST(ReplyParser, code_only_line_is_a_reply)
{
    ParsedReply p = parse_reply("354\r\n");
    ASSERT_EQ(p.status, ParseStatus::complete);
    EXPECT_EQ(p.reply.code, 354);
}

TEST(ReplyParser, enhanced_code_of_another_class_is_text)
{
    ParsedReply p = parse_reply("250 5.1.1 odd\r\n");
    EXPECT_EQ(p.reply.enhanced, "");
    EXPECT_EQ(p.reply.text, "5.1.1 odd");
}

TEST(ReplyParser, malformed_lines_are_rejected)
{
    EXPECT_EQ(parse_reply("hello\r\n").status, ParseStatus::malformed);
    EXPECT_EQ(parse_reply("250x\r\n").status, ParseStatus::malformed);
    EXPECT_EQ(parse_reply("250-a\r\n251 b\r\n").status, ParseStatus::malformed);
}

TEST(ReplyParser, endless_reply_is_malformed)
{
    std::string flood;
    while (flood.size() <= kMaxReplyOctets) {
        flood += "250-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n";
    }
    EXPECT_EQ(parse_reply(flood).status, ParseStatus::malformed);
    EXPECT_EQ(parse_reply(std::string(kMaxReplyOctets + 1, 'x')).status, ParseStatus::malformed);
}

TEST(ReplyParser, text_is_cut_and_control_bytes_replaced)
{
    std::string line = "550 " + std::string(500, 'a') + "\r\n";
    EXPECT_EQ(parse_reply(line).reply.text.size(), 200u);
    EXPECT_EQ(parse_reply("550 a\x1b[31mb\r\n").reply.text, "a?[31mb");
}

TEST(Capabilities, keywords_are_case_insensitive_and_size_is_read)
{
    Capabilities caps = parse_capabilities(
        {"mx.example greets you",
         "pipelining",
         "STARTTLS",
         "SIZE 52428800",
         "8BITMIME",
         "SMTPUTF8"});
    EXPECT_TRUE(caps.has_pipelining);
    EXPECT_TRUE(caps.has_starttls);
    EXPECT_TRUE(caps.has_8bitmime);
    EXPECT_TRUE(caps.has_smtputf8);
    EXPECT_TRUE(caps.has_size);
    EXPECT_EQ(caps.size_limit, 52428800u);
}

TEST(Capabilities, greeting_line_is_not_a_keyword)
{
    Capabilities caps = parse_capabilities({"STARTTLS"});
    EXPECT_FALSE(caps.has_starttls);
}

}  // namespace
}  // namespace carepost::smtp
