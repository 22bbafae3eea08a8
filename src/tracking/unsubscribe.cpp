// List-Unsubscribe header values, the one-click body check, the open pixel
// and the pages recipients see.
#include <cctype>
#include <optional>

#include "tracking/tracking.hpp"

namespace carepost::tracking {
namespace {

constexpr std::string_view hex_digits = "0123456789ABCDEF";

void put_percent(std::string& out, unsigned char c)
{
    out.push_back('%');
    out.push_back(hex_digits[c >> 4]);
    out.push_back(hex_digits[c & 15]);
}

// Inside <...> of RFC 2369 a '>' would end the URI and CR, LF or a space
// would end or fold the header: encode those and anything outside ASCII.
std::string bracket_safe(std::string_view uri)
{
    std::string out;
    for (unsigned char c : uri) {
        if (c <= 0x20 || c >= 0x7f || c == '<' || c == '>' || c == '"') {
            put_percent(out, c);
        } else {
            out.push_back(static_cast<char>(c));
        }
    }
    return out;
}

// RFC 6068 section 2: an addr-spec with '%', '?', '#', '&' and the like
// percent-encoded, so the address cannot add header fields of its own.
std::string mailto_address(std::string_view address)
{
    constexpr std::string_view keep = "-._~!$'()*+,;=:@";
    std::string out;
    for (unsigned char c : address) {
        bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     keep.find(static_cast<char>(c)) != std::string_view::npos;
        if (plain) {
            out.push_back(static_cast<char>(c));
        } else {
            put_percent(out, c);
        }
    }
    return out;
}

std::optional<std::string> form_decode(std::string_view s)
{
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') {
            out.push_back(' ');
        } else if (s[i] != '%') {
            out.push_back(s[i]);
        } else if (
            i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
            std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
            out.push_back(
                static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
            i += 2;
        } else {
            return std::nullopt;
        }
    }
    return out;
}

}  // namespace

std::string list_unsubscribe_value(const std::string& https_url, const std::string& mailto)
{
    std::string value = "<" + bracket_safe(https_url) + ">";
    if (!mailto.empty()) {
        std::string_view address = mailto;
        if (address.starts_with("mailto:")) {
            address.remove_prefix(7);
        }
        value += ", <mailto:" + mailto_address(address) + "?subject=unsubscribe>";
    }
    return value;
}

bool is_one_click_body(std::string_view form_body)
{
    while (!form_body.empty() &&
           (form_body.back() == '\r' || form_body.back() == '\n' || form_body.back() == ' ')) {
        form_body.remove_suffix(1);
    }
    while (!form_body.empty()) {
        auto end = form_body.find('&');
        auto pair = form_body.substr(0, end);
        form_body = end == std::string_view::npos ? std::string_view{} : form_body.substr(end + 1);

        auto equals = pair.find('=');
        if (equals == std::string_view::npos) {
            continue;
        }
        auto name = form_decode(pair.substr(0, equals));
        auto value = form_decode(pair.substr(equals + 1));
        if (name && value && *name == "List-Unsubscribe" && *value == "One-Click") {
            return true;
        }
    }
    return false;
}

std::string_view pixel_gif()
{
    // GIF89a, 1x1, a two-entry colour table, a graphic control extension
    // marking index 0 transparent, one LZW-coded pixel, the trailer.
    static constexpr unsigned char gif[] = {
        'G',  'I',  'F',  '8',  '9',  'a',  0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00,
        0x00, 0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00,
        0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b};
    return {reinterpret_cast<const char*>(gif), sizeof gif};
}

std::string unsubscribe_page(bool done)
{
    std::string page =
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<meta name=\"robots\" content=\"noindex\">\n<title>Unsubscribe</title>\n"
        "<style>body{font-family:sans-serif;max-width:32em;margin:3em auto;padding:0 1em;"
        "line-height:1.5}button{font-size:1em;padding:.5em 1.5em}</style>\n</head>\n<body>\n";
    if (done) {
        page += "<h1>You are unsubscribed</h1>\n"
                "<p>You will no longer receive these messages. Messages about your care are "
                "not affected.</p>\n";
    } else {
        // Link scanners fetch with GET: only a deliberate POST unsubscribes.
        page += "<h1>Unsubscribe</h1>\n"
                "<p>Do you want to stop receiving these messages?</p>\n"
                "<form method=\"post\" enctype=\"application/x-www-form-urlencoded\">\n"
                "<input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\n"
                "<button type=\"submit\">Unsubscribe</button>\n</form>\n";
    }
    page += "</body>\n</html>\n";
    return page;
}

}  // namespace carepost::tracking
