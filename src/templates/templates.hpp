// templates: renders Mustache templates with message data (the "render
// template" step of the accept pipeline).
//
// Owns: turning a template source plus JSON data into text, in one of two
// escaping contexts, and checking a template's syntax before it is stored.
// Trust boundary: template sources come from an organisation's template
// authors through the API; data comes from API callers and may carry PHI and
// hostile text. Data is never parsed as a template: partials are looked up
// only in the Partials map, never in the data.
// Follows: the Mustache specification (interpolation, sections, inverted,
// comments, partials, delimiters), plus the Postmark dialect used by common
// transactional templates: `{{#each list}}...{{/each}}`, `{{#each .}}`,
// `{{ name }}` with spaces, and `\{{ literal }}` printed as `{{ literal }}`.
// The engine is kainjow's Mustache; rewriter.hpp adds the dialect and the
// spec's standalone-line rules the engine lacks, render_context.hpp the
// spec's name resolution.
// Logs: nothing. Errors carry no template text and no data.
// Limits:
// - LIMIT(#2): data cannot hold lambdas (JSON only), so the optional
//   ~lambdas spec module does not apply; templates never run code.
// - LIMIT(#2): true/false interpolate as an empty string (the Mustache data
//   model has no text for booleans); numbers print in their shortest form.
// - LIMIT(#2): the optional ~inheritance and ~dynamic-names spec modules
//   are not supported (the engine lacks them); no template we ship needs them.
// - A partial may include itself; expansions are capped at 1000 per render
//   (error `template_render`), so a self-including partial cannot run away.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>

#include "common/error.hpp"

namespace carepost::templates {

// html escapes & " < > in {{x}} (the HTML part); none leaves {{x}} as it is
// (subject, headers and the plain-text part: they are not HTML).
enum class Escape { html, none };

// Partial name -> template source, for {{> name}}.
using Partials = std::map<std::string, std::string>;

// Renders `source` with `data`. Fails with code `template_syntax` when the
// source (or a partial it uses) does not parse.
// Rendering stops with `template_too_large` once the output passes
// max_output_octets: nested sections can multiply a small template into
// gigabytes.
Result<std::string> render(
    std::string_view source,
    const boost::json::value& data,
    Escape escape,
    const Partials& partials = {},
    std::size_t max_output_octets = 25 * 1024 * 1024);

// Checks that `source` parses, for storing a template. Error code
// `template_syntax` with a short text naming the problem and its offset.
Result<void> check_syntax(std::string_view source);

}  // namespace carepost::templates
