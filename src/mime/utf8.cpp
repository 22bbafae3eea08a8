#include "mime/utf8.hpp"

#include <algorithm>

namespace carepost::mime {

std::size_t utf8_sequence_length(std::string_view text, std::size_t pos)
{
    const auto at = [&](std::size_t i) { return static_cast<unsigned char>(text[pos + i]); };
    const auto is_continuation = [&](std::size_t i) {
        return pos + i < text.size() && (at(i) & 0xC0) == 0x80;
    };
    const unsigned char lead = at(0);
    if (lead < 0x80) {
        return 1;
    }
    if (lead >= 0xC2 && lead <= 0xDF) {
        return is_continuation(1) ? 2 : 0;
    }
    if (lead >= 0xE0 && lead <= 0xEF) {
        if (!is_continuation(1) || !is_continuation(2)) {
            return 0;
        }
        // E0 must not be overlong, ED must not encode a surrogate.
        const bool is_overlong = lead == 0xE0 && at(1) < 0xA0;
        const bool is_surrogate = lead == 0xED && at(1) >= 0xA0;
        return is_overlong || is_surrogate ? 0 : 3;
    }
    if (lead >= 0xF0 && lead <= 0xF4) {
        if (!is_continuation(1) || !is_continuation(2) || !is_continuation(3)) {
            return 0;
        }
        const bool is_overlong = lead == 0xF0 && at(1) < 0x90;
        const bool is_too_high = lead == 0xF4 && at(1) >= 0x90;
        return is_overlong || is_too_high ? 0 : 4;
    }
    return 0;
}

bool is_valid_utf8(std::string_view text)
{
    for (std::size_t pos = 0; pos < text.size();) {
        const auto n = utf8_sequence_length(text, pos);
        if (n == 0) {
            return false;
        }
        pos += n;
    }
    return true;
}

bool is_ascii(std::string_view text)
{
    return std::all_of(
        text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

}  // namespace carepost::mime
