// api: parsing the JSON of POST /v1/messages.
#pragma once

#include <string_view>

#include "accept/accept.hpp"
#include "common/error.hpp"

namespace carepost::api {

// Parses and type-checks the body; an error names the offending field's
// path (e.g. "to[1].email", "attachments[0].content") and never echoes a value.
Result<accept::SendRequest> parse_send_request(std::string_view body);

}  // namespace carepost::api
