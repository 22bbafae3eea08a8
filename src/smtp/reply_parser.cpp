#include "smtp/reply_parser.hpp"

namespace carepost::smtp {
namespace {

constexpr std::size_t kMaxTextOctets = 200;

bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

// RFC 3463 §2: class.subject.detail, class matching the reply's first digit.
std::size_t enhanced_length(std::string_view text, char reply_class)
{
    if (text.size() < 5 || text[0] != reply_class || text[1] != '.') {
        return 0;
    }
    std::size_t i = 2;
    for (int part = 0; part < 2; ++part) {
        std::size_t start = i;
        while (i < text.size() && is_digit(text[i]) && i - start < 3) {
            ++i;
        }
        if (i == start || (part == 0 && (i >= text.size() || text[i] != '.'))) {
            return 0;
        }
        i += part == 0 ? 1 : 0;
    }
    return (i == text.size() || text[i] == ' ') ? i : 0;
}

// Appends peer text with control bytes made visible-safe, up to the cap.
void append_clean(std::string& out, std::string_view text)
{
    for (char c : text) {
        if (out.size() >= kMaxTextOctets) {
            return;
        }
        auto u = static_cast<unsigned char>(c);
        out.push_back(u < 0x20 || u == 0x7f ? '?' : c);
    }
}

}  // namespace

ParsedReply parse_reply(std::string_view buffer)
{
    ParsedReply out;
    std::size_t pos = 0;
    while (true) {
        std::size_t end = buffer.find('\n', pos);
        if (end == std::string_view::npos) {
            bool too_long = buffer.size() > kMaxReplyOctets;
            out.status = too_long ? ParseStatus::malformed : ParseStatus::need_more;
            return out;
        }
        std::string_view line = buffer.substr(pos, end - pos);
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        pos = end + 1;

        // "ddd" alone, "ddd-text" (more lines follow) or "ddd text" (last).
        if (line.size() < 3 || !is_digit(line[0]) || !is_digit(line[1]) || !is_digit(line[2]) ||
            (line.size() > 3 && line[3] != '-' && line[3] != ' ') || pos > kMaxReplyOctets) {
            out.status = ParseStatus::malformed;
            return out;
        }
        int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
        if (out.reply.code != 0 && code != out.reply.code) {
            out.status = ParseStatus::malformed;
            return out;
        }
        out.reply.code = code;

        std::string_view text = line.size() > 4 ? line.substr(4) : std::string_view();
        out.lines.emplace_back(text);
        if (std::size_t n = enhanced_length(text, line[0]); n > 0) {
            if (out.reply.enhanced.empty()) {
                out.reply.enhanced = std::string(text.substr(0, n));
            }
            text.remove_prefix(std::min(n + 1, text.size()));
        }
        if (!out.reply.text.empty()) {
            append_clean(out.reply.text, " ");
        }
        append_clean(out.reply.text, text);

        if (line.size() == 3 || line[3] == ' ') {
            out.status = ParseStatus::complete;
            out.consumed = pos;
            return out;
        }
    }
}

}  // namespace carepost::smtp
