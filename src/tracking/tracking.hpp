// tracking: open pixel, click redirect, one-click unsubscribe.
//
// Owns: the opaque tokens carried in tracking and unsubscribe URLs; the
//   rewriting of a message's HTML (click links, open pixel, the unsubscribe
//   placeholder); the List-Unsubscribe header values; the pixel and the
//   unsubscribe pages served to recipients.
// Trust boundary: tokens come back from anyone on the Internet (recipients,
//   their mail clients, link scanners): open_token() authenticates them
//   (AES-256-GCM, kind bound as associated data) before any field is used.
//   The HTML handed to rewrite_html() comes from API clients and templates;
//   it is only scanned, never executed, and bytes outside the rewritten
//   attributes are copied unchanged.
// Follows: RFC 2369 (List-Unsubscribe), RFC 8058 (one-click POST), RFC 6068
//   (mailto URIs), RFC 4648 section 5 (base64url), HTML5 parsing (gumbo).
// Logs: nothing; callers log message and organisation ids, never the tokens,
//   targets or recipients.
// Limits:
//   LIMIT(#4): streams carrying PHI must not be tracked unless enabled; this
//   component does what RewriteOptions asks and the caller decides; the fix
//   is a stream policy check in accept before calling rewrite_html().
//   LIMIT(#4): only <a href> in the HTML namespace is rewritten (not <area>,
//   SVG links or CSS url()); email clients rarely use the others; the fix is
//   more element kinds in html_rewriter.cpp.
//   LIMIT(#4): the unsubscribe placeholder is replaced wherever it stands,
//   also inside another link's URL, which then carries the recipient's
//   unsubscribe token to that site; replacing only whole hrefs would fix it.
//   LIMIT(#4): tokens do not expire; a recipient may click a year later; the
//   fix is an issue time field in the payload (a new version byte).
//   LIMIT(#4): parsing time grows with the square of element nesting depth
//   (20000 nested <div> take seconds); accept bounds message size, and real
//   mail nests shallowly; the fix is a depth cap before parsing.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "crypto/crypto.hpp"

namespace carepost::tracking {

enum class Kind { open, click, unsubscribe };

struct Claims {
    Kind kind = Kind::open;
    std::string message_id, recipient_id, org_id, stream;
    std::string url;  // click: the target
};

// Opaque token: base64url (no padding) of a version octet and an AES-256-GCM
// sealed compact binary payload; the kind and version are bound as
// associated data. Ids shaped like ours ("msg_" + hex) are packed to bytes.
std::string make_token(const Claims& c, const crypto::Key& key);
// Refuses (permanent error "invalid_token") anything not made by make_token
// with this key and kind: tampering, truncation, another kind or key.
Result<Claims> open_token(std::string_view token, Kind expected, const crypto::Key& key);

struct RewriteOptions {
    std::string base_url;  // e.g. "https://track.clinic.example.org" (no trailing slash)
    bool track_opens = false, track_clicks = false;
    std::string unsubscribe_url;  // replaces {{carepost_unsubscribe_url}} if present
};

inline constexpr std::string_view unsubscribe_placeholder = "{{carepost_unsubscribe_url}}";

struct Rewritten {
    std::string html;
    std::vector<std::string> links;  // targets rewritten, in document order
};

// Click tracking: every <a href> with an http(s) URL becomes
// base_url + "/t/c/" + click_token(target). Left alone: mailto:, tel:, sms:,
// anchors, relative and other schemes, links carrying data-carepost-notrack,
// the unsubscribe link, and targets over 8 KiB. Open tracking: a 1x1 <img> just before </body>
// (at the end when there is none). Only the rewritten attribute values change;
// every other byte of `html` is kept as it was.
Rewritten rewrite_html(
    std::string_view html,
    const RewriteOptions& options,
    const std::function<std::string(const std::string& target)>& click_token,
    const std::string& open_token);

// RFC 2369 value "<https_url>" or "<https_url>, <mailto:address?subject=unsubscribe>"
// (pass "" for no mailto). One line: folding is the composer's job, and must
// be the same form the DKIM signer hashes. Characters that could end the
// bracketed URI or the header (<, >, spaces, controls) are percent-encoded.
std::string list_unsubscribe_value(const std::string& https_url, const std::string& mailto);
// RFC 8058 section 3: the List-Unsubscribe-Post header value.
inline constexpr std::string_view list_unsubscribe_post_value = "List-Unsubscribe=One-Click";
// True when an application/x-www-form-urlencoded body carries the pair
// List-Unsubscribe=One-Click (RFC 8058 section 3.1).
bool is_one_click_body(std::string_view form_body);

// A GIF89a 1x1 transparent pixel, for the open endpoint's answer.
std::string_view pixel_gif();

// done = false: the page for GET on an unsubscribe URL; it changes nothing
// and offers a form that POSTs List-Unsubscribe=One-Click to the same URL.
// done = true: the confirmation page. Plain HTML, no external assets.
std::string unsubscribe_page(bool done);

}  // namespace carepost::tracking
