#include "mime/mime.hpp"
// The header under test comes first, so it is known to stand alone.
#include <atomic>
#include <functional>
#include <map>
#include <random>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "mime/oracle_runner.hpp"

namespace carepost::mime {
namespace {

using testing::CommandResult;
using testing::run_python;
using testing::TempFile;

Message basic_message()
{
    Message m;
    m.from = {"noreply@clinic.example.org", "Clinic"};
    m.to = {{"patient@example.org", ""}};
    m.subject = "Appointment reminder";
    m.text = "See you tomorrow.\n";
    m.date = std::chrono::system_clock::from_time_t(1796305800);  // 2026-12-03T13:50:00Z
    return m;
}

Composed compose_ok(const Message& m)
{
    auto composed = compose(m);
    EXPECT_TRUE(composed.has_value()) << (composed ? "" : composed.error().code);
    return composed ? *composed : Composed{};
}

// Python's email package reads the message back (see testdata/parse_back.py).
boost::json::object parse_back(const std::string& bytes)
{
    const TempFile file(bytes);
    const auto result = run_python("parse_back.py", {file.path()});
    EXPECT_EQ(result.exit_code, 0) << result.out;
    return boost::json::parse(result.out).as_object();
}

std::string str(const boost::json::value& v)
{
    return v.is_string() ? std::string(v.as_string()) : boost::json::serialize(v);
}

std::string decoded_payload(const boost::json::object& part)
{
    const auto b64 = part.at("payload_b64").as_string();
    std::string out;
    int bits = 0;
    unsigned value = 0;
    for (const char c : b64) {
        const auto pos =
            std::string_view("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
                .find(c);
        if (pos == std::string_view::npos) {
            continue;
        }
        value = (value << 6) | static_cast<unsigned>(pos);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((value >> bits) & 0xFF);
        }
    }
    return out;
}

std::vector<boost::json::object> leaf_parts(const boost::json::object& parsed)
{
    std::vector<boost::json::object> out;
    for (const auto& p : parsed.at("parts").as_array()) {
        if (!p.at("multipart").as_bool()) {
            out.push_back(p.as_object());
        }
    }
    return out;
}

std::string type_of(const boost::json::object& parsed, std::size_t index)
{
    return std::string(parsed.at("parts").as_array().at(index).at("type").as_string());
}

std::string header_line(const std::string& bytes, const std::string& name)
{
    const auto start = bytes.find("\r\n" + name + ":");
    if (start == std::string::npos) {
        return bytes.starts_with(name + ":") ? bytes.substr(0, bytes.find("\r\n")) : "";
    }
    const auto end = bytes.find("\r\n", start + 2);
    return bytes.substr(start + 2, end - start - 2);
}

void expect_clean_lines(const boost::json::object& parsed)
{
    EXPECT_LE(parsed.at("longest_line").as_int64(), 78);
    EXPECT_EQ(parsed.at("bare_newlines").as_int64(), 0);
    EXPECT_TRUE(parsed.at("defects").as_array().empty()) << boost::json::serialize(parsed);
}

TEST(Compose, text_only_is_a_single_7bit_text_plain_part)
{
    const auto composed = compose_ok(basic_message());
    const auto parsed = parse_back(composed.bytes);
    const auto parts = leaf_parts(parsed);
    ASSERT_EQ(parsed.at("parts").as_array().size(), 1u);
    EXPECT_EQ(str(parts[0].at("type")), "text/plain");
    EXPECT_EQ(str(parts[0].at("charset")), "utf-8");
    EXPECT_EQ(str(parts[0].at("cte")), "7bit");
    EXPECT_EQ(decoded_payload(parts[0]), "See you tomorrow.\r\n");
    EXPECT_EQ(str(parsed.at("mime_version")), "1.0");
    EXPECT_EQ(str(parsed.at("subject")), "Appointment reminder");
    EXPECT_EQ(parsed.at("date_epoch").as_int64(), 1796305800);
    expect_clean_lines(parsed);
}

TEST(Compose, html_only_is_a_single_text_html_part)
{
    auto m = basic_message();
    m.text.clear();
    m.html = "<p>Hi</p>";
    const auto parsed = parse_back(compose_ok(m).bytes);
    ASSERT_EQ(parsed.at("parts").as_array().size(), 1u);
    EXPECT_EQ(type_of(parsed, 0), "text/html");
    EXPECT_EQ(decoded_payload(leaf_parts(parsed)[0]), "<p>Hi</p>");
}

TEST(Compose, text_and_html_make_multipart_alternative_with_text_first)
{
    auto m = basic_message();
    m.html = "<p>See you tomorrow.</p>";
    const auto parsed = parse_back(compose_ok(m).bytes);
    ASSERT_EQ(parsed.at("parts").as_array().size(), 3u);
    EXPECT_EQ(type_of(parsed, 0), "multipart/alternative");
    EXPECT_EQ(type_of(parsed, 1), "text/plain");
    EXPECT_EQ(type_of(parsed, 2), "text/html");
    expect_clean_lines(parsed);
}

TEST(Compose, attachments_wrap_the_body_in_multipart_mixed_with_rfc2231_names)
{
    auto m = basic_message();
    m.html = "<p>x</p>";
    std::string binary;
    for (int i = 0; i < 256 * 4; ++i) {
        binary += static_cast<char>(i & 0xFF);
    }
    const std::string long_name =
        "Befund Röntgenaufnahme März – Überweisung Größenänderung Kontrolltermin.pdf";
    m.attachments = {{long_name, "application/pdf", binary}, {"notes.txt", "text/plain", "a\nb"}};
    const auto composed = compose_ok(m);
    const auto parsed = parse_back(composed.bytes);

    EXPECT_EQ(type_of(parsed, 0), "multipart/mixed");
    EXPECT_EQ(type_of(parsed, 1), "multipart/alternative");
    const auto parts = leaf_parts(parsed);
    ASSERT_EQ(parts.size(), 4u);
    EXPECT_EQ(str(parts[2].at("type")), "application/pdf");
    EXPECT_EQ(str(parts[2].at("cte")), "base64");
    EXPECT_EQ(str(parts[2].at("disposition")), "attachment");
    EXPECT_EQ(str(parts[2].at("filename")), long_name);
    EXPECT_EQ(decoded_payload(parts[2]), binary);
    EXPECT_EQ(str(parts[3].at("filename")), "notes.txt");
    EXPECT_EQ(decoded_payload(parts[3]), "a\nb");  // attachments are bytes, never re-lined
    EXPECT_NE(composed.bytes.find("filename*"), std::string::npos);  // RFC 2231, not 2047
    expect_clean_lines(parsed);
}

TEST(Compose, attachment_content_type_with_parameters_is_refused)
{
    auto m = basic_message();
    m.attachments = {{"a.txt", "text/plain; name=x", "a"}};
    const auto r = compose(m);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, "invalid_attachment");
    EXPECT_EQ(r.error().field, "attachments[0].content_type");
}

TEST(Compose, non_ascii_and_long_text_round_trips_through_quoted_printable_or_base64)
{
    const std::vector<std::pair<std::string, bool>> bodies{
        {"Grüße aus der Praxis.\nIhr Termin ist am Montag.\n", true},
        {std::string(300, 'x') + " trailing space \nend", true},
        {"Пациент: результаты готовы. Пожалуйста, позвоните нам.\n", true},
        {"bare\rcarriage return and crlf\r\nline", true},
        {"=3D literal and a dot line\n.\nFrom the start\n", false},
    };
    for (const auto& [body, is_encoded] : bodies) {
        auto m = basic_message();
        m.text = body;
        const auto parsed = parse_back(compose_ok(m).bytes);
        const auto part = leaf_parts(parsed).at(0);
        EXPECT_EQ(str(part.at("cte")) != "7bit", is_encoded) << body;
        std::string want;
        for (std::size_t i = 0; i < body.size(); ++i) {
            if (body[i] == '\n' && (i == 0 || body[i - 1] != '\r')) {
                want += '\r';
            }
            want += body[i];
        }
        EXPECT_EQ(decoded_payload(part), want) << body;
        expect_clean_lines(parsed);
    }
}

// C02: a 1593-octet HTML line must not reach the wire as one line.
TEST(Compose, c02_long_html_line_is_encoded_and_decodes_byte_for_byte)
{
    std::string url = "https://portal.clinic.example.org/invite?token=";
    for (int i = 0; i < 180; ++i) {
        url += "A1b2C3d4";
    }
    auto m = basic_message();
    m.subject = "Activate your portal account";
    m.text.clear();
    m.html = "<html><body><p>Welcome to the patient portal.</p><p><a href=\"" + url +
             "\">Activate your account</a></p></body></html>";
    ASSERT_EQ(m.html.size(), 1593u);
    const auto composed = compose_ok(m);
    const TempFile eml(composed.bytes);

    const auto max_line = run_python("max_line.py", {eml.path()});
    EXPECT_EQ(max_line.exit_code, 0) << max_line.out;
    const TempFile relayed("");
    const auto relay = run_python("relay_wrap.py", {eml.path(), relayed.path()});
    ASSERT_EQ(relay.exit_code, 0) << relay.out;
    std::ifstream in(relayed.path(), std::ios::binary);
    const std::string after_relay{std::istreambuf_iterator<char>(in), {}};
    EXPECT_EQ(after_relay, composed.bytes);  // nothing for a relay to re-wrap

    const auto digest = run_python("html_sha256.py", {eml.path()});
    EXPECT_EQ(digest.out, "3c653a8dfef52fbbb00ba8f0e91bdbce30b76fe3e6c0290901e22942aee05ba0\n");
}

CommandResult
check_2047(const std::string& bytes, const std::string& header, const std::string& want)
{
    const TempFile eml(bytes);
    const TempFile expected(want + "\n");
    return run_python("check_2047.py", {eml.path(), header, expected.path()});
}

// C05: encoded-words never split a character and respect 75/78.
TEST(Compose, c05_long_non_ascii_subjects_pass_the_rfc2047_check)
{
    std::string emoji;
    for (int i = 0; i < 40; ++i) {
        emoji += "\xF0\x9F\x98\x80";
    }
    for (const auto& subject :
         {emoji,
          std::string("Ihr Befund: Überweisung für Röntgenaufnahme – Kontrolltermin nächste "
                      "Woche, Größenänderung äöü")}) {
        auto m = basic_message();
        m.subject = subject;
        const auto composed = compose_ok(m);
        const auto check = check_2047(composed.bytes, "Subject", subject);
        EXPECT_EQ(check.exit_code, 0) << check.out;
        EXPECT_EQ(str(parse_back(composed.bytes).at("subject")), subject);
    }
}

TEST(Compose, c05_long_non_ascii_display_name_passes_the_rfc2047_check)
{
    const std::string name =
        "Praxis Dr. Müller-Lüdenscheidt – Kinder- und Jugendmedizin Größenwahn";
    auto m = basic_message();
    m.from.name = name;
    auto bytes = compose_ok(m).bytes;
    const auto parsed = parse_back(bytes);
    EXPECT_EQ(str(parsed.at("from").as_array().at(0).at("name")), name);
    EXPECT_EQ(str(parsed.at("from").as_array().at(0).at("addr")), "noreply@clinic.example.org");

    // The check script reads a whole header as text; take the address out first.
    const std::string addr = " <noreply@clinic.example.org>";
    bytes.erase(bytes.find(addr), addr.size());
    const auto check = check_2047(bytes, "From", name);
    EXPECT_EQ(check.exit_code, 0) << check.out;
}

// C07: CR, LF or NUL in any header-bound value is refused, naming the field.
TEST(Compose, c07_header_injection_is_refused_with_the_field_named)
{
    struct Case {
        std::function<void(Message&)> poison;
        std::string field;
    };
    const std::vector<Case> cases{
        {[](Message& m) {
             m.reply_to =
                 Mailbox{"frontdesk@clinic.example.org", "Front Desk\r\nBcc: attacker@example.net"};
         },
         "reply_to.name"},
        {[](Message& m) {
             m.reply_to =
                 Mailbox{"frontdesk@clinic.example.org\r\nBcc: attacker@example.net", "Front Desk"};
         },
         "reply_to.email"},
        {[](Message& m) { m.from.name = "Clinic\nX-Priority: 1"; }, "from.name"},
        {[](Message& m) { m.to[0].name = "Pat\rBcc: attacker@example.net"; }, "to[0].name"},
        {[](Message& m) { m.subject = "C07-c\r\nBcc: attacker@example.net"; }, "subject"},
        {[](Message& m) {
             m.headers = {{"X-Case-Ref", "42\r\nBcc: attacker@example.net"}};
         },
         "headers.X-Case-Ref"},
        {[](Message& m) {
             m.headers = {{"X-Bad\r\nName", "1"}};
         },
         "headers"},
        {[](Message& m) { m.subject = std::string("nul\0byte", 8); }, "subject"},
        {[](Message& m) {
             m.cc = {{"c@example.org", "C\n"}};
         },
         "cc[0].name"},
        {[](Message& m) {
             m.attachments = {{"a\r\n.pdf", "application/pdf", "x"}};
         },
         "attachments[0].filename"},
    };
    for (const auto& c : cases) {
        auto m = basic_message();
        c.poison(m);
        const auto r = compose(m);
        ASSERT_FALSE(r.has_value()) << c.field;
        EXPECT_EQ(r.error().code, "header_injection") << c.field;
        EXPECT_EQ(r.error().field, c.field);
    }
}

TEST(Compose, c07_quoted_reply_to_display_name_is_one_address)
{
    auto m = basic_message();
    m.subject = "C07-d";
    m.reply_to = Mailbox{"frontdesk@clinic.example.org", "Front Desk, Ward 3 \"East\""};
    const auto composed = compose_ok(m);
    EXPECT_EQ(
        header_line(composed.bytes, "Reply-To"),
        "Reply-To: \"Front Desk, Ward 3 \\\"East\\\"\" <frontdesk@clinic.example.org>");
    const auto parsed = parse_back(composed.bytes);
    const auto& reply_to = parsed.at("reply_to").as_array();
    ASSERT_EQ(reply_to.size(), 1u);
    EXPECT_EQ(str(reply_to.at(0).at("name")), "Front Desk, Ward 3 \"East\"");
    EXPECT_EQ(str(reply_to.at(0).at("addr")), "frontdesk@clinic.example.org");
    EXPECT_FALSE(parsed.at("bcc_present").as_bool());
    EXPECT_EQ(parsed.at("subject_count").as_int64(), 1);
}

// C08: IDN domains become A-labels; UTF-8 local parts stay raw and need SMTPUTF8.
TEST(Compose, c08_idn_domain_is_an_a_label_in_the_header)
{
    auto m = basic_message();
    m.to = {{"patient@bücher.example", "Jörg Bücher"}};
    const auto composed = compose_ok(m);
    EXPECT_FALSE(composed.needs_smtputf8);
    EXPECT_EQ(
        header_line(composed.bytes, "To"),
        "To: =?UTF-8?Q?J=C3=B6rg_B=C3=BCcher?= <patient@xn--bcher-kva.example>");
    const TempFile eml(composed.bytes);
    const auto check = run_python("c08chk.py", {eml.path()});
    EXPECT_NE(check.out.find("Jörg Bücher patient xn--bcher-kva.example"), std::string::npos)
        << check.out;
    EXPECT_NE(check.out.find("PASS"), std::string::npos) << check.out;
}

TEST(Compose, c08_utf8_local_part_is_raw_and_needs_smtputf8)
{
    auto m = basic_message();
    m.to = {{"пациент@example.org", "Пациент"}};
    const auto composed = compose_ok(m);
    EXPECT_TRUE(composed.needs_smtputf8);
    const auto to = header_line(composed.bytes, "To");
    EXPECT_NE(to.find("<пациент@example.org>"), std::string::npos) << to;
    const TempFile eml(composed.bytes);
    const auto check = run_python("c08chk.py", {eml.path()});
    EXPECT_NE(check.out.find("Пациент пациент example.org"), std::string::npos) << check.out;
    EXPECT_NE(check.out.find("PASS"), std::string::npos) << check.out;
}

// C13 from the composer's side: template output reaches the inbox unchanged.
TEST(Compose, c13_rendered_subject_text_and_html_arrive_exactly)
{
    auto m = basic_message();
    m.subject = "Results from Smith & Jones \"Kids\" Clinic (ref <A-42>)";
    m.text = "Hello <script>alert(1)</script>,\nSmith & Jones \"Kids\" Clinic has new results (ref "
             "<A-42>).\n";
    m.html = "<p>Hello &lt;script&gt;alert(1)&lt;/script&gt;,</p><p>Smith &amp; Jones "
             "&quot;Kids&quot; Clinic has new results (ref &lt;A-42&gt;).</p><p><b>Dr. "
             "Lee</b></p><p><b>Dr. Lee</b></p>";
    const auto composed = compose_ok(m);
    EXPECT_EQ(
        header_line(composed.bytes, "Subject"),
        "Subject: Results from Smith & Jones \"Kids\" Clinic (ref <A-42>)");
    const auto parts = leaf_parts(parse_back(composed.bytes));
    ASSERT_EQ(parts.size(), 2u);
    EXPECT_EQ(
        decoded_payload(parts[0]),
        "Hello <script>alert(1)</script>,\r\nSmith & Jones \"Kids\" Clinic has new results (ref "
        "<A-42>).\r\n");
    EXPECT_EQ(decoded_payload(parts[1]), m.html);
}

TEST(Compose, message_id_is_generated_from_the_sender_domain_or_kept)
{
    auto m = basic_message();
    const auto first = compose_ok(m);
    const auto second = compose_ok(m);
    EXPECT_TRUE(first.message_id.starts_with("<"));
    EXPECT_TRUE(first.message_id.ends_with("@clinic.example.org>"));
    EXPECT_EQ(first.message_id.size(), 1 + 32 + 1 + 18 + 1);
    EXPECT_NE(first.message_id, second.message_id);
    EXPECT_EQ(header_line(first.bytes, "Message-ID"), "Message-ID: " + first.message_id);

    m.message_id = "<abc.123@clinic.example.org>";
    const auto given = compose_ok(m);
    EXPECT_EQ(given.message_id, m.message_id);
    EXPECT_EQ(str(parse_back(given.bytes).at("message_id")), m.message_id);

    m.message_id = "no-brackets@x";
    EXPECT_FALSE(compose(m).has_value());
}

TEST(Compose, custom_headers_are_written_after_the_allow_list_check)
{
    auto m = basic_message();
    m.headers = {{"X-Case-Ref", "42"}, {"X-Note", "Grüße"}, {"In-Reply-To", "<a@example.org>"}};
    const auto composed = compose_ok(m);
    const auto parsed = parse_back(composed.bytes);
    std::map<std::string, std::string> headers;
    for (const auto& h : parsed.at("headers").as_array()) {
        headers[std::string(h.at(0).as_string())] = std::string(h.at(1).as_string());
    }
    EXPECT_EQ(headers["X-Case-Ref"], "42");
    EXPECT_EQ(headers["X-Note"], "Grüße");
    EXPECT_EQ(headers["In-Reply-To"], "<a@example.org>");

    m.headers = {{"Bcc", "attacker@example.net"}};
    const auto refused = compose(m);
    ASSERT_FALSE(refused.has_value());
    EXPECT_EQ(refused.error().code, "invalid_header");
}

TEST(Compose, addresses_and_bodies_are_validated)
{
    auto m = basic_message();
    m.to.push_back({"not an address", ""});
    auto r = compose(m);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, "invalid_address");
    EXPECT_EQ(r.error().field, "to[1].email");

