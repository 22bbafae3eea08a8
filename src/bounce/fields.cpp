#include "bounce/fields.hpp"

#include <cctype>

namespace carepost::bounce::detail {

namespace {

bool is_field_name_char(char c)
{
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
}

std::string_view trim(std::string_view s)
{
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) {
        s.remove_prefix(1);
    }
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
        s.remove_suffix(1);
    }
    return s;
}

// Returns the length of the field name when `line` opens a field.
std::size_t field_name_length(std::string_view line)
{
    std::size_t i = 0;
    while (i < line.size() && is_field_name_char(line[i])) {
        ++i;
    }
    if (i == 0 || i >= line.size() || line[i] != ':') {
        return 0;
    }
    return i;
}

}  // namespace

std::vector<FieldBlock> parse_field_blocks(std::string_view text)
{
    std::vector<FieldBlock> blocks(1);
    bool last_was_field = false;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) {
            end = text.size();
        }
        std::string_view line = text.substr(pos, end - pos);
        pos = end + 1;
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }

        // RFC 3464 §2.1: blocks are separated by blank lines; a line that
        // starts with white space continues the previous field.
        if (trim(line).empty()) {
            if (!blocks.back().empty()) {
                blocks.emplace_back();
            }
            last_was_field = false;
        } else if ((line[0] == ' ' || line[0] == '\t') && last_was_field) {
            std::string& value = blocks.back().back().value;
            value += ' ';
            value += trim(line);
        } else if (std::size_t n = field_name_length(line); n > 0) {
            blocks.back().push_back(
                {to_lower(line.substr(0, n)), std::string(trim(line.substr(n + 1)))});
            last_was_field = true;
        } else {
            last_was_field = false;
        }
        if (end == text.size()) {
            break;
        }
    }
    if (blocks.back().empty()) {
        blocks.pop_back();
    }
    return blocks;
}

std::string find_field(const FieldBlock& block, std::string_view name)
{
    for (const Field& f : block) {
        if (f.name == name) {
            return f.value;
        }
    }
    return {};
}

std::string strip_address_type(std::string_view value)
{
    value = trim(value);
    if (std::size_t semi = value.find(';'); semi != std::string_view::npos) {
        value = trim(value.substr(semi + 1));
    }
    while (!value.empty() && (value.front() == '<' || value.front() == '"')) {
        value.remove_prefix(1);
    }
    while (!value.empty() && (value.back() == '>' || value.back() == '"')) {
        value.remove_suffix(1);
    }
    value = trim(value);
    if (value.find('@') == std::string_view::npos && value.empty()) {
        return {};
    }
    return std::string(value);
}

std::string to_lower(std::string_view text)
{
    std::string out(text);
    for (char& c : out) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return out;
}

std::string collapse_space(std::string_view text)
{
    std::string out;
    out.reserve(text.size());
    bool pending_space = false;
    for (char c : text) {
        if (std::isspace(static_cast<unsigned char>(c))) {
            pending_space = !out.empty();
        } else {
            if (pending_space) {
                out += ' ';
                pending_space = false;
            }
            out += c;
        }
    }
    return out;
}

}  // namespace carepost::bounce::detail
