#include "mime/mime.hpp"
// The header under test comes first, so it is known to stand alone.
#include <gtest/gtest.h>

namespace carepost::mime {
namespace {

TEST(HeaderRules, forbidden_octets_are_cr_lf_and_nul_anywhere)
{
    EXPECT_FALSE(has_forbidden_header_octet("Front Desk, Ward 3 \"East\""));
    EXPECT_FALSE(has_forbidden_header_octet("tab\there"));
    EXPECT_TRUE(has_forbidden_header_octet("a\r\nBcc: x@example.net"));
    EXPECT_TRUE(has_forbidden_header_octet("lone\rcr"));
    EXPECT_TRUE(has_forbidden_header_octet("lone\nlf"));
    EXPECT_TRUE(has_forbidden_header_octet(std::string_view("nul\0x", 5)));
    EXPECT_TRUE(has_forbidden_header_octet("\n"));
}

TEST(HeaderRules, extension_and_listed_headers_are_allowed)
{
    for (const auto* name :
         {"X-Case-Ref",
          "x-priority",
          "X-A_b.c",
          "In-Reply-To",
          "references",
          "List-Id",
          "List-Unsubscribe",
          "List-Unsubscribe-Post",
          "Auto-Submitted"}) {
        EXPECT_TRUE(is_allowed_custom_header(name)) << name;
    }
}

TEST(HeaderRules, headers_the_composer_or_relays_own_are_refused)
{
    for (const auto* name :
         {"From",
          "To",
          "Cc",
          "Bcc",
          "Subject",
          "Date",
          "Message-ID",
          "MIME-Version",
          "Content-Type",
          "Content-Transfer-Encoding",
          "content-disposition",
          "DKIM-Signature",
          "Received",
          "Return-Path",
          "Reply-To",
          "Sender"}) {
        EXPECT_FALSE(is_allowed_custom_header(name)) << name;
    }
}

TEST(HeaderRules, malformed_names_are_refused)
{
    for (const auto* name : {"", "X-", "X-Bad\r\nName", "X-Bad Name", "X-Bad:Name", "Xcase"}) {
        EXPECT_FALSE(is_allowed_custom_header(name)) << name;
    }
    EXPECT_FALSE(is_allowed_custom_header("X-" + std::string(80, 'a')));
}

}  // namespace
}  // namespace carepost::mime