    m = basic_message();
    m.text.clear();
    r = compose(m);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, "missing_body");

    m = basic_message();
    m.subject = "\xC3";
    r = compose(m);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, "invalid_utf8");
}

TEST(Compose, every_recipient_list_is_written_and_bcc_never_is)
{
    auto m = basic_message();
    m.to = {{"a@example.org", "A"}, {"b@example.org", ""}};
    m.cc = {{"c@example.org", "Dr. C"}};
    const auto parsed = parse_back(compose_ok(m).bytes);
    ASSERT_EQ(parsed.at("to").as_array().size(), 2u);
    EXPECT_EQ(str(parsed.at("to").as_array().at(1).at("addr")), "b@example.org");
    EXPECT_EQ(str(parsed.at("cc").as_array().at(0).at("name")), "Dr. C");
    EXPECT_FALSE(parsed.at("bcc_present").as_bool());
}

// GMime objects are per call; only g_mime_init is shared, and it runs once.
TEST(Compose, compose_from_many_threads_gives_the_same_messages)
{
    auto m = basic_message();
    m.html = "<p>Grüße</p>";
    m.attachments = {{"Röntgen.pdf", "application/pdf", std::string(5000, '\x01')}};
    m.message_id = "<fixed@clinic.example.org>";
    const auto reference = compose_ok(m);
    const auto body_of = [](const std::string& bytes) {
        // Boundaries are random; compare lengths and the header block.
        return std::make_pair(bytes.size(), bytes.substr(0, bytes.find("Content-Type")));
    };

    std::atomic<int> mismatches = 0;
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 50; ++i) {
                const auto r = compose(m);
                if (!r || body_of(r->bytes) != body_of(reference.bytes)) {
                    ++mismatches;
                }
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
}  // namespace carepost::mime

