// bounce: the reason and class decisions behind classify(), shared by the
// DSN and text readers.
#pragma once

#include <string>
#include <string_view>

#include "bounce/bounce.hpp"

namespace carepost::bounce::detail {

// The first RFC 3463 enhanced status code in `text` ("5.1.1"), "" if none.
std::string find_enhanced_status(std::string_view text);

// The first SMTP reply code in `text` (a 2xx/4xx/5xx number standing as a
// word), 0 if none.
int find_reply_code(std::string_view text);

// The reason named by the wording of `text` alone, "" when no phrase matches.
std::string reason_from_text(std::string_view text);

// The reason an enhanced status code implies by itself, "" when the code is
// too general (X.0.0, X.7.1, ...).
std::string reason_from_status(std::string_view status);

// classify() with the DSN Action field ("delayed" makes the result a delay
// whatever the codes say) and wider `context` text (the bounce's own words)
// that is read only for the SMTP command the refusal answered.
Classification classify_with_action(
    int reply_code,
    std::string_view enhanced_status,
    std::string_view text,
    std::string_view action,
    std::string_view context);

}  // namespace carepost::bounce::detail
