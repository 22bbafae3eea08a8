#include "inbound/command.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace carepost::inbound::detail {

namespace {

bool is_equal_ignoring_case(std::string_view a, std::string_view b)
{
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::toupper(static_cast<unsigned char>(x)) ==
                      std::toupper(static_cast<unsigned char>(y));
           });
}

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix)
{
    return text.size() >= prefix.size() &&
           is_equal_ignoring_case(text.substr(0, prefix.size()), prefix);
}

std::string_view trim_blanks(std::string_view text)
{
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
        text.remove_prefix(1);
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
        text.remove_suffix(1);
    }
    return text;
}

// Control octets and spaces never belong in a path outside a quoted string.
bool is_path_octet(char c)
{
    auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u != 0x7f;
}

// The position of the '>' closing the path that opens at text[0] == '<', or
// npos. Quoted strings may hold '>' and backslash pairs (RFC 5321 §4.1.2).
std::size_t find_path_end(std::string_view text)
{
    bool is_quoted = false;
    for (std::size_t i = 1; i < text.size(); ++i) {
        char c = text[i];
        if (is_quoted && c == '\\' && i + 1 < text.size()) {
            ++i;
        } else if (c == '"') {
            is_quoted = !is_quoted;
        } else if (!is_quoted && c == '>') {
            return i;
        } else if (!is_quoted && !is_path_octet(c)) {
            return std::string_view::npos;
        } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
            return std::string_view::npos;
        }
    }
    return std::string_view::npos;
}

// RFC 5321 §4.1.2 parameters: keyword ["=" value], keyword alphanumeric or '-'.
std::optional<std::pair<std::string, std::string>> parse_parameter(std::string_view word)
{
    auto equals = word.find('=');
    std::string_view keyword = word.substr(0, equals);
    std::string_view value =
        equals == std::string_view::npos ? std::string_view{} : word.substr(equals + 1);
    bool is_keyword = !keyword.empty() && std::isalnum(static_cast<unsigned char>(keyword[0])) &&
                      std::all_of(keyword.begin(), keyword.end(), [](char c) {
                          return std::isalnum(static_cast<unsigned char>(c)) || c == '-';
                      });
    bool is_value = std::all_of(
        value.begin(), value.end(), [](char c) { return is_path_octet(c) && c != '='; });
    if (!is_keyword || !is_value || (equals != std::string_view::npos && value.empty())) {
        return std::nullopt;
    }
    std::string upper(keyword);
    std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) {
        return static_cast<char>(std::toupper(c));
    });
    return std::pair{std::move(upper), std::string(value)};
}

}  // namespace

Command parse_command(std::string_view line)
{
    static constexpr std::array<std::pair<std::string_view, Verb>, 20> kVerbs{{
        {"EHLO", Verb::ehlo},
        {"HELO", Verb::helo},
        {"MAIL", Verb::mail},
        {"RCPT", Verb::rcpt},
        {"DATA", Verb::data},
        {"RSET", Verb::rset},
        {"NOOP", Verb::noop},
        {"QUIT", Verb::quit},
        {"VRFY", Verb::vrfy},
        {"EXPN", Verb::not_implemented},
        {"HELP", Verb::not_implemented},
        {"STARTTLS", Verb::not_implemented},
        {"AUTH", Verb::not_implemented},
        {"BDAT", Verb::not_implemented},
        {"ETRN", Verb::not_implemented},
        {"TURN", Verb::not_implemented},
        {"ATRN", Verb::not_implemented},
        {"SEND", Verb::not_implemented},
        {"SOML", Verb::not_implemented},
        {"SAML", Verb::not_implemented},
    }};

    auto space = line.find(' ');
    std::string_view word = line.substr(0, space);
    Command command;
    if (space != std::string_view::npos) {
        command.argument = trim_blanks(line.substr(space + 1));
    }
    for (const auto& [name, verb] : kVerbs) {
        if (is_equal_ignoring_case(word, name)) {
            command.verb = verb;
            break;
        }
    }
    return command;
}

std::optional<PathArgument> parse_path_argument(std::string_view argument, std::string_view prefix)
{
    if (!starts_with_ignoring_case(argument, prefix)) {
        return std::nullopt;
    }
    std::string_view rest = trim_blanks(argument.substr(prefix.size()));
    if (rest.empty() || rest.front() != '<') {
        return std::nullopt;
    }
    auto end = find_path_end(rest);
    if (end == std::string_view::npos || end - 1 > max_path_octets) {
        return std::nullopt;
    }

    // RFC 5321 §4.1.2, Appendix C: a source route ("@a,@b:") is accepted and ignored.
    PathArgument parsed;
    std::string_view path = rest.substr(1, end - 1);
    if (path.starts_with('@')) {
        auto colon = path.find(':');
        if (colon == std::string_view::npos) {
            return std::nullopt;
        }
        path.remove_prefix(colon + 1);
    }
    parsed.address = std::string(path);

    rest.remove_prefix(end + 1);
    while (!(rest = trim_blanks(rest)).empty()) {
        auto space = rest.find(' ');
        auto parameter = parse_parameter(rest.substr(0, space));
        if (!parameter) {
            return std::nullopt;
        }
        parsed.parameters.push_back(std::move(*parameter));
        rest = space == std::string_view::npos ? std::string_view{} : rest.substr(space);
    }
    return parsed;
}

}  // namespace carepost::inbound::detail
