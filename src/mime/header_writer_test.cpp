#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mime/header_writer.hpp"

namespace carepost::mime {
namespace {

std::vector<std::string> lines_of(const std::string& field)
{
    std::vector<std::string> lines;
    for (std::size_t start = 0; start < field.size();) {
        const auto end = field.find("\r\n", start);
        lines.push_back(field.substr(start, end - start));
        start = end + 2;
    }
    return lines;
}

void expect_within_limits(const std::string& field)
{
    ASSERT_TRUE(field.ends_with("\r\n"));
    for (const auto& line : lines_of(field)) {
        EXPECT_LE(line.size(), max_header_line_octets) << line;
    }
    const std::regex word(R"(=\?[^?]+\?[BQ]\?[^?]*\?=)");
    for (auto it = std::sregex_iterator(field.begin(), field.end(), word);
         it != std::sregex_iterator();
         ++it) {
        EXPECT_LE(it->length(), static_cast<long>(max_encoded_word_octets)) << it->str();
    }
}

std::string emoji(int count)
{
    std::string out;
    for (int i = 0; i < count; ++i) {
        out += "\xF0\x9F\x98\x80";
    }
    return out;
}

TEST(HeaderWriter, short_ascii_subject_is_written_as_it_is)
{
    EXPECT_EQ(
        write_unstructured("Subject", "Results from Smith & Jones \"Kids\" Clinic (ref <A-42>)"),
        "Subject: Results from Smith & Jones \"Kids\" Clinic (ref <A-42>)\r\n");
}

TEST(HeaderWriter, long_ascii_subject_folds_before_whitespace_only)
{
    std::string subject;
    for (int i = 0; i < 30; ++i) {
        subject += (i ? " " : "") + std::string("word") + std::to_string(i);
    }
    const auto field = write_unstructured("Subject", subject);
    expect_within_limits(field);
    std::string unfolded = field.substr(0, field.size() - 2);
    for (std::size_t pos; (pos = unfolded.find("\r\n")) != std::string::npos;) {
        unfolded.erase(pos, 2);
    }
    EXPECT_EQ(unfolded, "Subject: " + subject);
}

TEST(HeaderWriter, c05_emoji_subject_matches_the_reference_encoding)
{
    EXPECT_EQ(
        write_unstructured("Subject", emoji(40)),
        "Subject: =?UTF-8?B?8J+YgPCfmIDwn5iA8J+YgPCfmIDwn5iA8J+YgPCfmIDwn5iA8J+YgA==?=\r\n"
        " =?UTF-8?B?8J+YgPCfmIDwn5iA8J+YgPCfmIDwn5iA8J+YgPCfmIDwn5iA8J+YgPCfmIA=?=\r\n"
        " =?UTF-8?B?8J+YgPCfmIDwn5iA8J+YgPCfmIDwn5iA8J+YgPCfmIDwn5iA8J+YgPCfmIA=?=\r\n"
        " =?UTF-8?B?8J+YgPCfmIDwn5iA8J+YgPCfmIDwn5iA8J+YgPCfmIA=?=\r\n");
}

TEST(HeaderWriter, mostly_ascii_text_uses_q_words_within_limits)
{
    const auto field = write_unstructured(
        "Subject",
        "Ihr Befund: Überweisung für Röntgenaufnahme – Kontrolltermin nächste Woche, "
        "Größenänderung äöü");
    EXPECT_NE(field.find("=?UTF-8?Q?"), std::string::npos);
    expect_within_limits(field);
}

TEST(HeaderWriter, ascii_that_looks_like_an_encoded_word_is_encoded)
{
    const auto field = write_unstructured("Subject", "=?utf-8?q?x?=");
    EXPECT_EQ(field.find("Subject: =?utf-8"), std::string::npos);
    EXPECT_NE(field.find("=?UTF-8?"), std::string::npos);
}

TEST(HeaderWriter, control_characters_are_encoded_not_written)
{
    const auto field = write_unstructured("Subject", "bell\x07here");
    EXPECT_EQ(field.find('\x07'), std::string::npos);
}

TEST(HeaderWriter, display_names_are_atoms_quoted_or_encoded)
{
    EXPECT_EQ(
        write_mailboxes("From", {{"Clinic", "noreply@clinic.example.org"}}),
        "From: Clinic <noreply@clinic.example.org>\r\n");
    EXPECT_EQ(
        write_mailboxes(
            "Reply-To", {{"Front Desk, Ward 3 \"East\"", "frontdesk@clinic.example.org"}}),
        "Reply-To: \"Front Desk, Ward 3 \\\"East\\\"\" <frontdesk@clinic.example.org>\r\n");
    EXPECT_EQ(
        write_mailboxes("To", {{"", "a@example.org"}, {"Dr. A\\B", "b@example.org"}}),
        "To: a@example.org, \"Dr. A\\\\B\" <b@example.org>\r\n");
    EXPECT_EQ(
        write_mailboxes("To", {{"Jörg Bücher", "patient@xn--bcher-kva.example"}}),
        "To: =?UTF-8?Q?J=C3=B6rg_B=C3=BCcher?= <patient@xn--bcher-kva.example>\r\n");
}

TEST(HeaderWriter, many_recipients_fold_between_addresses)
{
    std::vector<MailboxText> boxes;
    for (int i = 0; i < 12; ++i) {
        boxes.push_back({"Patient " + std::to_string(i), "p" + std::to_string(i) + "@example.org"});
    }
    const auto field = write_mailboxes("To", boxes);
    expect_within_limits(field);
    EXPECT_GT(lines_of(field).size(), 3u);
}

TEST(HeaderWriter, structured_values_must_be_plain_ascii)
{
    EXPECT_EQ(
        write_plain("In-Reply-To", "<a@example.org>").value_or(""),
        "In-Reply-To: <a@example.org>\r\n");
    EXPECT_FALSE(write_plain("List-Id", "Größe <x.example.org>").has_value());
}

}  // namespace
}  // namespace carepost::mime
