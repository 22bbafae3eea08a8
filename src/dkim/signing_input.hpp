// dkim: the bytes a DKIM signature covers (internal).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "dkim/header_fields.hpp"

namespace carepost::dkim {

// RFC 6376 §3.7 and §5.4.2: each name of `signed_names` picks the next
// unused instance of that field counting from the bottom; a name without an
// instance left adds nothing. Then the DKIM-Signature field (value with b=
// empty, as it will be sent) is appended relaxed, without its final CRLF.
std::string build_signing_input(
    const std::vector<HeaderField>& headers,
    const std::vector<std::string_view>& signed_names,
    std::string_view signature_value);

// Case-insensitive ASCII comparison of header field names.
bool is_same_name(std::string_view a, std::string_view b);

}  // namespace carepost::dkim
