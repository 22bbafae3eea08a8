#include <gtest/gtest.h>

#include "bounce/fields.hpp"

namespace carepost::bounce::detail {
namespace {

TEST(BounceFields, SplitsBlocksAndUnfoldsContinuationLines)
{
    auto blocks = parse_field_blocks(
        "Reporting-MTA: dns; mta1\r\n\r\nFinal-Recipient: rfc822; a@example.net\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <a@example.net>: Recipient\r\n    rejected\r\n");
    ASSERT_EQ(blocks.size(), 2u);
    EXPECT_EQ(find_field(blocks[0], "reporting-mta"), "dns; mta1");
    EXPECT_EQ(
        find_field(blocks[1], "diagnostic-code"),
        "smtp; 550 5.1.1 <a@example.net>: Recipient rejected");
}

TEST(BounceFields, StripsAddressTypeAndBrackets)
{
    EXPECT_EQ(strip_address_type("rfc822; <User@Example.org>"), "User@Example.org");
    EXPECT_EQ(strip_address_type("  b@example.org "), "b@example.org");
}

TEST(BounceFields, CollapsesWhitespace)
{
    EXPECT_EQ(collapse_space("  a \t b\r\n c  "), "a b c");
}

}  // namespace
}  // namespace carepost::bounce::detail
