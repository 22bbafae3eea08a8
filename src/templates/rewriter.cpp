#include "templates/rewriter.hpp"

#include <array>
#include <cstring>
#include <vector>

namespace carepost::templates {

namespace {

std::string_view trim(std::string_view s)
{
    const auto first = s.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) {
        return {};
    }
    return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

bool is_blank(std::string_view s)
{
    return s.find_first_not_of(" \t") == std::string_view::npos;
}

Error syntax_error(std::string text, std::size_t offset)
{
    return Error::invalid("template_syntax", {}, text + " at offset " + std::to_string(offset));
}

struct Token {
    enum class Kind { text, newline, tag, literal };
    Kind kind = Kind::text;
    std::string_view raw;  // exactly as in the source
    char sigil = 0;        // tags: '#', '^', '/', '!', '>', '=', '&', '{' or 0 for a variable
    std::string_view name;
    std::string open;  // delimiters in force where the tag stands
    std::string close;

    static Token of(Kind kind, std::string_view raw)
    {
        Token token;
        token.kind = kind;
        token.raw = raw;
        return token;
    }
};

class Tokenizer {
public:
    explicit Tokenizer(std::string_view source) : source_(source) {}

    Result<std::vector<Token>> run()
    {
        while (pos_ < source_.size()) {
            const auto at = source_.find(open_, pos_);
            // Postmark: a backslash before the tag prints the tag itself.
            const bool is_escaped = at != std::string_view::npos && open_ == "{{" && at > pos_ &&
                                    source_[at - 1] == '\\';
            const auto text_end = at == std::string_view::npos ? source_.size() : at;
            add_text(source_.substr(pos_, text_end - pos_ - (is_escaped ? 1 : 0)));
            if (at == std::string_view::npos) {
                break;
            }
            auto read = is_escaped ? read_literal(at) : read_tag(at);
            if (!read) {
                return read.error();
            }
        }
        return std::move(tokens_);
    }

private:
    void add_text(std::string_view text)
    {
        while (!text.empty()) {
            const auto lf = text.find('\n');
            if (lf == std::string_view::npos) {
                tokens_.push_back(Token::of(Token::Kind::text, text));
                return;
            }
            const auto line_end = lf > 0 && text[lf - 1] == '\r' ? lf - 1 : lf;
            if (line_end > 0) {
                tokens_.push_back(Token::of(Token::Kind::text, text.substr(0, line_end)));
            }
            tokens_.push_back(
                Token::of(Token::Kind::newline, text.substr(line_end, lf + 1 - line_end)));
            text.remove_prefix(lf + 1);
        }
    }

    Result<void> read_literal(std::size_t at)
    {
        const auto close = source_.find("}}", at + 2);
        if (close == std::string_view::npos) {
            return syntax_error("unclosed escaped tag", at);
        }
        tokens_.push_back(Token::of(Token::Kind::literal, source_.substr(at, close + 2 - at)));
        pos_ = close + 2;
        return {};
    }

    Result<void> read_tag(std::size_t at)
    {
        const bool is_triple = open_ == "{{" && source_.compare(at, 3, "{{{") == 0;
        const std::string_view close = is_triple ? "}}}" : std::string_view(close_);
        const auto content_at = at + (is_triple ? 3 : open_.size());
        const auto close_at = source_.find(close, content_at);
        if (close_at == std::string_view::npos) {
            return syntax_error("unclosed tag", at);
        }
        auto tag = Token::of(Token::Kind::tag, source_.substr(at, close_at + close.size() - at));
        tag.open = open_;
        tag.close = close_;
        const auto content = trim(source_.substr(content_at, close_at - content_at));
        if (is_triple) {
            tag.sigil = '{';
            tag.name = content;
        } else if (!content.empty() && std::strchr("#^/!>=&<$", content.front()) != nullptr) {
            tag.sigil = content.front();
            tag.name = trim(content.substr(1));
        } else {
            tag.name = content;
        }
        if (tag.sigil == '=' && !set_delimiters(content)) {
            return syntax_error("invalid set-delimiter tag", at);
        }
        tokens_.push_back(std::move(tag));
        pos_ = close_at + close.size();
        return {};
    }

    // `=<open> <close>=`: two delimiters, no whitespace or '=' inside them.
    bool set_delimiters(std::string_view content)
    {
        if (content.size() < 5 || content.back() != '=') {
            return false;
        }
        const auto inner = trim(content.substr(1, content.size() - 2));
        const auto space = inner.find_first_of(" \t");
        if (space == std::string_view::npos) {
            return false;
        }
        const auto open = inner.substr(0, space);
        const auto close = trim(inner.substr(space));
        if (close.find_first_of(" \t=") != std::string_view::npos ||
            open.find('=') != std::string_view::npos) {
            return false;
        }
        open_ = open;
        close_ = close;
        return true;
    }

