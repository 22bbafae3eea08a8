#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <string>
#include <vector>

#include <idn2.h>

#include "mime/mime.hpp"
#include "mime/utf8.hpp"

namespace carepost::mime {

namespace {

// RFC 5321 §4.5.3.1: local part, domain and whole path limits (the path
// limit of 256 includes the angle brackets).
constexpr std::size_t max_local_octets = 64;
constexpr std::size_t max_domain_octets = 255;
constexpr std::size_t max_label_octets = 63;
constexpr std::size_t max_address_octets = 254;

Error invalid(std::string text)
{
    return Error::invalid("invalid_address", {}, std::move(text));
}

bool is_atext(char c)
{
    const auto u = static_cast<unsigned char>(c);
    return std::isalnum(u) ||
           std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

// RFC 5321 Dot-string, with RFC 6531 UTF-8 in atoms.
bool is_dot_string(std::string_view local)
{
    if (local.empty() || local.front() == '.' || local.back() == '.') {
        return false;
    }
    for (std::size_t i = 0; i < local.size();) {
        const char c = local[i];
        if (c == '.' && local[i + 1] == '.') {
            return false;
        }
        if (c == '.' || is_atext(c)) {
            ++i;
            continue;
        }
        const auto n = utf8_sequence_length(local, i);
        if (n < 2) {
            return false;
        }
        i += n;
    }
    return true;
}

// RFC 5321 Quoted-string: qtextSMTP or quoted-pairSMTP (a backslash and one
// printable ASCII character), with RFC 6531 UTF-8 in qtext.
bool is_quoted_string(std::string_view local)
{
    if (local.size() < 2 || local.front() != '"' || local.back() != '"') {
        return false;
    }
    const auto body = local.substr(1, local.size() - 2);
    for (std::size_t i = 0; i < body.size();) {
        const auto u = static_cast<unsigned char>(body[i]);
        if (u == '\\') {
            if (i + 1 >= body.size() || body[i + 1] < 32 || body[i + 1] > 126) {
                return false;
            }
            i += 2;
        } else if (u >= 32 && u <= 126 && u != '"') {
            ++i;
        } else if (const auto n = utf8_sequence_length(body, i); n >= 2) {
            i += n;
        } else {
            return false;
        }
    }
    return true;
}

// Where the local part ends: after the closing quote of a quoted string,
// else at the first '@'.
std::size_t find_local_end(std::string_view email)
{
    if (email.empty() || email.front() != '"') {
        return email.find('@');
    }
    for (std::size_t i = 1; i < email.size(); ++i) {
        if (email[i] == '\\') {
            ++i;
        } else if (email[i] == '"') {
            return i + 1;
        }
    }
    return std::string_view::npos;
}

bool is_ipv4(std::string_view text)
{
    int parts = 0;
    while (true) {
        const auto dot = text.find('.');
        const auto part = text.substr(0, dot);
        if (part.empty() || part.size() > 3 ||
            part.find_first_not_of("0123456789") != std::string_view::npos ||
            std::stoi(std::string(part)) > 255) {
            return false;
        }
        ++parts;
        if (dot == std::string_view::npos) {
            return parts == 4;
        }
        text.remove_prefix(dot + 1);
    }
}

// RFC 5321 IPv6-addr. An elided "::" standing for a single group is
// deprecated by RFC 5952 but still valid for SMTP, so it is accepted.
bool is_ipv6(std::string_view text)
{
    std::string hex(text);
    if (const auto last_colon = text.rfind(':'); text.find('.') != std::string_view::npos) {
        if (last_colon == std::string_view::npos || !is_ipv4(text.substr(last_colon + 1))) {
            return false;
        }
        hex = std::string(text.substr(0, last_colon + 1)) + "0:0";  // the IPv4 part is 2 groups
    }
    const auto elision = hex.find("::");
    if (elision != std::string::npos && elision != hex.rfind("::")) {
        return false;
    }
    const bool is_lone_colon_start = hex.size() > 1 && hex[0] == ':' && hex[1] != ':';
    const bool is_lone_colon_end =
        hex.size() > 1 && hex.back() == ':' && hex[hex.size() - 2] != ':';
    if (hex.size() < 2 || is_lone_colon_start || is_lone_colon_end) {
        return false;
    }

    std::vector<std::string_view> groups;
    for (std::string_view rest = hex;;) {
        const auto colon = rest.find(':');
        groups.push_back(rest.substr(0, colon));
        if (colon == std::string_view::npos) {
            break;
        }
        rest.remove_prefix(colon + 1);
    }
    for (const auto group : groups) {
        if (group.size() > 4 ||
            group.find_first_not_of("0123456789abcdefABCDEF") != std::string_view::npos) {
            return false;
        }
    }
    if (elision == std::string::npos) {
        return groups.size() == 8;
    }
    // Splitting at a leading or trailing "::" yields one more empty group.
    const bool is_at_edge = elision == 0 || elision == hex.size() - 2;
    return groups.size() <= (is_at_edge ? 9u : 8u);
}

bool is_address_literal(std::string_view domain)
{
    const auto inner = domain.substr(1, domain.size() - 2);
    if (inner.size() > 5 && (inner.substr(0, 5) == "IPv6:" || inner.substr(0, 5) == "ipv6:" ||
                             inner.substr(0, 5) == "IPV6:")) {
        return is_ipv6(inner.substr(5));
    }
    return is_ipv4(inner);
}

// RFC 5321 Domain in its ASCII form: LDH labels, no hyphen at either end.
bool is_ascii_domain(std::string_view domain)
{
    if (domain.empty() || domain.size() > max_domain_octets) {
        return false;
    }
    for (std::string_view rest = domain;;) {
        const auto dot = rest.find('.');
        const auto label = rest.substr(0, dot);
        const bool is_ldh =
            label.find_first_not_of(
                "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") ==
            std::string_view::npos;
        if (label.empty() || label.size() > max_label_octets || !is_ldh || label.front() == '-' ||
            label.back() == '-') {
            return false;
        }
        if (dot == std::string_view::npos) {
            return true;
        }
        rest.remove_prefix(dot + 1);
    }
}

// IDNA2008 with UTS #46 mapping, non-transitional (ß and ς stay as they are).
Result<std::string> to_a_labels(std::string_view domain)
{
    if (!is_valid_utf8(domain)) {
        return invalid("domain is not valid UTF-8");
    }
    char* ascii = nullptr;
    const int rc = idn2_lookup_u8(
        reinterpret_cast<const uint8_t*>(std::string(domain).c_str()),
        reinterpret_cast<uint8_t**>(&ascii),
        IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
    if (rc != IDN2_OK) {
        return invalid("domain is not a valid internationalized domain name");
    }
    std::string out(ascii);
    idn2_free(ascii);
    return out;
}

}  // namespace

Result<Address> parse_address(std::string_view email)
{
    if (email.size() > max_address_octets) {
        return invalid("address is too long");
    }
    const auto local_end = find_local_end(email);
    if (local_end == std::string_view::npos || local_end >= email.size() ||
        email[local_end] != '@') {
        return invalid("address needs local-part@domain");
    }
    Address a;
    a.local = std::string(email.substr(0, local_end));
    a.domain = std::string(email.substr(local_end + 1));

    if (a.local.size() > max_local_octets ||
        !(is_dot_string(a.local) || is_quoted_string(a.local))) {
        return invalid("local part is not valid for SMTP");
    }
    a.is_ascii_local = is_ascii(a.local);

    if (!a.domain.empty() && a.domain.front() == '[') {
        if (a.domain.back() != ']' || !is_address_literal(a.domain)) {
            return invalid("address literal is not valid");
        }
        a.ascii_domain = a.domain;
        return a;
    }
    if (is_ascii(a.domain)) {
        a.ascii_domain = a.domain;
    } else {
        auto ascii = to_a_labels(a.domain);
        if (!ascii) {
            return ascii.error();
        }
        a.ascii_domain = std::move(*ascii);
    }
    if (!is_ascii_domain(a.ascii_domain) ||
        a.local.size() + 1 + a.ascii_domain.size() > max_address_octets) {
        return invalid("domain is not valid");
    }
    return a;
}

std::string envelope_form(const Address& a)
{
    return a.local + "@" + a.ascii_domain;
}

namespace {

std::string ascii_lower(std::string_view s)
{
    std::string out(s);
    for (auto& c : out) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return out;
}

// The content of a quoted local part when it is a plain dot-atom.
std::string unquoted_local(const std::string& local)
{
    if (local.size() < 2 || local.front() != '"' || local.back() != '"') {
        return local;
    }
    std::string inner;
    for (std::size_t i = 1; i + 1 < local.size(); ++i) {
        char c = local[i];
        if (c == '\\' && i + 2 < local.size()) {
            c = local[++i];
        }
        inner.push_back(c);
    }
    auto is_atom = [](unsigned char c) {
        return std::isalnum(c) ||
               std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos ||
               c >= 0x80;
    };
    bool is_dot_atom = !inner.empty() && inner.front() != '.' && inner.back() != '.' &&
                       inner.find("..") == std::string::npos &&
                       std::all_of(inner.begin(), inner.end(), [&](unsigned char c) {
                           return c == '.' || is_atom(c);
                       });
    return is_dot_atom ? inner : local;
}

}  // namespace

std::string canonical_mailbox(std::string_view email)
{
    auto a = parse_address(email);
    if (!a) {
        return ascii_lower(email);
    }
    return ascii_lower(unquoted_local(a->local)) + "@" + ascii_lower(a->ascii_domain);
}

}  // namespace carepost::mime
