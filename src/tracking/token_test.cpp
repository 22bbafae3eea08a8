#include "tracking/tracking.hpp"
// The header under test comes first: it must compile on its own.

#include <gtest/gtest.h>

#include "tracking/base64url.hpp"

namespace carepost::tracking {
namespace {

constexpr std::string_view alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

Claims sample(Kind kind)
{
    Claims c;
    c.kind = kind;
    c.message_id = "msg_" + crypto::random_hex(12);
    c.recipient_id = "rcp_" + crypto::random_hex(12);
    c.org_id = "org_" + crypto::random_hex(8);
    c.stream = "newsletter";
    if (kind == Kind::click) {
        c.url = "https://portal.clinic.example.org/appointments?id=12345&from=mail#top";
    }
    return c;
}

void expect_same(const Claims& a, const Claims& b)
{
    EXPECT_EQ(a.kind, b.kind);
    EXPECT_EQ(a.message_id, b.message_id);
    EXPECT_EQ(a.recipient_id, b.recipient_id);
    EXPECT_EQ(a.org_id, b.org_id);
    EXPECT_EQ(a.stream, b.stream);
    EXPECT_EQ(a.url, b.url);
}

TEST(Token, round_trips_every_kind)
{
    auto key = crypto::random_key();
    for (Kind kind : {Kind::open, Kind::click, Kind::unsubscribe}) {
        Claims c = sample(kind);
        auto opened = open_token(make_token(c, key), kind, key);
        ASSERT_TRUE(opened.has_value());
        expect_same(c, *opened);
    }
}

TEST(Token, round_trips_ids_of_any_shape)
{
    auto key = crypto::random_key();
    std::vector<Claims> cases(6);
    cases[0] = {Kind::click, "", "", "", "", ""};
    cases[1] = {Kind::click, "msg_", "rcp_ABCDEF", "org_abc", "x", "http://a"};
    cases[2] = {Kind::click, "0a1b", "abc", "MSG_00", "strömung", std::string(300, 'u')};
    cases[3] = {
        Kind::click,
        "msg_0a1",
        "rcp_00",
        "org_ff",
        std::string(31, 's'),
        "https://x/?q=\xe2\x82\xac"};
    cases[4] = {
        Kind::click,
        std::string(1, '\0'),
        "a\x01"
        "b",
        "c",
        std::string(30, 's'),
        std::string(10000, 'w')};
    cases[5] = {Kind::click, "00", "deadbeef", "org_DEADBEEF", "", "https://example.org"};
    for (const Claims& c : cases) {
        auto opened = open_token(make_token(c, key), Kind::click, key);
        ASSERT_TRUE(opened.has_value()) << c.message_id;
        expect_same(c, *opened);
    }
}

TEST(Token, same_claims_give_different_tokens)
{
    auto key = crypto::random_key();
    Claims c = sample(Kind::open);
    EXPECT_NE(make_token(c, key), make_token(c, key));
}

TEST(Token, refuses_every_changed_character)
{
    auto key = crypto::random_key();
    Claims c = sample(Kind::unsubscribe);
    std::string token = make_token(c, key);
    int tried = 0;
    for (std::size_t i = 0; i < token.size(); ++i) {
        for (char replacement : alphabet) {
            if (replacement == token[i]) {
                continue;
            }
            std::string changed = token;
            changed[i] = replacement;
            EXPECT_FALSE(open_token(changed, Kind::unsubscribe, key).has_value()) << i;
            ++tried;
        }
    }
    EXPECT_EQ(tried, static_cast<int>(token.size() * 63));
    ASSERT_TRUE(open_token(token, Kind::unsubscribe, key).has_value());
}

TEST(Token, refuses_every_flipped_bit_of_the_bytes)
{
    auto key = crypto::random_key();
    std::string token = make_token(sample(Kind::click), key);
    auto raw = decode_base64url(token);
    ASSERT_TRUE(raw.has_value());
    for (std::size_t i = 0; i < raw->size(); ++i) {
        for (int bit = 0; bit < 8; ++bit) {
            std::string changed = *raw;
            changed[i] = static_cast<char>(changed[i] ^ (1 << bit));
            EXPECT_FALSE(open_token(encode_base64url(changed), Kind::click, key).has_value());
        }
    }
}

TEST(Token, refuses_truncated_extended_and_garbage_tokens)
{
    auto key = crypto::random_key();
    std::string token = make_token(sample(Kind::open), key);
    for (std::size_t n = 0; n < token.size(); ++n) {
        EXPECT_FALSE(open_token(token.substr(0, n), Kind::open, key).has_value()) << n;
    }
    for (std::string extra : {"A", "AA", "AAA", "AAAA", "=", "==", " ", "\n"}) {
        EXPECT_FALSE(open_token(token + extra, Kind::open, key).has_value()) << extra;
    }
    EXPECT_FALSE(open_token(" " + token, Kind::open, key).has_value());
    EXPECT_FALSE(open_token(std::string(100000, 'A'), Kind::open, key).has_value());
    auto refused = open_token("not a token", Kind::open, key);
    ASSERT_FALSE(refused.has_value());
    EXPECT_EQ(refused.error().code, "invalid_token");
    EXPECT_EQ(refused.error().error_class, ErrorClass::permanent);
}

TEST(Token, refuses_another_kind)
{
    auto key = crypto::random_key();
    for (Kind made : {Kind::open, Kind::click, Kind::unsubscribe}) {
        std::string token = make_token(sample(made), key);
        for (Kind asked : {Kind::open, Kind::click, Kind::unsubscribe}) {
            EXPECT_EQ(open_token(token, asked, key).has_value(), made == asked);
        }
    }
}

TEST(Token, refuses_another_key)
{
    auto key = crypto::random_key();
    auto other = key;
    other[31] ^= 1;
    std::string token = make_token(sample(Kind::click), key);
    EXPECT_FALSE(open_token(token, Kind::click, other).has_value());
    EXPECT_FALSE(open_token(token, Kind::click, crypto::random_key()).has_value());
}

// Every spelling a reader could recognise: as is, hex (either case), and
// base64 or base64url at the three alignments a substring can take.
std::vector<std::string> spellings(const std::string& s)
{
    std::vector<std::string> out{s, crypto::to_hex(s)};
    std::string upper = crypto::to_hex(s);
    for (char& c : upper) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    out.push_back(upper);
    for (std::string pad : {"", "x", "xy"}) {
        std::string url = encode_base64url(pad + s);
        std::string standard = crypto::base64_encode(pad + s);
        // Drop the characters that mix in the padding and the tail.
        std::size_t skip = pad.empty() ? 0 : pad.size() + 1;
        out.push_back(url.substr(skip, url.size() - skip - 2));
        out.push_back(standard.substr(skip, url.size() - skip - 2));
    }
    return out;
}

TEST(Token, hides_ids_and_target)
{
    auto key = crypto::random_key();
    Claims c = sample(Kind::click);
    std::string token = make_token(c, key);
    auto raw = decode_base64url(token);
    ASSERT_TRUE(raw.has_value());
    for (const std::string& secret : {c.message_id, c.recipient_id, c.org_id, c.url}) {
        for (const std::string& spelling : spellings(secret)) {
            ASSERT_GE(spelling.size(), 8u);
            EXPECT_EQ(token.find(spelling), std::string::npos) << spelling;
            EXPECT_EQ(raw->find(spelling), std::string::npos) << spelling;
        }
    }
    // The packed id bytes must not show either.
    for (const std::string& id : {c.message_id, c.recipient_id}) {
        std::string hex = id.substr(4);
        std::string packed;
        for (std::size_t i = 0; i < hex.size(); i += 2) {
            packed.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
        }
        EXPECT_EQ(raw->find(packed), std::string::npos);
    }
}

TEST(Token, address_shaped_recipient_is_not_readable)
{
    auto key = crypto::random_key();
    Claims c = sample(Kind::unsubscribe);
    c.recipient_id = "patient@example.org";
    std::string token = make_token(c, key);
    std::string lower = token;
    for (char& ch : lower) {
        ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    }
    EXPECT_EQ(lower.find("patient"), std::string::npos);
    for (const std::string& spelling : spellings(c.recipient_id)) {
        EXPECT_EQ(token.find(spelling), std::string::npos) << spelling;
    }
}

TEST(Token, unsubscribe_url_stays_short)
{
    auto key = crypto::random_key();
    Claims c = sample(Kind::unsubscribe);
    std::string token = make_token(c, key);
    std::string url = "https://unsubscribe.clinic.example.org/u/" + token;
    std::cout << "unsubscribe token " << token.size() << " chars, URL " << url.size() << '\n';
    EXPECT_LE(token.size(), 104u);
    EXPECT_LT(url.size(), 150u);
    for (char ch : token) {
        EXPECT_NE(alphabet.find(ch), std::string_view::npos);
    }
    // Open and click tokens stay short too (click grows with its target only).
    EXPECT_LE(make_token(sample(Kind::open), key).size(), 104u);
    Claims click = sample(Kind::click);
    EXPECT_LE(make_token(click, key).size(), 104u + (click.url.size() + 2) * 4 / 3);
}

TEST(Base64url, matches_rfc4648_vectors_and_refuses_noncanonical)
{
    // RFC 4648 section 10 vectors, padding removed.
    const std::pair<std::string, std::string> vectors[] = {
        {"", ""},
        {"f", "Zg"},
        {"fo", "Zm8"},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg"},
        {"fooba", "Zm9vYmE"},
        {"foobar", "Zm9vYmFy"},
        {"\xfb\xff", "-_8"}};
    for (const auto& [bytes, text] : vectors) {
        EXPECT_EQ(encode_base64url(bytes), text);
        EXPECT_EQ(decode_base64url(text), bytes);
    }
    EXPECT_FALSE(decode_base64url("Zh").has_value());  // unused bits set
    EXPECT_FALSE(decode_base64url("Zg==").has_value());
    EXPECT_FALSE(decode_base64url("Z").has_value());
    EXPECT_FALSE(decode_base64url("Zm9+").has_value());
}

}  // namespace
}  // namespace carepost::tracking