    std::string_view source_;
    std::size_t pos_ = 0;
    std::string open_ = "{{";
    std::string close_ = "}}";
    std::vector<Token> tokens_;
};

// Writes `literal` (a whole `{{ ... }}` tag) so that Mustache prints it as
// text: switch to delimiters that do not occur in it, then switch back.
void append_literal(std::string& out, std::string_view literal)
{
    static constexpr std::array<std::pair<std::string_view, std::string_view>, 3> choices{{
        {"<%", "%>"},
        {"[%", "%]"},
        {"(@", "@)"},
    }};
    for (const auto& [open, close] : choices) {
        if (literal.find(open) == std::string_view::npos &&
            literal.find(close) == std::string_view::npos) {
            out.append("{{=").append(open).append(" ").append(close).append("=}}");
            out.append(literal);
            out.append(open).append("={{ }}=").append(close);
            return;
        }
    }
    // A literal holding all three delimiter pairs is not worth a fourth.
    out.append(literal);
}

// If `tag` opens a Postmark loop, returns what it loops over.
std::string_view each_target(const Token& tag)
{
    const auto rest = tag.name;
    if (tag.sigil != '#' || rest.size() < 5 || rest.substr(0, 4) != "each" ||
        (rest[4] != ' ' && rest[4] != '\t')) {
        return {};
    }
    return trim(rest.substr(5));
}

class Writer {
public:
    explicit Writer(std::string_view source) : source_(source) {}

    Result<void> write_tag(const Token& tag)
    {
        if (const auto target = each_target(tag); !target.empty()) {
            out_.append(tag.open).append("#").append(target).append(tag.close);
            sections_.push_back({std::string(target), true});
            return {};
        }
        if (tag.sigil == '#' || tag.sigil == '^') {
            sections_.push_back({std::string(tag.name), false});
        } else if (tag.sigil == '/') {
            const bool closes_each = !sections_.empty() && sections_.back().is_each;
            if (tag.name == "each" && closes_each) {
                out_.append(tag.open).append("/").append(sections_.back().name).append(tag.close);
                sections_.pop_back();
                return {};
            }
            const bool closes_plain_each = !sections_.empty() && sections_.back().name == "each";
            if (tag.name == "each" && !closes_plain_each) {
                const auto offset = static_cast<std::size_t>(tag.raw.data() - source_.data());
                return syntax_error("{{/each}} without {{#each}}", offset);
            }
            if (!sections_.empty() && sections_.back().name == tag.name) {
                sections_.pop_back();
            }
        }
        out_.append(tag.raw);
        return {};
    }

    Result<void> write_line(const std::vector<Token>& line)
    {
        if (write_standalone(line)) {
            return {};
        }
        for (const auto& token : line) {
            if (token.kind == Token::Kind::tag) {
                auto written = write_tag(token);
                if (!written) {
                    return written;
                }
            } else if (token.kind == Token::Kind::literal) {
                append_literal(out_, token.raw);
            } else {
                out_.append(token.raw);
            }
        }
        return {};
    }

    std::string take() { return std::move(out_); }

private:
    // Mustache spec: a line holding only whitespace and one comment,
    // set-delimiter or partial tag leaves no trace of its own in the output.
    // Sections and inverted sections the engine handles itself.
    bool write_standalone(const std::vector<Token>& line)
    {
        const Token* tag = nullptr;
        std::string indent;
        for (const auto& token : line) {
            if (token.kind == Token::Kind::tag && tag == nullptr) {
                tag = &token;
            } else if (token.kind == Token::Kind::text && is_blank(token.raw)) {
                if (tag == nullptr) {
                    indent.append(token.raw);
                }
            } else if (token.kind != Token::Kind::newline) {
                return false;
            }
        }
        if (tag == nullptr || std::strchr("!=>", tag->sigil) == nullptr || tag->sigil == 0) {
            return false;
        }
        if (tag->sigil == '=') {
            out_.append(tag->raw);
        } else if (tag->sigil == '>') {
            out_.append(tag->open).append(">").append(tag->name);
            if (!indent.empty()) {
                out_ += indent_mark;
                for (const char c : indent) {
                    out_ += c == '\t' ? 't' : 's';
                }
            }
            out_.append(tag->close);
        }
        return true;
    }

    struct OpenSection {
        std::string name;
        bool is_each = false;
    };

    std::string_view source_;
    std::string out_;
    std::vector<OpenSection> sections_;
};

}  // namespace

Result<std::string> rewrite_template(std::string_view source)
{
    auto tokens = Tokenizer(source).run();
    if (!tokens) {
        return tokens.error();
    }

    Writer writer(source);
    std::vector<Token> line;
    for (auto& token : *tokens) {
        const bool is_newline = token.kind == Token::Kind::newline;
        line.push_back(std::move(token));
        if (is_newline) {
            if (auto written = writer.write_line(line); !written) {
                return written.error();
            }
            line.clear();
        }
    }
    if (auto written = writer.write_line(line); !written) {
        return written.error();
    }
    return writer.take();
}

PartialRef parse_partial_ref(std::string_view tag_name)
{
    const auto mark = tag_name.find(indent_mark);
    if (mark == std::string_view::npos) {
        return {std::string(tag_name), {}};
    }
    PartialRef ref{std::string(tag_name.substr(0, mark)), {}};
    for (const char c : tag_name.substr(mark + 1)) {
        ref.indent += c == 't' ? '\t' : ' ';
    }
    return ref;
}

std::string indent_lines(std::string_view source, std::string_view indent)
{
    if (source.empty()) {
        return {};
    }
    std::string out(indent);
    for (std::size_t i = 0; i < source.size(); ++i) {
        out += source[i];
        if (source[i] == '\n' && i + 1 < source.size()) {
            out.append(indent);
        }
    }
    return out;
}

}  // namespace carepost::templates
