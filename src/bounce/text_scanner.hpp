// bounce: reads the human-readable text of a bounce that has no
// message/delivery-status part (qmail, Exim, old Sendmail, hosted providers).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace carepost::bounce::detail {

struct Notification {
    std::string text;              // the bounce's own words
    std::string returned_headers;  // the returned message's header block, if any
};

// Splits a bounce body where the returned message starts: a separator
// line ("--- Below this line is a copy of the message.") or a run of
// message header fields.
Notification split_notification(std::string_view body);

struct TextFinding {
    std::string recipient;   // as written, without <>
    std::string diagnostic;  // the lines that belong to this recipient
    std::string context;     // the text to classify it by: its lines, or
                             // the whole notification for a lone recipient
};

// Every address in `notification` that is not in `excluded` (compared
// without case), in order of first appearance, with its lines.
std::vector<TextFinding>
find_recipients(std::string_view notification, const std::vector<std::string>& excluded);

// Every address in `text`, in order, without <> (used for header values).
std::vector<std::string> find_addresses(std::string_view text);

}  // namespace carepost::bounce::detail