namespace carepost::mime {
namespace {

// Random subjects and display names built from ASCII, specials, 2-, 3- and
// 4-octet characters and spaces, checked by the C05 script (fixed seed).
TEST(Compose, random_mixed_subjects_and_names_pass_the_rfc2047_check)
{
    const std::vector<std::string> pieces{
        "a",
        "Z",
        " ",
        "  ",
        ".",
        ",",
        "\"",
        "=",
        "?",
        "_",
        "=?",
        "ä",
        "ß",
        "–",
        "€",
        "😀",
        "ж",
        "word",
        "Kontrolltermin",
        "\\",
        "(",
        "<"};
    std::mt19937 random(20261203);
    for (int round = 0; round < 12; ++round) {
        std::string text;
        const auto length = 5 + random() % 60;
        for (std::size_t i = 0; i < length; ++i) {
            text += pieces[random() % pieces.size()];
        }
        // Leading and trailing spaces are not kept by any header parser.
        while (!text.empty() && text.front() == ' ') {
            text.erase(0, 1);
        }
        while (!text.empty() && text.back() == ' ') {
            text.pop_back();
        }
        auto m = basic_message();
        m.subject = text;
        const auto composed = compose_ok(m);
        const auto check = check_2047(composed.bytes, "Subject", text);
        EXPECT_EQ(check.exit_code, 0) << text << "\n" << check.out;
        EXPECT_EQ(str(parse_back(composed.bytes).at("subject")), text);
    }
}

TEST(ParseAddressRobustness, random_bytes_never_crash_and_accepted_ones_are_clean)
{
    std::mt19937 random(5321);
    const std::string alphabet = "aZ09.@\"\\[]:-_ \t\r\n\x01\xc3\xa4\xff()<>,;";
    for (int round = 0; round < 20000; ++round) {
        std::string input;
        const auto length = random() % 24;
        for (std::size_t i = 0; i < length; ++i) {
            input += alphabet[random() % alphabet.size()];
        }
        const auto parsed = parse_address(input);
        if (parsed) {
            EXPECT_FALSE(has_forbidden_header_octet(envelope_form(*parsed))) << input;
            EXPECT_EQ(envelope_form(*parsed).find(' '), std::string::npos) << input;
        }
    }
}

}  // namespace
}  // namespace carepost::mime
