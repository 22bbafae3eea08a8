// templates: one pass over a template source that turns our accepted syntax
// into what the Mustache engine renders correctly.
//
// It rewrites the Postmark dialect (`{{#each x}}...{{/each}}` becomes
// `{{#x}}...{{/x}}`; `\{{ y }}` prints `{{ y }}`), and applies the spec's
// standalone-line rule to comment, set-delimiter and partial tags, which the
// engine leaves to us: such a line is dropped, and a standalone partial's
// indentation travels in its name so that every line of the partial gets it.
#pragma once

#include <string>
#include <string_view>

#include "common/error.hpp"

namespace carepost::templates {

// Separates a partial's name from the indentation of its standalone tag.
inline constexpr char indent_mark = '\x1f';

// Fails with `template_syntax` on an unclosed tag, a malformed set-delimiter
// tag or a `{{/each}}` with no `{{#each}}` open.
Result<std::string> rewrite_template(std::string_view source);

struct PartialRef {
    std::string name;
    std::string indent;
};

// Splits a partial tag name made by rewrite_template into name and indentation.
PartialRef parse_partial_ref(std::string_view tag_name);

// Prefixes every line of `source` with `indent`.
std::string indent_lines(std::string_view source, std::string_view indent);

}  // namespace carepost::templates
