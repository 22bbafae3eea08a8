#include <algorithm>
#include <array>
#include <cctype>
#include <string_view>

#include "mime/mime.hpp"

namespace carepost::mime {

namespace {

bool equals_ignoring_case(std::string_view a, std::string_view b)
{
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

// RFC 9110 tchar: what a header name may be made of, minus nothing.
bool is_token_char(char c)
{
    const auto u = static_cast<unsigned char>(c);
    return std::isalnum(u) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

constexpr std::array<std::string_view, 13> named_headers{
    "In-Reply-To",
    "References",
    "Keywords",
    "Comments",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "List-Help",
    "List-Owner",
    "List-Subscribe",
    "List-Archive",
    "List-Post",
    "Auto-Submitted",
};

// RFC 5322 §2.1.1 leaves 78 octets a line; a name must leave room for a value.
constexpr std::size_t max_header_name_octets = 64;

}  // namespace

bool has_forbidden_header_octet(std::string_view value)
{
    return value.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

bool is_allowed_custom_header(std::string_view name)
{
    if (name.empty() || name.size() > max_header_name_octets ||
        !std::all_of(name.begin(), name.end(), is_token_char)) {
        return false;
    }
    if (name.size() > 2 && (name[0] == 'X' || name[0] == 'x') && name[1] == '-') {
        return true;
    }
    return std::any_of(named_headers.begin(), named_headers.end(), [&](std::string_view allowed) {
        return equals_ignoring_case(name, allowed);
    });
}

}  // namespace carepost::mime
