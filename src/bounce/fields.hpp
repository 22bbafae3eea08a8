// bounce: RFC 5322-style field blocks, as used by DSN (RFC 3464 §2.1),
// ARF (RFC 5965 §3) and text/rfc822-headers parts.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace carepost::bounce::detail {

struct Field {
    std::string name;   // lower case
    std::string value;  // unfolded, trimmed
};
using FieldBlock = std::vector<Field>;

// Splits `text` into blocks separated by blank lines and unfolds each
// field. Lines that are neither a field nor a continuation are skipped.
std::vector<FieldBlock> parse_field_blocks(std::string_view text);

// The value of the first field named `name` (lower case), "" if none.
std::string find_field(const FieldBlock& block, std::string_view name);

// "rfc822; user@example.org" -> "user@example.org"; strips <>, quotes
// and surrounding space. Returns "" when no address-like text remains.
std::string strip_address_type(std::string_view value);

// Lower-cases ASCII letters.
std::string to_lower(std::string_view text);

// Replaces every run of whitespace by one space and trims the ends.
std::string collapse_space(std::string_view text);

}  // namespace carepost::bounce::detail
