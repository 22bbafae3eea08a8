#include <algorithm>
#include <array>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include "crypto/crypto.hpp"
#include "mime/body_builder.hpp"
#include "mime/header_writer.hpp"
#include "mime/mime.hpp"
#include "mime/utf8.hpp"

namespace carepost::mime {

namespace {

// RFC 5322 §2.1.1: the hard limit on a line, CRLF excluded.
constexpr std::size_t max_line_octets = 998;

// One header-bound value and the API path that names it in errors.
struct BoundValue {
    std::string field;
    std::string_view value;
};

std::vector<BoundValue> collect_header_values(const Message& m)
{
    std::vector<BoundValue> values{
        {"from.name", m.from.name},
        {"from.email", m.from.email},
        {"subject", m.subject},
        {"message_id", m.message_id},
    };
    const auto add_list = [&](const std::string& list, const std::vector<Mailbox>& boxes) {
        for (std::size_t i = 0; i < boxes.size(); ++i) {
            const auto at = list + "[" + std::to_string(i) + "]";
            values.push_back({at + ".name", boxes[i].name});
            values.push_back({at + ".email", boxes[i].email});
        }
    };
    add_list("to", m.to);
    add_list("cc", m.cc);
    if (m.reply_to) {
        values.push_back({"reply_to.name", m.reply_to->name});
        values.push_back({"reply_to.email", m.reply_to->email});
    }
    for (const auto& [name, value] : m.headers) {
        values.push_back({"headers", name});
        values.push_back({"headers." + name, value});
    }
    for (std::size_t i = 0; i < m.attachments.size(); ++i) {
        const auto at = "attachments[" + std::to_string(i) + "]";
        values.push_back({at + ".filename", m.attachments[i].filename});
        values.push_back({at + ".content_type", m.attachments[i].content_type});
    }
    return values;
}

// CWE-93: a CR or LF would end the header and start one of the caller's
// choosing; NUL truncates in C-string code downstream.
Result<void> check_header_values(const Message& m)
{
    for (const auto& [field, value] : collect_header_values(m)) {
        if (has_forbidden_header_octet(value)) {
            return Error::invalid("header_injection", field, "CR, LF or NUL in a header value");
        }
        if (!is_valid_utf8(value)) {
            return Error::invalid("invalid_utf8", field, "value is not valid UTF-8");
        }
    }
    if (!is_valid_utf8(m.text) || !is_valid_utf8(m.html)) {
        return Error::invalid(
            "invalid_utf8", m.text.empty() ? "html" : "text", "body is not UTF-8");
    }
    return {};
}

struct Addresses {
    std::vector<MailboxText> from, to, cc, reply_to;
    std::string from_domain;
    bool needs_smtputf8 = false;
};

Result<MailboxText> to_header_mailbox(const Mailbox& box, const std::string& field, Addresses& all)
{
    auto address = parse_address(box.email);
    if (!address) {
        auto e = address.error();
        e.field = field + ".email";
        return e;
    }
    // RFC 6532: a UTF-8 local part goes into the header raw, never encoded.
    all.needs_smtputf8 = all.needs_smtputf8 || !address->is_ascii_local;
    return MailboxText{box.name, envelope_form(*address)};
}

Result<Addresses> parse_addresses(const Message& m)
{
    Addresses all;
    auto from = to_header_mailbox(m.from, "from", all);
    if (!from) {
        return from.error();
    }
    all.from.push_back(*from);
    all.from_domain = from->addr_spec.substr(from->addr_spec.rfind('@') + 1);

    const auto add_list = [&](const std::vector<Mailbox>& boxes,
                              const std::string& list,
                              std::vector<MailboxText>& out) -> Result<void> {
        for (std::size_t i = 0; i < boxes.size(); ++i) {
            auto box = to_header_mailbox(boxes[i], list + "[" + std::to_string(i) + "]", all);
            if (!box) {
                return box.error();
            }
            out.push_back(std::move(*box));
        }
        return {};
    };
    if (auto r = add_list(m.to, "to", all.to); !r) {
        return r.error();
    }
    if (auto r = add_list(m.cc, "cc", all.cc); !r) {
        return r.error();
    }
    if (m.reply_to) {
        auto box = to_header_mailbox(*m.reply_to, "reply_to", all);
        if (!box) {
            return box.error();
        }
        all.reply_to.push_back(std::move(*box));
    }
    return all;
}

Result<std::string> write_custom_headers(const Message& m)
{
    std::string out;
    for (const auto& [name, value] : m.headers) {
        if (!is_allowed_custom_header(name)) {
            return Error::invalid("invalid_header", "headers." + name, "header is not allowed");
        }
        const bool is_extension = name.size() > 2 && (name[0] == 'X' || name[0] == 'x');
        if (is_extension) {
            out += write_unstructured(name, value);
            continue;
        }
        // The named headers are structured: encoded-words would change their meaning.
        auto field = write_plain(name, value);
        if (!field) {
            return Error::invalid("invalid_header", "headers." + name, "value must be ASCII text");
        }
        out += *field;
    }
    return out;
}

// msg-id as RFC 5322 §3.6.4 writes it: "<" left "@" right ">", printable, no spaces.
bool is_message_id(std::string_view id)
{
    if (id.size() < 5 || id.size() > 250 || id.front() != '<' || id.back() != '>' ||
        id.find('@') == std::string_view::npos) {
        return false;
    }
    return std::all_of(id.begin() + 1, id.end() - 1, [](char c) {
        return c > 0x20 && c < 0x7F && c != '<' && c != '>';
    });
}

// RFC 5322 §3.3 date-time in UTC, independent of the process locale.
std::string format_date(std::chrono::system_clock::time_point when)
{
    static constexpr std::array<const char*, 7> days{
        "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr std::array<const char*, 12> months{
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    const std::time_t t = std::chrono::system_clock::to_time_t(when);
    std::tm utc{};
    gmtime_r(&t, &utc);
    char buffer[64];
    std::snprintf(
        buffer,
        sizeof buffer,
        "%s, %02d %s %04d %02d:%02d:%02d +0000",
        days[utc.tm_wday],
        utc.tm_mday,
        months[utc.tm_mon],
        utc.tm_year + 1900,
        utc.tm_hour,
        utc.tm_min,
        utc.tm_sec);
    return buffer;
}

bool has_long_line(std::string_view bytes)
{
    for (std::size_t start = 0; start < bytes.size();) {
        auto end = bytes.find("\r\n", start);
        end = end == std::string_view::npos ? bytes.size() : end;
        if (end - start > max_line_octets) {
            return true;
        }
        start = end + 2;
    }
    return false;
}

Result<std::string> write_headers(const Message& m, const Addresses& a, const std::string& id)
{
    const auto when = m.date == std::chrono::system_clock::time_point{}
                          ? std::chrono::system_clock::now()
                          : m.date;
    std::string out = "Date: " + format_date(when) + "\r\n";
    out += write_mailboxes("From", a.from);
    if (!a.reply_to.empty()) {
        out += write_mailboxes("Reply-To", a.reply_to);
    }
    if (!a.to.empty()) {
        out += write_mailboxes("To", a.to);
    }
    if (!a.cc.empty()) {
        out += write_mailboxes("Cc", a.cc);
    }
    out += write_unstructured("Subject", m.subject);
    out += "Message-ID: " + id + "\r\n";
    auto custom = write_custom_headers(m);
    if (!custom) {
        return custom.error();
    }
    out += *custom;
    out += "MIME-Version: 1.0\r\n";
    return out;
}

}  // namespace

Result<Composed> compose(const Message& m)
{
    if (auto checked = check_header_values(m); !checked) {
        return checked.error();
    }
    if (m.text.empty() && m.html.empty()) {
        return Error::invalid("missing_body", "text", "text or html is required");
    }
    auto addresses = parse_addresses(m);
    if (!addresses) {
        return addresses.error();
    }
    if (!m.message_id.empty() && !is_message_id(m.message_id)) {
        return Error::invalid("invalid_header", "message_id", "message id must be <left@right>");
    }

    Composed out;
    out.message_id = m.message_id.empty()
                         ? "<" + crypto::random_hex(16) + "@" + addresses->from_domain + ">"
                         : m.message_id;
    out.needs_smtputf8 = addresses->needs_smtputf8;
    auto headers = write_headers(m, *addresses, out.message_id);
    if (!headers) {
        return headers.error();
    }
    auto body = build_body(m);
    if (!body) {
        return body.error();
    }
    out.bytes = std::move(*headers) + std::move(*body);

    // The encoders above keep every line short; a long line here is our bug.
    if (has_long_line(out.bytes)) {
        return Error::invalid("line_too_long", "", "a header value makes a line over 998 octets");
    }
    return out;
}

}  // namespace carepost::mime
