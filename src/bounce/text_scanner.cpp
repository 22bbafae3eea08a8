#include "bounce/text_scanner.hpp"

#include <algorithm>
#include <cctype>

#include "bounce/fields.hpp"

namespace carepost::bounce::detail {

namespace {

std::vector<std::string_view> split_lines(std::string_view text)
{
    std::vector<std::string_view> lines;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) {
            end = text.size();
        }
        std::string_view line = text.substr(pos, end - pos);
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        lines.push_back(line);
        pos = end + 1;
    }
    return lines;
}

// Header names that open a returned message; DSN-style fields (Status:,
// Action:, Final-Recipient:) are the bounce's own words and not listed.
bool is_message_header_line(std::string_view line)
{
    static constexpr std::string_view kNames[] = {
        "received:",
        "return-path:",
        "from:",
        "to:",
        "cc:",
        "subject:",
        "date:",
        "message-id:",
        "mime-version:",
        "dkim-signature:",
        "delivered-to:",
        "reply-to:",
        "sender:",
        "x-mailer:",
        "authentication-results:",
        "x-originating-ip:",
        "x-received:",
        "arc-seal:",
        "domainkey-signature:",
        "user-agent:",
        "x-sender:",
        "errors-to:",
        "in-reply-to:",
        "references:",
        "x-original-to:",
        "envelope-to:",
    };
    std::string lower = to_lower(line.substr(0, std::min<std::size_t>(line.size(), 30)));
    for (std::string_view n : kNames) {
        if (lower.starts_with(n)) {
            return true;
        }
    }
    return false;
}

// Lines bounce software writes just before the returned message.
bool is_separator_line(std::string_view line)
{
    static constexpr std::string_view kMarks[] = {
        "below this line is a copy of the message",
        "this is a copy of the message",
        "original message follows",
        "original message headers",
        "----- original message -----",
        "message headers follow",
        "headers of the original message",
        "header of the original message",
        "original message header",
        "----- the header of the original message",
        "undelivered message headers",
        "------ original message ------",
        "content-description: undelivered message",
        "copy of the message, including all the headers",
        "the headers of your message",
        "--- the message follows",
        "message text follows",
        "original text follows",
    };
    std::string lower = to_lower(line);
    for (std::string_view m : kMarks) {
        if (lower.find(m) != std::string::npos) {
            return true;
        }
    }
    return false;
}

// True when a returned header block starts at `i`: three or more message
// header lines within the next ten.
bool opens_header_block(const std::vector<std::string_view>& lines, std::size_t i)
{
    if (!is_message_header_line(lines[i])) {
        return false;
    }
    int count = 0;
    for (std::size_t j = i; j < lines.size() && j < i + 10; ++j) {
        if (is_message_header_line(lines[j])) {
            ++count;
        }
    }
    return count >= 3;
}

bool is_local_char(char c)
{
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("._%+-=/!#$&'*?^`{|}~").find(c) != std::string_view::npos;
}

bool is_domain_char(char c)
{
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-';
}

// A line quoting the returned message's sender or ids, not a recipient.
bool is_quoted_header(std::string_view lower_line)
{
    std::size_t first = lower_line.find_first_not_of(" \t>");
    if (first == std::string_view::npos) {
        return false;
    }
    std::string_view rest = lower_line.substr(first);
    static constexpr std::string_view kNames[] = {
        "from:",
        "sender:",
        "reply-to:",
        "return-path:",
        "message-id:",
        "in-reply-to:",
        "references:",
        "errors-to:",
    };
    for (std::string_view n : kNames) {
        if (rest.starts_with(n)) {
            return true;
        }
    }
    return false;
}

}  // namespace

Notification split_notification(std::string_view body)
{
    std::vector<std::string_view> lines = split_lines(body);
    std::size_t cut = lines.size();
    std::size_t headers_from = lines.size();
    for (std::size_t i = 0; i < lines.size(); ++i) {
        if (is_separator_line(lines[i])) {
            cut = i;
            headers_from = i + 1;
            break;
        }
        if (opens_header_block(lines, i)) {
            cut = i;
            headers_from = i;
            break;
        }
    }

    Notification out;
    for (std::size_t i = 0; i < cut; ++i) {
        out.text.append(lines[i]).append("\n");
    }
    // The returned header block starts after blank lines that may follow
    // the separator, and ends at the next blank line.
    std::size_t i = headers_from;
    while (i < lines.size() && lines[i].find_first_not_of(" \t") == std::string_view::npos) {
        ++i;
    }
    for (; i < lines.size() && lines[i].find_first_not_of(" \t") != std::string_view::npos; ++i) {
        out.returned_headers.append(lines[i]).append("\n");
    }
    return out;
}

std::vector<std::string> find_addresses(std::string_view text)
{
    std::vector<std::string> out;
    for (std::size_t at = text.find('@'); at != std::string_view::npos;
         at = text.find('@', at + 1)) {
        std::size_t begin = at;
        while (begin > 0 && is_local_char(text[begin - 1])) {
            --begin;
        }
        std::size_t end = at + 1;
        while (end < text.size() && is_domain_char(text[end])) {
            ++end;
        }
        std::string_view local = text.substr(begin, at - begin);
        std::string_view domain = text.substr(at + 1, end - at - 1);
        while (!local.empty() &&
               (local.front() == '.' || local.front() == '\'' || local.front() == '=')) {
            local.remove_prefix(1);
        }
        while (!domain.empty() && (domain.back() == '.' || domain.back() == '-')) {
            domain.remove_suffix(1);
        }
        if (local.empty() || domain.find('.') == std::string_view::npos) {
            continue;
        }
        out.push_back(std::string(local) + "@" + std::string(domain));
    }
    return out;
}

