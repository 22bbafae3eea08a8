// mime: writes header fields: folding (RFC 5322 §2.2.3), RFC 2047
// encoded-words, and display-name quoting.
//
// Every value given here has been checked by the caller: valid UTF-8 and no
// CR, LF or NUL. Output lines end in CRLF and are at most 78 octets, except a
// single address longer than that, which cannot be folded.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace carepost::mime {

// RFC 5322 §2.1.1: the line length to keep to, CRLF excluded.
inline constexpr std::size_t max_header_line_octets = 78;
// Leaves room for the field name on a line of at most 998 octets.
inline constexpr std::size_t max_unfoldable_word_octets = 900;
// RFC 2047 §2: the longest encoded-word.
inline constexpr std::size_t max_encoded_word_octets = 75;

// Builds one header field line by line, folding before whitespace.
class FieldWriter {
public:
    explicit FieldWriter(std::string_view name);

    // Appends `token` after one space, folding first if it would not fit.
    void add_token(std::string_view token);
    // Appends `word`, which starts with its own whitespace, folding before
    // it if it would not fit.
    void add_word(std::string_view word);
    // Octets a token may take on the current line after its space.
    std::size_t room() const;
    std::string finish() &&;

private:
    std::size_t line_octets() const { return out_.size() - line_start_; }
    void fold();

    std::string out_;
    std::size_t line_start_ = 0;
};

// Appends `text` as UTF-8 encoded-words: Q or B (whichever is shorter for
// the whole text), each at most 75 octets, whole characters only, each line
// filled as far as 78 octets allow. Q uses only the characters RFC 2047 §5(3)
// allows in a phrase, so the words are valid in display names too.
void add_encoded_words(FieldWriter& writer, std::string_view text);

// An unstructured field (Subject, X-*): as it is when it is printable ASCII
// that folds within the limits, else as encoded-words.
std::string write_unstructured(std::string_view name, std::string_view value);

// A structured field written as it is, folded at whitespace; nullopt when the
// value is not printable ASCII or holds a word that cannot be folded.
std::optional<std::string> write_plain(std::string_view name, std::string_view value);

struct MailboxText {
    std::string display_name;  // UTF-8, may be empty
    std::string addr_spec;     // already in its header form
};

// An address field: `name <addr>` items separated by commas. Display names are
// written as atoms, as a quoted-string, or as encoded-words when not ASCII.
std::string write_mailboxes(std::string_view name, const std::vector<MailboxText>& mailboxes);

}  // namespace carepost::mime
