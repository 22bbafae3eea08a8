#include "mime/header_writer.hpp"

#include <algorithm>
#include <cctype>

#include "mime/utf8.hpp"

namespace carepost::mime {

namespace {

constexpr std::string_view hex_digits = "0123456789ABCDEF";
constexpr std::size_t encoded_word_overhead = 12;  // "=?UTF-8?Q?" and "?="

// RFC 2047 §5(3): the only characters a Q word may carry as they are in a phrase.
bool is_q_safe(char c)
{
    return std::isalnum(static_cast<unsigned char>(c)) || c == '!' || c == '*' || c == '+' ||
           c == '-' || c == '/';
}

std::size_t q_octets(char c)
{
    return is_q_safe(c) || c == ' ' ? 1 : 3;
}

std::size_t b_octets(std::size_t bytes)
{
    return (bytes + 2) / 3 * 4;
}

std::string encode_q(std::string_view bytes)
{
    std::string out;
    for (const char c : bytes) {
        const auto u = static_cast<unsigned char>(c);
        if (c == ' ') {
            out += '_';
        } else if (is_q_safe(c)) {
            out += c;
        } else {
            out += '=';
            out += hex_digits[u >> 4];
            out += hex_digits[u & 0x0F];
        }
    }
    return out;
}

std::string encode_b(std::string_view bytes)
{
    static constexpr std::string_view alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    for (std::size_t i = 0; i < bytes.size(); i += 3) {
        unsigned value = static_cast<unsigned char>(bytes[i]) << 16;
        if (i + 1 < bytes.size()) {
            value |= static_cast<unsigned char>(bytes[i + 1]) << 8;
        }
        if (i + 2 < bytes.size()) {
            value |= static_cast<unsigned char>(bytes[i + 2]);
        }
        out += alphabet[(value >> 18) & 0x3F];
        out += alphabet[(value >> 12) & 0x3F];
        out += i + 1 < bytes.size() ? alphabet[(value >> 6) & 0x3F] : '=';
        out += i + 2 < bytes.size() ? alphabet[value & 0x3F] : '=';
    }
    return out;
}

// How many octets of `text` from `pos`, in whole characters, fit in one
// encoded-word of at most `limit` octets.
std::size_t fit_characters(std::string_view text, std::size_t pos, std::size_t limit, bool is_q)
{
    std::size_t taken = 0;
    std::size_t q_length = 0;
    while (pos + taken < text.size()) {
        const auto n = std::max<std::size_t>(1, utf8_sequence_length(text, pos + taken));
        std::size_t length = 0;
        if (is_q) {
            for (std::size_t i = 0; i < n; ++i) {
                length += q_octets(text[pos + taken + i]);
            }
            length += q_length;
        } else {
            length = b_octets(taken + n);
        }
        if (encoded_word_overhead + length > limit) {
            break;
        }
        q_length = is_q ? length : 0;
        taken += n;
    }
    return taken;
}

// Words that keep their leading whitespace: "a  b\tc" -> "a", "  b", "\tc".
std::vector<std::string_view> split_words(std::string_view value)
{
    std::vector<std::string_view> words;
    std::size_t start = 0;
    while (start < value.size()) {
        auto end = value.find_first_not_of(" \t", start);
        end = end == std::string_view::npos ? value.size() : value.find_first_of(" \t", end);
        end = end == std::string_view::npos ? value.size() : end;
        words.push_back(value.substr(start, end - start));
        start = end;
    }
    return words;
}

bool is_printable_ascii(std::string_view value)
{
    return std::all_of(
        value.begin(), value.end(), [](char c) { return (c >= 0x20 && c <= 0x7E) || c == '\t'; });
}

// Plain text is safe when nothing in it reads as an encoded-word, nothing is
// lost to whitespace trimming, and every word fits on a folded line.
bool can_write_plain(std::string_view value)
{
    if (value.empty() || !is_printable_ascii(value) || value.find("=?") != std::string_view::npos ||
        value.front() == ' ' || value.front() == '\t' || value.back() == ' ' ||
        value.back() == '\t') {
        return false;
    }
    // A word longer than a 78-octet line (a long URL, a message id) cannot
    // be folded, but may stand on a line of its own up to RFC 5322's 998.
    const auto words = split_words(value);
    return std::all_of(words.begin(), words.end(), [](std::string_view w) {
        return w.size() < max_unfoldable_word_octets;
    });
}

void add_plain_words(FieldWriter& writer, std::string_view value)
{
    bool is_first = true;
    for (const auto word : split_words(value)) {
        if (is_first) {
            writer.add_token(word);
            is_first = false;
        } else {
            writer.add_word(word);
        }
    }
}

bool is_atom_phrase(std::string_view name)
{
    if (name.empty() || name.front() == ' ' || name.back() == ' ' ||
        name.find("  ") != std::string_view::npos) {
        return false;
    }
    return std::all_of(name.begin(), name.end(), [](char c) {
        return c == ' ' || std::isalnum(static_cast<unsigned char>(c)) ||
               std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
    });
}

std::string quote(std::string_view name)
{
    std::string out = "\"";
    for (const char c : name) {
        if (c == '"' || c == '\\') {
            out += '\\';
        }
        out += c;
    }
    return out + "\"";
}

bool is_atom(std::string_view word)
{
    return !word.empty() && word.find("=?") == std::string_view::npos &&
           std::all_of(word.begin(), word.end(), [](char c) {
               return std::isalnum(static_cast<unsigned char>(c)) ||
                      std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
           });
}

// Words that are atoms stay plain; each run of other words becomes
// encoded-words. Decoders that wrongly keep the space between two adjacent
// encoded-words in a phrase (Python's email package does) then still read
// the name right, unless one run needs more than one encoded-word.
void add_mixed_phrase(FieldWriter& writer, std::string_view name)
{
    std::vector<std::string_view> words;
    for (std::size_t start = 0; start <= name.size();) {
        const auto space = std::min(name.find(' ', start), name.size());
        words.push_back(name.substr(start, space - start));
        start = space + 1;
    }
    for (std::size_t i = 0; i < words.size();) {
        if (is_atom(words[i])) {
            writer.add_token(words[i++]);
            continue;
        }
        auto j = i;
        while (j < words.size() && !is_atom(words[j])) {
            ++j;
        }
        const auto begin = words[i].data() - name.data();
        const auto end = words[j - 1].data() + words[j - 1].size() - name.data();
        add_encoded_words(writer, name.substr(begin, end - begin));
        i = j;
    }
}

void add_display_name(FieldWriter& writer, std::string_view name)
{
    if (is_atom_phrase(name) && name.find("=?") == std::string_view::npos) {
        add_plain_words(writer, name);
        return;
    }
    const bool is_quotable =
        std::all_of(name.begin(), name.end(), [](char c) { return c >= 0x20 && c <= 0x7E; });
    // A quoted-string cannot be folded inside; a long one becomes encoded-words.
    if (is_quotable && name.find("=?") == std::string_view::npos &&
        quote(name).size() < max_header_line_octets - 2) {
        writer.add_token(quote(name));
        return;
    }
    // Only single spaces between words survive a split into words exactly.
    const bool has_plain_spacing = name.front() != ' ' && name.back() != ' ' &&
                                   name.find("  ") == std::string_view::npos &&
                                   name.find('\t') == std::string_view::npos;
    if (has_plain_spacing) {
        add_mixed_phrase(writer, name);
        return;
    }
    add_encoded_words(writer, name);
}

}  // namespace

FieldWriter::FieldWriter(std::string_view name) : out_(std::string(name) + ":") {}

void FieldWriter::fold()
{
    out_ += "\r\n";
    line_start_ = out_.size();
}

std::size_t FieldWriter::room() const
{
    const auto used = line_octets() + 1;
    return used >= max_header_line_octets ? 0 : max_header_line_octets - used;
}

void FieldWriter::add_token(std::string_view token)
{
    if (token.size() > room() && line_octets() > 0) {
        fold();
    }
    out_ += ' ';
    out_ += token;
}

void FieldWriter::add_word(std::string_view word)
{
    if (line_octets() + word.size() > max_header_line_octets && line_octets() > 0) {
        fold();
    }
    out_ += word;
}

std::string FieldWriter::finish() &&
{
    out_ += "\r\n";
    return std::move(out_);
}

void add_encoded_words(FieldWriter& writer, std::string_view text)
{
    std::size_t q_total = 0;
    for (const char c : text) {
        q_total += q_octets(c);
    }
    // Q stays readable for mostly-ASCII text; allow it to be half as long again.
    const bool is_q = 2 * q_total <= 3 * b_octets(text.size());

    for (std::size_t pos = 0; pos < text.size();) {
        auto limit = std::min(max_encoded_word_octets, writer.room());
        auto taken = fit_characters(text, pos, limit, is_q);
        if (taken == 0) {
            // Not even one character fits here: the word starts a new line.
            taken = fit_characters(text, pos, max_encoded_word_octets, is_q);
        }
        const auto chunk = text.substr(pos, taken);
        writer.add_token(
            is_q ? "=?UTF-8?Q?" + encode_q(chunk) + "?=" : "=?UTF-8?B?" + encode_b(chunk) + "?=");
        pos += taken;
    }
}

std::string write_unstructured(std::string_view name, std::string_view value)
{
    FieldWriter writer(name);
    if (can_write_plain(value)) {
        add_plain_words(writer, value);
    } else if (!value.empty()) {
        add_encoded_words(writer, value);
    }
    return std::move(writer).finish();
}

std::optional<std::string> write_plain(std::string_view name, std::string_view value)
{
    if (!value.empty() && !can_write_plain(value)) {
        return std::nullopt;
    }
    FieldWriter writer(name);
    add_plain_words(writer, value);
    return std::move(writer).finish();
}

std::string write_mailboxes(std::string_view name, const std::vector<MailboxText>& mailboxes)
{
    FieldWriter writer(name);
    for (std::size_t i = 0; i < mailboxes.size(); ++i) {
        const auto& mailbox = mailboxes[i];
        const std::string separator = i + 1 < mailboxes.size() ? "," : "";
        if (mailbox.display_name.empty()) {
            writer.add_token(mailbox.addr_spec + separator);
            continue;
        }
        add_display_name(writer, mailbox.display_name);
        writer.add_token("<" + mailbox.addr_spec + ">" + separator);
    }
    return std::move(writer).finish();
}

}  // namespace carepost::mime
