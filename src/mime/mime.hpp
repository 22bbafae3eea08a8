// mime: composes RFC 5322 / MIME messages and parses the addresses in them.
//
// Owns: turning a Message (addresses, subject, text and HTML bodies,
// attachments, allow-listed custom headers) into the exact bytes that are
// DKIM-signed and sent as SMTP DATA; parsing and normalising one address as
// given to the API; the custom-header allow-list.
// Trust boundary: every field of a Message comes from an API or SMTP client
// and may be hostile. compose() refuses CR, LF and NUL in every value bound
// for a header (code `header_injection`), so no value can add a header.
// Follows: RFC 5322 (format, folding, 998/78 line limits), RFC 2045-2047
// (MIME, quoted-printable, base64, encoded-words never splitting a UTF-8
// character, each word <= 75 characters), RFC 2231 (attachment file names),
// RFC 5321 §4.1.2 (envelope addresses), RFC 5890/5891 via libidn2 (IDN
// domains become A-labels), RFC 6531/6532 (UTF-8 local parts, raw in headers).
// Bodies and parts are built with GMime 3; the top-level header block is
// written here, so that folding and encoded-words follow the rules above.
// Threads: compose() may run on many threads at once. g_mime_init() runs
// once (std::call_once); each call builds and frees its own GMime objects,
// and GMime documents its charset/iconv/utils functions as thread-safe.
// Logs: nothing (values here are PHI or addresses).
// Limits:
// - LIMIT(#2): the address parser accepts only what may be used as-is in
//   MAIL FROM / RCPT TO (no comments, no folding whitespace, no obsolete
//   forms); that is the API's contract, not a full RFC 5322 parser.
// - LIMIT(#2): non-ASCII display names are always RFC 2047 encoded, even in
//   messages that need SMTPUTF8 anyway; valid, if less readable in raw form.
// - LIMIT(#2): S/MIME and message parsing are not here yet.
// - LIMIT(#2): a run of non-atom words in a display name that needs more
//   than one encoded-word (over about 60 octets of non-ASCII text) is correct
//   by RFC 2047 but read with an extra space by Python's email package, which
//   keeps the space between adjacent encoded-words in a phrase; shorter runs
//   are written so that both read the same.
// - Text parts that are mostly non-ASCII travel as base64 with CRLF line
//   breaks; decoding any text part gives CRLF where the input had LF.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.hpp"

namespace carepost::mime {

struct Mailbox {
    std::string email;
    std::string name;  // may be empty; UTF-8
};

struct Attachment {
    std::string filename;      // UTF-8
    std::string content_type;  // "type/subtype", no parameters
    std::string content;       // raw bytes
};

struct Message {
    Mailbox from;
    std::vector<Mailbox> to, cc;  // bcc is never written into headers
    std::optional<Mailbox> reply_to;
    std::string subject, text, html;  // text/html: either may be empty, not both
    std::vector<Attachment> attachments;
    // Custom headers, already checked against is_allowed_custom_header().
    std::vector<std::pair<std::string, std::string>> headers;
    std::string message_id;  // full "<...@domain>" if given; else compose() makes one
    std::chrono::system_clock::time_point date;  // the epoch means "now"
};

struct Composed {
    std::string bytes;  // CRLF line endings, no line over 998 octets, not dot-stuffed
    std::string message_id;
    bool needs_smtputf8 = false;  // a header holds a UTF-8 address (RFC 6532)
};

// Builds the message. Errors (class permanent, `field` names the member,
// e.g. "reply_to.name", "to[0].email", "headers.X-Case-Ref"):
// `header_injection` (CR, LF or NUL in a header-bound value),
// `invalid_address`, `invalid_header`, `invalid_attachment`, `missing_body`,
// `invalid_utf8`.
Result<Composed> compose(const Message& m);

struct Address {
    std::string local;         // as given: dot-string or quoted-string, may be UTF-8
    std::string domain;        // as given (U-labels allowed), or a [literal]
    std::string ascii_domain;  // A-labels (libidn2, UTS #46 non-transitional)
    bool is_ascii_local = true;
};

// Parses an addr-spec as the API receives it ("a@b.example",
// "пациент@example.org", "patient@bücher.example", "\"a b\"@c.example",
// "x@[192.0.2.1]"): only forms that are valid in an SMTP envelope.
// Error code `invalid_address`.
Result<Address> parse_address(std::string_view email);

// local@ascii_domain: the form for MAIL FROM / RCPT TO and for headers.
// The local part stays raw UTF-8 when it is not ASCII (needs SMTPUTF8).
std::string envelope_form(const Address& a);

// The form suppression lists compare: the domain's A-labels in lower case,
// and the local part unquoted when quoting adds nothing, in lower case when
// ASCII ("\"Pat\"@EXÄMPLE.net" and "pat@xn--exmple-cua.net" are one
// mailbox). Text that is not an address comes back in ASCII lower case.
std::string canonical_mailbox(std::string_view email);

// True when `value` holds CR, LF or NUL anywhere.
bool has_forbidden_header_octet(std::string_view value);

// The allow-list for custom headers from the API: X-* names made of token
// characters, plus In-Reply-To, References, Keywords, Comments, List-Id,
// List-Unsubscribe, List-Unsubscribe-Post, List-Help, List-Owner,
// List-Subscribe, List-Archive, List-Post, Auto-Submitted. Never a header
// that the composer, DKIM or a relay owns (From, To, Subject, Content-*, ...).
bool is_allowed_custom_header(std::string_view name);

}  // namespace carepost::mime
