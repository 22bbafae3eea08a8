#include "smtp/data_encoder.hpp"

// The header under test comes first (it must compile alone); then the rest.
#include <gtest/gtest.h>

namespace carepost::smtp {
namespace {

// Field case C03, relay path: the exact DATA bytes for the body.
TEST(DataEncoder, c03_lines_starting_with_a_dot_get_one_more)
{
    std::string body = "hello\r\n.\r\nhello\r\n.hidden line\r\n..two dots\r\nend\r\n";
    EXPECT_EQ(
        encode_data(body), "hello\r\n..\r\nhello\r\n..hidden line\r\n...two dots\r\nend\r\n.\r\n");
}

TEST(DataEncoder, dot_on_the_very_first_line_is_stuffed)
{
    EXPECT_EQ(encode_data(".\r\n"), "..\r\n.\r\n");
}

TEST(DataEncoder, message_without_final_crlf_gets_one)
{
    EXPECT_EQ(encode_data("a\r\nb"), "a\r\nb\r\n.\r\n");
    EXPECT_EQ(encode_data(""), ".\r\n");
}

// Smuggling class: a bare LF or CR around a dot must not end the data at a
// peer that accepts bare line ends; both become CRLF and the dot is stuffed.
TEST(DataEncoder, bare_lf_and_cr_become_crlf_and_dots_after_them_are_stuffed)
{
    EXPECT_EQ(encode_data("x\n.\nMAIL FROM:<a@b>\r\n"), "x\r\n..\r\nMAIL FROM:<a@b>\r\n.\r\n");
    EXPECT_EQ(encode_data("x\r.\rnext"), "x\r\n..\r\nnext\r\n.\r\n");
    EXPECT_EQ(encode_data("x\n.\r\n"), "x\r\n..\r\n.\r\n");
}

TEST(DataEncoder, dots_inside_a_line_are_untouched)
{
    EXPECT_EQ(encode_data("a.b .\r\n"), "a.b .\r\n.\r\n");
}

TEST(DataEncoder, detects_8bit_content)
{
    EXPECT_FALSE(has_8bit("plain ascii\r\n"));
    EXPECT_TRUE(has_8bit("J\xc3\xb6rg\r\n"));
}

}  // namespace
}  // namespace carepost::smtp
