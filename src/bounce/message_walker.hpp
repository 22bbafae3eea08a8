// bounce: flattens one returned message into the parts a bounce reader
// needs, using GMime for the MIME structure and transfer decoding.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "bounce/fields.hpp"

namespace carepost::bounce::detail {

struct Part {
    std::string content_type;  // "type/subtype", lower case
    std::string body;          // decoded; text/* converted to UTF-8
    bool is_returned = false;  // inside a returned (message/rfc822) message
};

struct WalkedMessage {
    FieldBlock headers;       // the top-level header fields
    std::vector<Part> parts;  // leaf parts in document order; a returned
                              // message adds a "message/rfc822" part whose
                              // body is that message's header block
};

// Never fails: an unparsable message yields its headers (maybe none) and
// whatever leaves GMime could find.
WalkedMessage walk_message(std::string_view raw);

}  // namespace carepost::bounce::detail
