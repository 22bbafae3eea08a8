#include "dkim/dkim.hpp"

// The header under test comes first (it must compile alone); then the rest.
#include <gtest/gtest.h>

#include "dkim/header_fields.hpp"
#include "dkim/rsa_key.hpp"

namespace carepost::dkim {
namespace {

// Field case C01: bodies and the relaxed/simple bh= values from its table.
constexpr std::string_view kC01Body1 = "Hello!\r\n  \r\n\r\n";
constexpr std::string_view kC01Body2 =
    "Dear patient,\r\n\r\nYour  appointment \t is confirmed. \t\r\n \r\n\t\r\n\r\n";

TEST(BodyRelaxed, c01_whitespace_only_trailing_line_is_dropped)
{
    std::string canonical = canonicalize_body_relaxed(kC01Body1);
    EXPECT_EQ(canonical, "Hello!\r\n");
    EXPECT_EQ(sha256_base64(canonical), "EVfAHeUMDygbJe0SkMWJHjgXGjtiTLZnMQbyWqzsrCY=");
}

TEST(BodyRelaxed, c01_wsp_runs_collapse_and_trailing_wsp_lines_go)
{
    std::string canonical = canonicalize_body_relaxed(kC01Body2);
    EXPECT_EQ(canonical, "Dear patient,\r\n\r\nYour appointment is confirmed.\r\n");
    EXPECT_EQ(sha256_base64(canonical), "+YCOsljiowQH3xOyxb3qNZ19Us0ibkJDQv+1J6sgAds=");
}

TEST(BodyRelaxed, c01_empty_body_hashes_the_empty_string)
{
    EXPECT_EQ(canonicalize_body_relaxed(""), "");
    EXPECT_EQ(
        sha256_base64(canonicalize_body_relaxed("")),
        "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    EXPECT_EQ(canonicalize_body_relaxed("\r\n\r\n \t\r\n"), "");
}

TEST(BodySimpleReference, c01_simple_hashes_match_the_table)
{
    // The simple form (only empty lines at the end go, so the WSP-only line
    // stays) checks the hashing helper against the table's second column.
    EXPECT_EQ(sha256_base64("Hello!\r\n  \r\n"), "u3rrfJGdJgpqQfMmPpfHOLAo2a93b6wOOCXAr2FunaM=");
    EXPECT_EQ(sha256_base64("\r\n"), "frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY=");
}

TEST(BodyRelaxed, body_without_final_crlf_gets_one)
{
    EXPECT_EQ(canonicalize_body_relaxed("a  b\t"), "a b\r\n");
}

TEST(BodyRelaxed, whitespace_only_line_in_the_middle_becomes_empty_and_stays)
{
    EXPECT_EQ(canonicalize_body_relaxed("a\r\n \t \r\nb\r\n"), "a\r\n\r\nb\r\n");
}

TEST(BodyRelaxed, leading_wsp_becomes_one_space)
{
    EXPECT_EQ(canonicalize_body_relaxed("\t\t x\r\n"), " x\r\n");
}

TEST(HeaderRelaxed, name_is_lowercased_and_value_trimmed)
{
    EXPECT_EQ(canonicalize_header_relaxed("SubJect", " Hello  "), "subject:Hello\r\n");
}

TEST(HeaderRelaxed, wsp_runs_inside_the_value_become_one_space)
{
    EXPECT_EQ(canonicalize_header_relaxed("To", "\ta \t b  \t c"), "to:a b c\r\n");
}

TEST(HeaderRelaxed, folded_value_is_unfolded)
{
    EXPECT_EQ(
        canonicalize_header_relaxed("Subject", " first part\r\n second\r\n\tthird \r\n "),
        "subject:first part second third\r\n");
}

TEST(HeaderRelaxed, wsp_before_the_colon_is_removed)
{
    EXPECT_EQ(canonicalize_header_relaxed("From \t", " x"), "from:x\r\n");
}

TEST(HeaderRelaxed, empty_value_keeps_the_colon)
{
    EXPECT_EQ(canonicalize_header_relaxed("X-Empty", "   "), "x-empty:\r\n");
}

TEST(SplitMessage, folded_fields_keep_their_continuations)
{
    SplitMessage m = split_message("A: 1\r\nB: 2\r\n  3\r\n\r\nbody\r\n");
    ASSERT_EQ(m.headers.size(), 2u);
    EXPECT_EQ(m.headers[1].name, "B");
    EXPECT_EQ(m.headers[1].value, " 2\r\n  3");
    EXPECT_EQ(m.body, "body\r\n");
}

TEST(SplitMessage, message_without_body_has_empty_body)
{
    SplitMessage m = split_message("A: 1\r\n");
    ASSERT_EQ(m.headers.size(), 1u);
    EXPECT_EQ(m.body, "");
}

}  // namespace
}  // namespace carepost::dkim
