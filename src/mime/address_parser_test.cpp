#include "mime/mime.hpp"
// The header under test comes first, so it is known to stand alone.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace carepost::mime {
namespace {

TEST(ParseAddress, plain_address_keeps_its_parts)
{
    const auto a = parse_address("a@b.example");
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->local, "a");
    EXPECT_EQ(a->domain, "b.example");
    EXPECT_EQ(a->ascii_domain, "b.example");
    EXPECT_TRUE(a->is_ascii_local);
    EXPECT_EQ(envelope_form(*a), "a@b.example");
}

TEST(ParseAddress, idn_domain_becomes_a_labels)
{
    const auto a = parse_address("patient@bücher.example");
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->domain, "bücher.example");
    EXPECT_EQ(a->ascii_domain, "xn--bcher-kva.example");
    EXPECT_EQ(envelope_form(*a), "patient@xn--bcher-kva.example");
    EXPECT_TRUE(a->is_ascii_local);
}

TEST(ParseAddress, utf8_local_part_stays_raw)
{
    const auto a = parse_address("пациент@example.org");
    ASSERT_TRUE(a.has_value());
    EXPECT_FALSE(a->is_ascii_local);
    EXPECT_EQ(envelope_form(*a), "пациент@example.org");
}

TEST(ParseAddress, quoted_local_part_and_address_literals_are_accepted)
{
    EXPECT_TRUE(parse_address("\"Front Desk\"@clinic.example.org").has_value());
    EXPECT_TRUE(parse_address("x@[192.0.2.1]").has_value());
    EXPECT_TRUE(parse_address("x@[IPv6:2001:db8::1]").has_value());
}

TEST(ParseAddress, broken_addresses_are_refused_with_invalid_address)
{
    for (const auto* bad :
         {"",
          "plain",
          "@example.org",
          "a@",
          "a..b@example.org",
          "a@-x.example",
          "a b@example.org",
          "a@example.org\r\nBcc: x@example.net",
          "a@[300.1.1.1]",
          "a@b@c",
          "\xff@example.org"}) {
        const auto r = parse_address(bad);
        ASSERT_FALSE(r.has_value()) << bad;
        EXPECT_EQ(r.error().code, "invalid_address");
    }
}

TEST(ParseAddress, length_limits_follow_rfc_5321)
{
    EXPECT_TRUE(parse_address(std::string(64, 'a') + "@example.org").has_value());
    EXPECT_FALSE(parse_address(std::string(65, 'a') + "@example.org").has_value());
    EXPECT_FALSE(parse_address("a@" + std::string(64, 'b') + ".example").has_value());
}

struct Row {
    std::string file;
    std::string id;
    std::string address;
    std::string diagnosis;
    bool is_valid = false;
};

std::vector<Row> load_is_email_rows()
{
    const std::filesystem::path dir =
        std::filesystem::path(CAREPOST_SHARED_DIR) / "corpus/email-address-validation";
    std::vector<Row> rows;
    for (const auto* file : {"tests.expected.tsv", "tests-original.expected.tsv"}) {
        std::ifstream in(dir / file);
        std::string line;
        std::getline(in, line);
        while (std::getline(in, line)) {
            std::vector<std::string> cells;
            std::stringstream row(line);
            for (std::string cell; std::getline(row, cell, '\t');) {
                cells.push_back(cell);
            }
            if (cells.size() < 8) {
                continue;
            }
            rows.push_back({
                file,
                cells[0],
                std::string(boost::json::parse(cells[2]).as_string()),
                cells[5],
                cells[7] == "true",
            });
        }
    }
    return rows;
}

// Oracle: is_email's valid_for_smtp_envelope (DNSWARN rows count as valid,
// as the corpus README says for an offline validator).
TEST(ParseAddress, is_email_corpus_agrees_with_valid_for_smtp_envelope)
{
    const auto rows = load_is_email_rows();
    ASSERT_EQ(rows.size(), 313u);
    std::size_t passed = 0;
    for (const auto& row : rows) {
        const bool is_accepted = parse_address(row.address).has_value();
        if (is_accepted == row.is_valid) {
            ++passed;
            continue;
        }
        std::cout << "is_email mismatch " << row.file << " id " << row.id << " "
                  << boost::json::serialize(boost::json::string(row.address)) << " expected "
                  << (row.is_valid ? "valid" : "invalid") << " (" << row.diagnosis << ")\n";
    }
    const double rate = 100.0 * static_cast<double>(passed) / static_cast<double>(rows.size());
    std::cout << "is_email pass rate: " << passed << "/" << rows.size() << " (" << rate << "%)\n";
    EXPECT_GE(rate, 99.0);
}

}  // namespace
}  // namespace carepost::mime
