// smtp: parsing server replies from the bytes read so far (internal).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "smtp/smtp.hpp"

namespace carepost::smtp {

enum class ParseStatus { complete, need_more, malformed };

struct ParsedReply {
    ParseStatus status = ParseStatus::need_more;
    Reply reply;
    std::vector<std::string> lines;  // text of each line after "ddd-" / "ddd " (for EHLO)
    std::size_t consumed = 0;        // octets of the buffer that made up this reply
};

// Longest reply we accept; a peer that sends more is broken or hostile.
constexpr std::size_t kMaxReplyOctets = 64 * 1024;

// Parses one reply (RFC 5321 §4.2) from the front of `buffer`. Lines end in
// CRLF (a bare LF is tolerated). Malformed: a line without a 3-digit code,
// codes that differ between lines, or a reply over kMaxReplyOctets.
ParsedReply parse_reply(std::string_view buffer);

}  // namespace carepost::smtp
