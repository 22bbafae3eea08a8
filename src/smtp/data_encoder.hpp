// smtp: the DATA section as it goes on the wire (internal).
#pragma once

#include <string>
#include <string_view>

namespace carepost::smtp {

// RFC 5321 §4.5.2 transparency, done exactly once here: every line that
// starts with "." gets one more; a bare CR or LF becomes CRLF, so that no
// peer can read "\n.\n" or "\r.\r" as the end of data (the SMTP smuggling
// class); the content ends in CRLF; then ".\r\n" ends the data.
std::string encode_data(std::string_view message);

// True when any octet has the high bit set (needs BODY=8BITMIME).
bool has_8bit(std::string_view message);

}  // namespace carepost::smtp
