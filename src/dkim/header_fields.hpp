// dkim: splitting a message into header fields and body (internal).
#pragma once

#include <string_view>
#include <vector>

namespace carepost::dkim {

struct HeaderField {
    std::string_view name;   // as written, before the colon
    std::string_view value;  // raw text after the colon, folding CRLFs kept, final CRLF not
};

struct SplitMessage {
    std::vector<HeaderField> headers;  // in message order
    std::string_view body;             // after the empty line; empty if none
};

// Splits on CRLF. A line starting with SP or HTAB continues the previous
// field; a line without a colon is skipped (it cannot be signed).
SplitMessage split_message(std::string_view message);

}  // namespace carepost::dkim
