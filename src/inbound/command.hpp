// inbound: parsing of SMTP command lines from the peer (internal).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace carepost::inbound::detail {

enum class Verb {
    ehlo,
    helo,
    mail,
    rcpt,
    data,
    rset,
    noop,
    quit,
    vrfy,
    not_implemented,  // known to RFC 5321 or its extensions, not offered here
    unknown,
};

struct Command {
    Verb verb = Verb::unknown;
    std::string_view argument;  // after the verb and its space, trailing blanks cut
};

// Splits one command line (without its line end) into verb and argument.
// Verbs are case-insensitive (RFC 5321 §2.4).
Command parse_command(std::string_view line);

// RFC 5321 §4.5.3.1.3: a path holds at most 256 octets.
inline constexpr std::size_t max_path_octets = 256;

struct PathArgument {
    std::string address;  // without <> and source route; "" for the null path
    std::vector<std::pair<std::string, std::string>> parameters;  // keyword upper-cased
};

// Parses the argument of MAIL ("FROM:<path> params") or RCPT ("TO:<path>
// params") with `prefix` "FROM:" or "TO:". A space after the colon is
// tolerated (common in the wild); the angle brackets are required.
// nullopt on a syntax error.
std::optional<PathArgument> parse_path_argument(std::string_view argument, std::string_view prefix);

}  // namespace carepost::inbound::detail
