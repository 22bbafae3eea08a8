// Click and open tracking by splicing into the original HTML.
//
// gumbo parses the document as a browser would (entities, comments, scripts,
// misnested tags); we take from it only where each <a href> value and the
// </body> tag sit in the original bytes, and splice there. Re-serialising the
// tree would reorder attributes and change whitespace: DKIM-signed templates
// and careful email CSS hacks would not survive that.
#include <algorithm>
#include <set>

#include <gumbo.h>

#include "tracking/tracking.hpp"

namespace carepost::tracking {
namespace {

struct Edit {
    std::size_t offset = 0;
    std::size_t length = 0;
    std::string replacement;
};

constexpr std::string_view ascii_whitespace = " \t\n\f\r";
// Longer targets stay untracked: their tokens would pass open_token's bound.
constexpr std::size_t max_tracked_url_octets = 8 * 1024;

std::string escape_attribute(std::string_view value)
{
    std::string out;
    for (char c : value) {
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
            out.push_back(c);
        }
    }
    return out;
}

std::string_view trim(std::string_view s)
{
    auto first = s.find_first_not_of(ascii_whitespace);
    if (first == std::string_view::npos) {
        return {};
    }
    auto last = s.find_last_not_of(ascii_whitespace);
    return s.substr(first, last - first + 1);
}

bool starts_with_ignoring_case(std::string_view s, std::string_view prefix)
{
    return s.size() >= prefix.size() &&
           std::equal(prefix.begin(), prefix.end(), s.begin(), [](char a, char b) {
               return a == (b >= 'A' && b <= 'Z' ? static_cast<char>(b - 'A' + 'a') : b);
           });
}

bool is_web_url(std::string_view url)
{
    return starts_with_ignoring_case(url, "http://") || starts_with_ignoring_case(url, "https://");
}

std::string replace_all(std::string s, std::string_view from, std::string_view to)
{
    for (auto at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
        s.replace(at, from.size(), to);
    }
    return s;
}

// Where a piece that gumbo returns lies in `html`, or npos when it is not
// from the source (parser-made nodes have empty pieces).
std::size_t offset_in(std::string_view html, const GumboStringPiece& piece)
{
    if (piece.data == nullptr || piece.length == 0 || piece.data < html.data() ||
        piece.data + piece.length > html.data() + html.size()) {
        return std::string_view::npos;
    }
    return static_cast<std::size_t>(piece.data - html.data());
}

class Rewriter {
public:
    Rewriter(
        std::string_view html,
        const RewriteOptions& options,
        const std::function<std::string(const std::string&)>& click_token)
        : html_(html), options_(options), click_token_(click_token)
    {}

    void visit_link(const GumboElement& a);
    void note_body(const GumboElement& body);
    void add_pixel(const std::string& open_token);
    void replace_placeholders();
    Rewritten finish();

private:
    bool is_unsubscribe_link(std::string_view href) const
    {
        return href == unsubscribe_placeholder ||
               (!options_.unsubscribe_url.empty() && href == options_.unsubscribe_url);
    }

