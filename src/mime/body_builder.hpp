// mime: builds the MIME body entity of a message with GMime.
//
// The entity is everything after the top-level RFC 5322 headers: its own
// Content-Type / Content-Transfer-Encoding / Content-Disposition headers, a
// blank line and the encoded content, with CRLF line endings.
#pragma once

#include <string>
#include <string_view>

#include "common/error.hpp"
#include "mime/mime.hpp"

namespace carepost::mime {

enum class TransferEncoding { seven_bit, quoted_printable, base64 };

// RFC 2045 §2.7/§6: 7bit only for ASCII text whose lines fit in 76 octets;
// quoted-printable for mostly-ASCII text; base64 for the rest. `text` has LF
// line ends.
TransferEncoding choose_text_encoding(std::string_view text);

// Text part, HTML part, multipart/alternative of both, inside
// multipart/mixed with the attachments when there are any. Fails with
// `invalid_attachment` (field "attachments[i].content_type") on a content
// type that is not "type/subtype".
Result<std::string> build_body(const Message& m);

// Calls g_mime_init() once per process, from whichever thread comes first.
void ensure_gmime_initialised();

}  // namespace carepost::mime
