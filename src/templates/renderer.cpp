#include <exception>
#include <string>

#include <kainjow/mustache.hpp>

#include "templates/json_data.hpp"
#include "templates/render_context.hpp"
#include "templates/rewriter.hpp"
#include "templates/templates.hpp"

namespace carepost::templates {

namespace {

using Mustache = kainjow::mustache::mustache;

// The Mustache spec's escaping, exactly: & " < > and nothing else.
std::string escape_html(const std::string& text)
{
    std::string out;
    out.reserve(text.size() + text.size() / 8);
    for (const char c : text) {
        switch (c) {
        case '&':
            out += "&amp;";
            break;
        case '"':
            out += "&quot;";
            break;
        case '<':
            out += "&lt;";
            break;
        case '>':
            out += "&gt;";
            break;
        default:
            out += c;
        }
    }
    return out;
}

std::string escape_nothing(const std::string& text)
{
    return text;
}

Error syntax_error(const std::string& text)
{
    return Error::invalid("template_syntax", {}, text);
}

// Collects the engine's output and stops it, by throwing, once it passes
// the limit; render() turns that into an error.
struct OutputTooLarge : std::exception {};

struct BoundedOutput {
    std::size_t limit;
    std::string text;
    BoundedOutput& operator<<(const std::string& chunk)
    {
        if (text.size() + chunk.size() > limit) {
            throw OutputTooLarge();
        }
        text += chunk;
        return *this;
    }
};

Result<std::string> render_checked(
    std::string_view source,
    const boost::json::value& data,
    Escape escape,
    const Partials& partials,
    std::size_t max_output_octets)
{
    auto rewritten = rewrite_template(source);
    if (!rewritten) {
        return rewritten.error();
    }
    Mustache tmpl(*rewritten);
    if (!tmpl.is_valid()) {
        return syntax_error(tmpl.error_message());
    }
    tmpl.set_custom_escape(escape == Escape::html ? escape_html : escape_nothing);

    const auto model = to_mustache_data(data);
    RenderContext context(&model, partials);
    BoundedOutput sink{max_output_octets, {}};
    tmpl.render(context, sink);
    std::string out = std::move(sink.text);
    if (context.is_over_limit()) {
        return Error::invalid("template_render", {}, "too many partial expansions");
    }
    if (context.partial_error()) {
        return *context.partial_error();
    }
    if (!tmpl.is_valid()) {
        return syntax_error(tmpl.error_message());
    }
    return out;
}

}  // namespace

Result<std::string> render(
    std::string_view source,
    const boost::json::value& data,
    Escape escape,
    const Partials& partials,
    std::size_t max_output_octets)
{
    // The engine reports through error strings, but allocation can still throw.
    try {
        return render_checked(source, data, escape, partials, max_output_octets);
    } catch (const OutputTooLarge&) {
        return Error::invalid("template_too_large", {}, "the rendered template is too large");
    } catch (const std::exception&) {
        return Error::internal("template_render", "template rendering failed");
    }
}

Result<void> check_syntax(std::string_view source)
{
    try {
        auto rewritten = rewrite_template(source);
        if (!rewritten) {
            return rewritten.error();
        }
        if (Mustache tmpl(*rewritten); !tmpl.is_valid()) {
            return syntax_error(tmpl.error_message());
        }
        return {};
    } catch (const std::exception&) {
        return Error::internal("template_syntax", "template check failed");
    }
}

}  // namespace carepost::templates