std::vector<TextFinding>
find_recipients(std::string_view notification, const std::vector<std::string>& excluded)
{
    std::vector<std::string_view> lines = split_lines(notification);
    auto is_excluded = [&](const std::string& lower) {
        if (lower.starts_with("mailer-daemon@") || lower.starts_with("postmaster@")) {
            return true;
        }
        return std::find(excluded.begin(), excluded.end(), lower) != excluded.end();
    };

    // First appearance of each address opens its section.
    std::vector<std::pair<std::string, std::size_t>> starts;
    std::vector<std::string> seen;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        std::string lower_line = to_lower(lines[i]);
        // An address quoted as the envelope sender is ours, not a recipient.
        if (lower_line.find("mail from") != std::string::npos ||
            lower_line.find("envelope-from") != std::string::npos || is_quoted_header(lower_line)) {
            continue;
        }
        for (const std::string& address : find_addresses(lines[i])) {
            std::string lower = to_lower(address);
            if (is_excluded(lower) || std::find(seen.begin(), seen.end(), lower) != seen.end()) {
                continue;
            }
            seen.push_back(lower);
            starts.emplace_back(address, i);
        }
    }

    // Each line belongs to the last recipient named on or above it, so a
    // bounce that lists recipients and then repeats them in a transcript
    // (or in a second language) gives each one its own lines.
    std::vector<TextFinding> out;
    for (const auto& [address, line] : starts) {
        out.push_back({address, {}, {}});
    }
    std::vector<std::string> lower_addresses;
    for (const TextFinding& f : out) {
        lower_addresses.push_back(to_lower(f.recipient));
    }
    auto named_on = [&](std::string_view line) {
        std::string lower_line = to_lower(line);
        for (std::size_t k = 0; k < lower_addresses.size(); ++k) {
            if (lower_line.find(lower_addresses[k]) != std::string::npos) {
                return k;
            }
        }
        return lower_addresses.size();
    };
    // Sendmail writes the remote host's reply ("550 example.org (smtp)...
    // 550 Host unknown") on the line before the recipient it concerns: a
    // line with no address that names, as a word, the domain of the
    // recipient on the next line belongs to that recipient.
    auto names_domain_of = [&](std::string_view line, std::size_t k) {
        if (line.find('@') != std::string_view::npos) {
            return false;
        }
        std::string lower_line = to_lower(line);
        std::string_view address = lower_addresses[k];
        std::string domain(address.substr(address.find('@') + 1));
        for (std::size_t at = lower_line.find(domain); at != std::string::npos;
             at = lower_line.find(domain, at + 1)) {
            std::size_t end = at + domain.size();
            bool open_ok = at == 0 || lower_line[at - 1] == ' ';
            bool close_ok = end == lower_line.size() || lower_line[end] == ' ';
            if (open_ok && close_ok) {
                return true;
            }
        }
        return false;
    };
    // Sendmail also writes the session transcript ("While talking to
    // host: >>> MAIL From:... <<< 501 ...") before the line naming the
    // recipient it failed. A transcript that names no recipient belongs to
    // the recipient named right after it, or to nobody.
    struct TranscriptOwner {
        bool applies = false;
        std::size_t owner = 0;
    };
    auto transcript_owner = [&](std::size_t i) {
        std::string first = to_lower(lines[i]);
        first.erase(0, first.find_first_not_of(" \t"));
        if (!first.starts_with("while talking to")) {
            return TranscriptOwner{};
        }
        std::size_t j = i + 1;
        for (; j < lines.size(); ++j) {
            std::string_view l = lines[j];
            l.remove_prefix(std::min(l.size(), l.find_first_not_of(" \t")));
            if (!l.starts_with(">>>") && !l.starts_with("<<<")) {
                break;
            }
            if (named_on(l) < out.size()) {
                return TranscriptOwner{};
            }
        }
        return TranscriptOwner{true, j < lines.size() ? named_on(lines[j]) : out.size()};
    };
    std::size_t owner = out.size();
    for (std::size_t i = 0; i < lines.size(); ++i) {
        if (std::size_t k = named_on(lines[i]); k < out.size()) {
            owner = k;
        } else if (TranscriptOwner t = transcript_owner(i); t.applies) {
            owner = t.owner;
        } else if (i + 1 < lines.size()) {
            std::size_t next = named_on(lines[i + 1]);
            if (next < out.size() && next != owner && names_domain_of(lines[i], next)) {
                owner = next;
            }
        }
        if (owner < out.size()) {
            out[owner].diagnostic.append(lines[i]).append("\n");
        }
    }
    // A lone recipient owns the whole text, including a reason written
    // above its address.
    for (TextFinding& f : out) {
        f.context = out.size() == 1 ? std::string(notification) : f.diagnostic;
    }
    return out;
}

}  // namespace carepost::bounce::detail
