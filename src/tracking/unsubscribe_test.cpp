#include "tracking/tracking.hpp"
// The header under test comes first: it must compile on its own.

#include <algorithm>

#include <gtest/gtest.h>

namespace carepost::tracking {
namespace {

TEST(ListUnsubscribe, https_only)
{
    EXPECT_EQ(
        list_unsubscribe_value("https://u.example.org/u/AbC-_9", ""),
        "<https://u.example.org/u/AbC-_9>");
}

TEST(ListUnsubscribe, https_then_mailto)
{
    EXPECT_EQ(
        list_unsubscribe_value("https://u.example.org/u/T", "unsubscribe+x@clinic.example.org"),
        "<https://u.example.org/u/T>, "
        "<mailto:unsubscribe+x@clinic.example.org?subject=unsubscribe>");
    EXPECT_EQ(
        list_unsubscribe_value("https://u.example.org/u/T", "mailto:u@clinic.example.org"),
        "<https://u.example.org/u/T>, <mailto:u@clinic.example.org?subject=unsubscribe>");
}

TEST(ListUnsubscribe, cannot_break_out_of_brackets_or_the_header)
{
    auto value =
        list_unsubscribe_value("https://u.example/a>b c\r\nBcc: x", "a?b&c#d%e>\r\n@x.example");
    EXPECT_EQ(
        value,
        "<https://u.example/a%3Eb%20c%0D%0ABcc:%20x>, "
        "<mailto:a%3Fb%26c%23d%25e%3E%0D%0A@x.example?subject=unsubscribe>");
    EXPECT_EQ(value.find_first_of("\r\n"), std::string::npos);
    EXPECT_EQ(std::count(value.begin(), value.end(), '<'), 2);
    EXPECT_EQ(std::count(value.begin(), value.end(), '>'), 2);
}

TEST(ListUnsubscribe, post_value_is_rfc8058_exact)
{
    EXPECT_EQ(list_unsubscribe_post_value, "List-Unsubscribe=One-Click");
}

TEST(OneClickBody, accepts_the_rfc8058_body_forms)
{
    EXPECT_TRUE(is_one_click_body("List-Unsubscribe=One-Click"));
    EXPECT_TRUE(is_one_click_body("List-Unsubscribe=One-Click\r\n"));
    EXPECT_TRUE(is_one_click_body("a=1&List-Unsubscribe=One-Click&b=2"));
    EXPECT_TRUE(is_one_click_body("List%2DUnsubscribe=One%2dClick"));
}

TEST(OneClickBody, refuses_anything_else)
{
    for (std::string_view body :
         {"",
          "List-Unsubscribe",
          "List-Unsubscribe=",
          "list-unsubscribe=one-click",
          "List-Unsubscribe=One-Click2",
          "XList-Unsubscribe=One-Click",
          "List-Unsubscribe=One+Click",
          "List-Unsubscribe=One-Click%",
          "List-Unsubscribe=One-Click%zz"}) {
        EXPECT_FALSE(is_one_click_body(body)) << body;
    }
}

TEST(Pixel, is_a_one_by_one_transparent_gif)
{
    auto gif = pixel_gif();
    ASSERT_EQ(gif.size(), 43u);
    EXPECT_EQ(gif.substr(0, 6), "GIF89a");
    auto u16 = [&](std::size_t at) {
        return static_cast<unsigned char>(gif[at]) | (static_cast<unsigned char>(gif[at + 1]) << 8);
    };
    EXPECT_EQ(u16(6), 1);  // logical screen width
    EXPECT_EQ(u16(8), 1);  // height
    auto packed = static_cast<unsigned char>(gif[10]);
    ASSERT_TRUE(packed & 0x80);  // global colour table present
    std::size_t table = 3u << ((packed & 7) + 1);
    std::size_t at = 13 + table;
    // Graphic control extension with the transparency flag, then the image.
    ASSERT_EQ(static_cast<unsigned char>(gif[at]), 0x21);
    ASSERT_EQ(static_cast<unsigned char>(gif[at + 1]), 0xf9);
    EXPECT_TRUE(gif[at + 3] & 1);
    at += 8;
    ASSERT_EQ(gif[at], 0x2c);
    EXPECT_EQ(u16(at + 5), 1);
    EXPECT_EQ(u16(at + 7), 1);
    EXPECT_EQ(static_cast<unsigned char>(gif.back()), 0x3b);
}

TEST(UnsubscribePage, landing_page_posts_one_click_and_loads_nothing)
{
    std::string page = unsubscribe_page(false);
    EXPECT_NE(page.find("<form method=\"post\""), std::string::npos);
    EXPECT_EQ(page.find("action="), std::string::npos);  // posts back to the same URL
    EXPECT_NE(page.find("name=\"List-Unsubscribe\" value=\"One-Click\""), std::string::npos);
    for (std::string_view external : {"http:", "https:", "src=", "<link", "<script", "//"}) {
        EXPECT_EQ(page.find(external), std::string::npos) << external;
    }
}

TEST(UnsubscribePage, confirmation_page_has_no_form)
{
    std::string page = unsubscribe_page(true);
    EXPECT_EQ(page.find("<form"), std::string::npos);
    EXPECT_NE(page.find("unsubscribed"), std::string::npos);
    EXPECT_EQ(page.find("http"), std::string::npos);
}

}  // namespace
}  // namespace carepost::tracking
