// mime: small UTF-8 helpers shared by the address parser and the encoders.
#pragma once

#include <cstddef>
#include <string_view>

namespace carepost::mime {

// Length in octets of the well-formed UTF-8 sequence starting at `pos`
// (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF), or 0 when
// the octets there are not one.
std::size_t utf8_sequence_length(std::string_view text, std::size_t pos);

bool is_valid_utf8(std::string_view text);

bool is_ascii(std::string_view text);

}  // namespace carepost::mime
