// tracking: base64url without padding (RFC 4648 section 5), strict.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace carepost::tracking {

std::string encode_base64url(std::string_view bytes);
// Refuses other alphabets, padding, whitespace, impossible lengths and
// non-canonical encodings (unused low bits set), so one byte string has
// exactly one token spelling.
std::optional<std::string> decode_base64url(std::string_view text);

}  // namespace carepost::tracking