    std::string_view html_;
    const RewriteOptions& options_;
    const std::function<std::string(const std::string&)>& click_token_;
    std::vector<Edit> edits_;
    std::set<std::size_t> seen_offsets_;
    std::size_t body_end_ = std::string_view::npos;
    std::vector<std::string> links_;
};

void Rewriter::visit_link(const GumboElement& a)
{
    const GumboAttribute* href = gumbo_get_attribute(&a.attributes, "href");
    if (href == nullptr || gumbo_get_attribute(&a.attributes, "data-carepost-notrack") != nullptr) {
        return;
    }
    // The adoption agency algorithm clones misnested <a> elements; a clone
    // points at the same source bytes and must not be spliced twice.
    auto offset = offset_in(html_, href->original_value);
    if (offset == std::string_view::npos || !seen_offsets_.insert(offset).second) {
        return;
    }

    // gumbo has decoded entities (&amp;) in `value`: that is the real target.
    auto value = trim(href->value);
    // A target with control characters or spaces (decoded from entities,
    // or from template data) is never tracked: it could end up in a header.
    bool has_control = std::any_of(value.begin(), value.end(), [](char c) {
        return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f;
    });
    if (is_unsubscribe_link(value) || !is_web_url(value) || has_control ||
        value.size() > max_tracked_url_octets) {
        return;
    }
    std::string target(value);
    if (!options_.unsubscribe_url.empty()) {
        target = replace_all(std::move(target), unsubscribe_placeholder, options_.unsubscribe_url);
    }
    std::string url = options_.base_url + "/t/c/" + click_token_(target);
    edits_.push_back({offset, href->original_value.length, "\"" + escape_attribute(url) + "\""});
    links_.push_back(std::move(target));
}

void Rewriter::note_body(const GumboElement& body)
{
    auto offset = offset_in(html_, body.original_end_tag);
    if (offset != std::string_view::npos && body_end_ == std::string_view::npos) {
        body_end_ = offset;
    }
}

void Rewriter::add_pixel(const std::string& open_token)
{
    std::string src = options_.base_url + "/t/o/" + open_token;
    std::string img = "<img src=\"" + escape_attribute(src) +
                      "\" width=\"1\" height=\"1\" alt=\"\" style=\"display:none\">";
    auto at = body_end_ == std::string_view::npos ? html_.size() : body_end_;
    edits_.push_back({at, 0, std::move(img)});
}

void Rewriter::replace_placeholders()
{
    if (options_.unsubscribe_url.empty()) {
        return;
    }
    std::string text = escape_attribute(options_.unsubscribe_url);
    for (auto at = html_.find(unsubscribe_placeholder); at != std::string_view::npos;
         at = html_.find(unsubscribe_placeholder, at + unsubscribe_placeholder.size())) {
        edits_.push_back({at, unsubscribe_placeholder.size(), text});
    }
}

Rewritten Rewriter::finish()
{
    // Edits never overlap by construction, except a placeholder inside a
    // rewritten href: the href edit already carries it, so drop the inner one.
    std::stable_sort(edits_.begin(), edits_.end(), [](const Edit& x, const Edit& y) {
        return x.offset < y.offset;
    });
    Rewritten out;
    std::size_t copied = 0;
    for (const Edit& edit : edits_) {
        if (edit.offset < copied) {
            continue;
        }
        out.html.append(html_.substr(copied, edit.offset - copied));
        out.html += edit.replacement;
        copied = edit.offset + edit.length;
    }
    out.html.append(html_.substr(copied));
    out.links = std::move(links_);
    return out;
}

}  // namespace

Rewritten rewrite_html(
    std::string_view html,
    const RewriteOptions& options,
    const std::function<std::string(const std::string& target)>& click_token,
    const std::string& open_token)
{
    Rewriter rewriter(html, options, click_token);
    GumboOutput* output = gumbo_parse_with_options(&kGumboDefaultOptions, html.data(), html.size());

    // Iterative walk: a hostile document may nest deeper than the stack.
    std::vector<const GumboNode*> pending{output->root};
    while (!pending.empty()) {
        const GumboNode* node = pending.back();
        pending.pop_back();
        if (node->type != GUMBO_NODE_ELEMENT && node->type != GUMBO_NODE_TEMPLATE) {
            continue;
        }
        const GumboElement& element = node->v.element;
        bool is_html = element.tag_namespace == GUMBO_NAMESPACE_HTML;
        if (is_html && element.tag == GUMBO_TAG_A && options.track_clicks) {
            rewriter.visit_link(element);
        } else if (is_html && element.tag == GUMBO_TAG_BODY) {
            rewriter.note_body(element);
        }
        for (unsigned i = element.children.length; i > 0; --i) {
            pending.push_back(static_cast<const GumboNode*>(element.children.data[i - 1]));
        }
    }
    gumbo_destroy_output(&kGumboDefaultOptions, output);

    if (options.track_opens) {
        rewriter.add_pixel(open_token);
    }
    rewriter.replace_placeholders();
    return rewriter.finish();
}

}  // namespace carepost::tracking
