// bounce: parse(), choosing a reader for each kind of returned message.
#include <algorithm>
#include <exception>

#include <boost/json.hpp>

#include "bounce/bounce.hpp"
#include "bounce/classifier.hpp"
#include "bounce/fields.hpp"
#include "bounce/message_walker.hpp"
#include "bounce/text_scanner.hpp"

namespace carepost::bounce {

namespace {

using detail::FieldBlock;
using detail::Part;
using detail::WalkedMessage;

// What the readers share, gathered once from the walked message.
struct Context {
    const WalkedMessage* message = nullptr;
    std::string full_text;              // all of the bounce's text parts, uncut
    std::string notification;           // the bounce's own words
    FieldBlock returned_headers;        // header block of the returned message
    std::vector<std::string> excluded;  // lower-case addresses that are not recipients
};

std::string strip_html(std::string_view html)
{
    std::string out;
    bool in_tag = false;
    for (char c : html) {
        if (c == '<') {
            in_tag = true;
        } else if (c == '>') {
            in_tag = false;
            out += ' ';
        } else if (!in_tag) {
            out += c;
        }
    }
    return out;
}

bool has_part(const WalkedMessage& m, std::string_view type)
{
    return std::any_of(m.parts.begin(), m.parts.end(), [&](const Part& p) {
        return !p.is_returned && p.content_type == type;
    });
}

void add_addresses(std::vector<std::string>& out, std::string_view value)
{
    for (const std::string& a : detail::find_addresses(value)) {
        out.push_back(detail::to_lower(a));
    }
}

Context gather(const WalkedMessage& m)
{
    Context ctx;
    ctx.message = &m;

    // The bounce's words: its own text parts, HTML only when no plain text.
    std::string text;
    std::string html;
    std::string returned_block;
    for (const Part& p : m.parts) {
        if (p.is_returned) {
            if (p.content_type == "message/rfc822" && returned_block.empty()) {
                returned_block = p.body;
            }
            continue;
        }
        if (p.content_type == "text/plain") {
            text += p.body + "\n";
        } else if (p.content_type == "text/html") {
            html += strip_html(p.body) + "\n";
        } else if (p.content_type == "text/rfc822-headers" && returned_block.empty()) {
            returned_block = p.body;
        }
    }
    if (text.empty()) {
        text = html;
    }
    ctx.full_text = text;
    detail::Notification n = detail::split_notification(text);
    ctx.notification = std::move(n.text);
    if (returned_block.empty()) {
        returned_block = std::move(n.returned_headers);
    }
    std::vector<FieldBlock> blocks = detail::parse_field_blocks(returned_block);
    if (!blocks.empty()) {
        ctx.returned_headers = std::move(blocks.front());
    }

    // Our own addresses (the bounce is addressed to the original sender)
    // are never the bounced recipient.
    for (std::string_view name : {"to", "from", "reply-to", "return-path"}) {
        add_addresses(ctx.excluded, detail::find_field(m.headers, name));
    }
    for (std::string_view name : {"from", "return-path", "sender", "reply-to", "errors-to"}) {
        add_addresses(ctx.excluded, detail::find_field(ctx.returned_headers, name));
    }
    return ctx;
}

std::string original_message_id(const Context& ctx)
{
    std::string id = detail::find_field(ctx.returned_headers, "message-id");
    return detail::collapse_space(id);
}

void fill_class(Record& r, const Classification& c)
{
    r.reason = c.reason;
    r.hard = c.hard;
    r.bounce_class = c.bounce_class;
}

// The notification lines that belong to `recipient`, or all of them.
std::string text_about(const Context& ctx, const std::string& recipient)
{
    for (const detail::TextFinding& f : detail::find_recipients(ctx.notification, {})) {
        if (detail::to_lower(f.recipient) == detail::to_lower(recipient)) {
            return f.context;
        }
    }
    return ctx.notification;
}

// Classifies from the most specific text first, falling back to the wider
// notification when the narrow text names no reason.
void classify_record(Record& r, std::string_view narrow, std::string_view wide)
{
    Classification c = detail::classify_with_action(r.reply_code, r.status, narrow, r.action, wide);
    if (c.reason == "onhold" && !wide.empty()) {
        c = detail::classify_with_action(r.reply_code, r.status, wide, r.action, wide);
    }
    fill_class(r, c);
}

// RFC 3464 §2.1 separates recipients by blank lines; some MTAs omit them,
// so a repeated Final-Recipient also opens a new recipient (taking along an
// Original-Recipient written just before it).
std::vector<FieldBlock> split_recipient_blocks(std::string_view body)
{
    std::vector<FieldBlock> out;
    for (FieldBlock& block : detail::parse_field_blocks(body)) {
        FieldBlock current;
        bool has_final = false;
        for (detail::Field& f : block) {
            if (f.name == "final-recipient" && has_final) {
                detail::Field carried;
                bool carry = !current.empty() && current.back().name == "original-recipient";
                if (carry) {
                    carried = std::move(current.back());
                    current.pop_back();
                }
                out.push_back(std::move(current));
                current.clear();
                if (carry) {
                    current.push_back(std::move(carried));
                }
            }
            has_final = has_final || f.name == "final-recipient";
            current.push_back(std::move(f));
        }
        out.push_back(std::move(current));
    }
    return out;
}

// RFC 3464 §2.1: the per-message block comes first, then one block per
// recipient.
std::vector<Record> read_dsn_blocks(const Context& ctx, std::string_view body)
{
    std::vector<Record> out;
    for (const FieldBlock& block : split_recipient_blocks(body)) {
        std::string recipient =
            detail::strip_address_type(detail::find_field(block, "final-recipient"));
        if (recipient.find('@') == std::string::npos) {
            std::string original =
                detail::strip_address_type(detail::find_field(block, "original-recipient"));
            if (original.find('@') != std::string::npos || recipient.empty()) {
                recipient = original;
            }
        }
        if (recipient.empty()) {
            continue;
        }
        if (recipient.find('@') == std::string::npos) {
            // A local delivery (file or pipe) names no address; Exim lists it.
            std::vector<std::string> failed = detail::find_addresses(
                detail::find_field(ctx.message->headers, "x-failed-recipients"));
            if (failed.size() == 1) {
                recipient = failed.front();
            }
        }
        Record r;
        r.recipient = recipient;
        std::string action = detail::to_lower(detail::find_field(block, "action"));
        r.action = action.substr(0, action.find_first_of(" (;"));
        std::string diagnostic = detail::find_field(block, "diagnostic-code");
        if (std::size_t semi = diagnostic.find(';'); semi != std::string::npos && semi < 20) {
            diagnostic.erase(0, semi + 1);
        }
        r.diagnostic = detail::collapse_space(diagnostic);
        std::string status_field = detail::find_field(block, "status");
        r.status = detail::find_enhanced_status(status_field);
        // Sendmail explains a bare Status in a comment: "4.0.0 (host name
        // lookup failure)"; with no diagnostic that is the only text.
        if (r.diagnostic.empty() && status_field.find('(') != std::string::npos) {
            r.diagnostic = detail::collapse_space(status_field.substr(status_field.find('(')));
        }
        r.reply_code = detail::find_reply_code(r.diagnostic);

        // The remote server's own code (in the diagnostic) is more exact
        // than the reporting MTA's summary in Status:; without a diagnostic
        // the notification text about this recipient stands in for it.
        std::string about = r.diagnostic.empty() ? text_about(ctx, recipient) : r.diagnostic;
        std::string about_status = detail::find_enhanced_status(about);
        if (!about_status.empty() && (r.status.empty() || about_status[0] == r.status[0])) {
            r.status = about_status;
        }
        if (r.reply_code == 0 && r.diagnostic.empty()) {
            r.reply_code = detail::find_reply_code(about);
        }
        classify_record(r, about, text_about(ctx, recipient));
        out.push_back(std::move(r));
    }
    return out;
}

std::vector<Record> read_dsn(const Context& ctx, bool include_returned = false)
{
    std::vector<Record> out;
    for (const Part& p : ctx.message->parts) {
        if ((p.is_returned && !include_returned) ||
            (p.content_type != "message/delivery-status" &&
             p.content_type != "message/global-delivery-status")) {
            continue;
        }
        for (Record& r : read_dsn_blocks(ctx, p.body)) {
            out.push_back(std::move(r));
        }
    }
    return out;
}

// RFC 5965 §3.1-3.2: the recipient a complaint is about is the original
// recipient, else the To of the returned message.
std::vector<Record> read_arf(const Context& ctx, const FieldBlock& report)
{
    Record base;
    base.feedback_type = detail::to_lower(detail::find_field(report, "feedback-type"));
    base.reason = "feedback";
    base.bounce_class = "complaint";
    base.diagnostic = detail::collapse_space(ctx.notification).substr(0, 512);

    std::vector<std::string> recipients;
    for (const detail::Field& f : report) {
        if (f.name == "original-rcpt-to" || f.name == "removal-recipient") {
            std::string a = detail::strip_address_type(f.value);
            if (a.find('@') != std::string::npos) {
                recipients.push_back(a);
            }
        }
    }
    for (std::string_view name : {"x-hmxmroriginalrecipient", "to"}) {
        if (recipients.empty()) {
            std::vector<std::string> found =
                detail::find_addresses(detail::find_field(ctx.returned_headers, name));
            if (!found.empty()) {
                recipients.push_back(found.front());
            }
        }
    }
    if (recipients.empty()) {
        recipients.emplace_back();
    }

    std::vector<Record> out;
    for (std::string& a : recipients) {
        Record r = base;
        r.recipient = std::move(a);
        out.push_back(std::move(r));
    }
    return out;
}

bool header_contains(const FieldBlock& headers, std::string_view name, std::string_view needle)
{
    return detail::to_lower(detail::find_field(headers, name)).find(needle) != std::string::npos;
}

// A complaint without a feedback-report part: a provider's own format.
bool is_plain_complaint(const Context& ctx)
{
    const FieldBlock& h = ctx.message->headers;
    return header_contains(h, "subject", "complaint about message") ||
           !detail::find_field(ctx.returned_headers, "x-hmxmroriginalrecipient").empty();
}

bool looks_like_bounce(const Context& ctx)
{
    const FieldBlock& h = ctx.message->headers;
    std::string from = detail::to_lower(detail::find_field(h, "from"));
    static constexpr std::string_view kSenders[] = {
        "mailer-daemon",
        "postmaster",
        "mail delivery",
        "mail-daemon",
        "mailer_daemon",
        "maildaemon",
        "mdaemon",
        "<>",
        "bounce",
        "mail administrator",
        "mail system",
        "dsn",
        "post_master",
    };
    for (std::string_view s : kSenders) {
        if (from.find(s) != std::string::npos) {
            return true;
        }
    }
    std::string subject = detail::to_lower(detail::find_field(h, "subject"));
    static constexpr std::string_view kSubjects[] = {
        "undeliver",      "delivery status",     "failure notice",
        "returned mail",  "delivery fail",       "could not be delivered",
        "not delivered",  "returned to sender",  "delivery notification",
        "nondeliverable", "non-deliverable",     "delivery problem",
        "mail delivery",  "delivery error",      "warning: could not send",
        "delayed mail",   "error sending",       "failed delivery",
        "rejected",       "delivery has failed", "message not",
        "undelivered",    "non remis",           "unzustellbar",
        "notification",
    };
    for (std::string_view s : kSubjects) {
        if (subject.find(s) != std::string::npos) {
            return true;
        }
    }
    if (!detail::find_field(h, "x-failed-recipients").empty() ||
        header_contains(h, "content-type", "multipart/report")) {
        return true;
    }
    std::string text = detail::to_lower(detail::collapse_space(ctx.notification));
    static constexpr std::string_view kWords[] = {
        "could not be delivered",
        "couldn't be delivered",
        "undeliverable",
        "permanent error",
        "delivery to the following",
        "could not deliver",
        "was not delivered",
        "delivery has failed",
        "unable to deliver",
    };
    return std::any_of(std::begin(kWords), std::end(kWords), [&](std::string_view w) {
        return text.find(w) != std::string::npos;
    });
}

bool is_auto_reply(const Context& ctx)
{
    const FieldBlock& h = ctx.message->headers;
    std::string auto_submitted = detail::to_lower(detail::find_field(h, "auto-submitted"));
    if (auto_submitted.starts_with("auto-replied")) {
        return true;
    }
    if (!detail::find_field(h, "x-autoreply").empty() ||
        !detail::find_field(h, "x-autorespond").empty() ||
        header_contains(h, "precedence", "auto_reply")) {
        return true;
    }
    std::string subject = detail::to_lower(detail::find_field(h, "subject"));
    static constexpr std::string_view kSubjects[] = {
        "auto reply",
        "automatic reply",
        "auto:",
        "autoreply",
        "out of office",
        "out of the office",
        "vacation",
        "away from",
        "abwesenheit",
        "absence",
    };
    return std::any_of(std::begin(kSubjects), std::end(kSubjects), [&](std::string_view s) {
        return subject.find(s) != std::string::npos;
    });
}

std::vector<Record> read_auto_reply(const Context& ctx)
{
    std::vector<std::string> from =
        detail::find_addresses(detail::find_field(ctx.message->headers, "from"));
    if (from.empty()) {
        return {};
    }
    Record r;
    r.recipient = from.front();
    r.reason = "vacation";
    r.bounce_class = "none";
    r.diagnostic = detail::collapse_space(ctx.notification).substr(0, 512);
    return {r};
}

bool is_delay_notice(const Context& ctx)
{
    std::string subject = detail::to_lower(detail::find_field(ctx.message->headers, "subject"));
    std::string text = detail::to_lower(ctx.notification);
    return subject.find("delay") != std::string::npos ||
           subject.find("warning") != std::string::npos ||
           text.find("will continue to try") != std::string::npos ||
           text.find("still trying") != std::string::npos ||
           text.find("has not yet been delivered") != std::string::npos ||
           text.find("will be retried") != std::string::npos;
}

std::vector<Record> read_text_bounce(const Context& ctx)
{
    std::vector<detail::TextFinding> findings =
        detail::find_recipients(ctx.notification, ctx.excluded);

    // Exim names the failed recipients in a header; other addresses in its
    // text (aliases, pipes, the sender) are not recipients then.
    std::vector<std::string> listed_failed =
        detail::find_addresses(detail::find_field(ctx.message->headers, "x-failed-recipients"));
    if (!listed_failed.empty() && !findings.empty()) {
        std::vector<detail::TextFinding> kept;
        for (detail::TextFinding& f : findings) {
            for (const std::string& a : listed_failed) {
                if (detail::to_lower(a) == detail::to_lower(f.recipient)) {
                    kept.push_back(std::move(f));
                    break;
                }
            }
        }
        if (!kept.empty()) {
            findings = std::move(kept);
        }
    }
    if (findings.empty()) {
        std::string listed = detail::find_field(ctx.message->headers, "x-failed-recipients");
        if (listed.empty()) {
            listed = detail::find_field(ctx.returned_headers, "to");
        }
        for (const std::string& a : detail::find_addresses(listed)) {
            findings.push_back({a, ctx.notification, ctx.notification});
        }
    }

    std::vector<Record> out;
    std::string action = is_delay_notice(ctx) ? "delayed" : "failed";
    for (detail::TextFinding& f : findings) {
        Record r;
        r.recipient = std::move(f.recipient);
        r.action = action;
        r.status = detail::find_enhanced_status(f.diagnostic);
        if (r.status.empty()) {
            r.status = detail::find_enhanced_status(ctx.notification);
        }
        r.reply_code = detail::find_reply_code(f.diagnostic);
        if (r.reply_code == 0) {
            r.reply_code = detail::find_reply_code(ctx.notification);
        }
        r.diagnostic = detail::collapse_space(f.diagnostic).substr(0, 1024);
        classify_record(r, f.context, ctx.notification);
        out.push_back(std::move(r));
    }
    return out;
}

// Amazon SES event notifications (bounce, complaint, delivery) arrive as
// JSON, on their own or inside an SNS envelope whose "Message" is a string.
boost::json::object parse_ses_json(std::string_view text)
{
    std::size_t open = text.find('{');
    std::size_t close = text.rfind('}');
    if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
        return {};
    }
    // Mail transport may have folded long lines: a line break followed by
    // one space was inserted, not part of the JSON.
    std::string json;
    std::string_view body = text.substr(open, close - open + 1);
    for (std::size_t i = 0; i < body.size(); ++i) {
        if (body[i] == '\r') {
            continue;
        }
        if (body[i] == '\n' && i + 1 < body.size() && body[i + 1] == ' ') {
            ++i;
            continue;
        }
        json += body[i];
    }
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(json, ec);
    if (ec || !v.is_object()) {
        return {};
    }
    boost::json::object o = v.as_object();
    if (const boost::json::value* m = o.if_contains("Message"); m && m->is_string()) {
        boost::json::value inner = boost::json::parse(m->as_string(), ec);
        if (!ec && inner.is_object()) {
            return inner.as_object();
        }
    }
    return o;
}

std::string json_string(const boost::json::object& o, std::string_view key)
{
    const boost::json::value* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

const boost::json::array*
json_array(const boost::json::object& o, std::string_view a, std::string_view b)
{
    const boost::json::value* outer = o.if_contains(a);
    if (!outer || !outer->is_object()) {
        return nullptr;
    }
    const boost::json::value* inner = outer->as_object().if_contains(b);
    return inner && inner->is_array() ? &inner->as_array() : nullptr;
}

std::vector<Record> read_ses_json(const Context& ctx)
{
    boost::json::object o = parse_ses_json(ctx.full_text);
    std::string type = detail::to_lower(json_string(o, "notificationType"));
    std::vector<Record> out;
    auto each = [&](const boost::json::array* list, auto&& fill) {
        for (const boost::json::value& v : list ? *list : boost::json::array{}) {
            Record r;
            if (v.is_object()) {
                fill(r, v.as_object());
            } else if (v.is_string()) {
                r.recipient = std::string(v.as_string());
                fill(r, boost::json::object{});
            }
            if (!r.recipient.empty()) {
                out.push_back(std::move(r));
            }
        }
    };
    if (type == "bounce") {
        each(
            json_array(o, "bounce", "bouncedRecipients"),
            [](Record& r, const boost::json::object& e) {
                r.recipient = json_string(e, "emailAddress");
                r.action = detail::to_lower(json_string(e, "action"));
                r.status = detail::find_enhanced_status(json_string(e, "status"));
                std::string diagnostic = json_string(e, "diagnosticCode");
                if (std::size_t semi = diagnostic.find(';');
                    semi != std::string::npos && semi < 20) {
                    diagnostic.erase(0, semi + 1);
                }
                r.diagnostic = detail::collapse_space(diagnostic);
                r.reply_code = detail::find_reply_code(r.diagnostic);
                classify_record(r, r.diagnostic, r.diagnostic);
            });
    } else if (type == "complaint") {
        std::string feedback;
        if (const boost::json::value* c = o.if_contains("complaint"); c && c->is_object()) {
            feedback = json_string(c->as_object(), "complaintFeedbackType");
        }
        each(
            json_array(o, "complaint", "complainedRecipients"),
            [&](Record& r, const boost::json::object& e) {
                r.recipient = json_string(e, "emailAddress");
                r.reason = "feedback";
                r.bounce_class = "complaint";
                r.feedback_type = feedback.empty() ? "abuse" : detail::to_lower(feedback);
            });
    } else if (type == "delivery") {
        std::string response;
        if (const boost::json::value* d = o.if_contains("delivery"); d && d->is_object()) {
            response = json_string(d->as_object(), "smtpResponse");
        }
        each(json_array(o, "delivery", "recipients"), [&](Record& r, const boost::json::object&) {
            r.action = "delivered";
            r.status = detail::find_enhanced_status(response);
            r.reply_code = detail::find_reply_code(response);
            r.diagnostic = detail::collapse_space(response);
            r.reason = "delivered";
            r.bounce_class = "none";
        });
    }
    return out;
}

// A bounce written by a mail filter product (it names itself in X-Mailer,
// or stamps its own tracking header) refuses on behalf of its filter rules:
// its "no such user" without a code naming the address is a filter's
// verdict, not proof that the mailbox is missing.
bool written_by_content_filter(const FieldBlock& headers)
{
    if (header_contains(headers, "x-mailer", "filter")) {
        return true;
    }
    return std::any_of(headers.begin(), headers.end(), [](const detail::Field& f) {
        return f.name == "x-ahmailid";
    });
}

// A status that names the address itself: X.1.x or X.2.1 (C09).
bool names_the_address(std::string_view status)
{
    return status.size() >= 5 && (status.substr(1, 3) == ".1." || status.substr(1) == ".2.1");
}

void apply_writer_rules(const Context& ctx, std::vector<Record>& records)
{
    if (!written_by_content_filter(ctx.message->headers)) {
        return;
    }
    for (Record& r : records) {
        if (r.reason == "userunknown" && !names_the_address(r.status)) {
            r.reason = "filtered";
            r.hard = false;
            r.bounce_class = "soft";
        }
    }
}

std::vector<Record> read_any(const Context& ctx)
{
    const WalkedMessage& m = *ctx.message;
    for (const Part& p : m.parts) {
        if (!p.is_returned && p.content_type == "message/feedback-report") {
            std::vector<FieldBlock> blocks = detail::parse_field_blocks(p.body);
            return read_arf(ctx, blocks.empty() ? FieldBlock{} : blocks.front());
        }
    }
    if (has_part(m, "message/delivery-status") || has_part(m, "message/global-delivery-status")) {
        std::vector<Record> records = read_dsn(ctx);
        if (!records.empty()) {
            return records;
        }
    }
    // Inside an SNS envelope the notification is a JSON string, so its
    // quotes arrive escaped.
    if (ctx.full_text.find("\"notificationType\"") != std::string::npos ||
        ctx.full_text.find("\\\"notificationType\\\"") != std::string::npos) {
        std::vector<Record> records = read_ses_json(ctx);
        if (!records.empty()) {
            return records;
        }
    }
    if (is_plain_complaint(ctx)) {
        return read_arf(ctx, {{"feedback-type", "abuse"}});
    }
    if (header_contains(m.headers, "x-apple-unsubscribe", "true")) {
        std::vector<Record> r = read_auto_reply(ctx);
        for (Record& rec : r) {
            rec.reason = "feedback";
            rec.feedback_type = "opt-out";
            rec.bounce_class = "complaint";
        }
        return r;
    }
    if (looks_like_bounce(ctx)) {
        // Some MTAs write RFC 3464 fields into the text itself.
        std::vector<Record> records = read_dsn_blocks(ctx, ctx.full_text);
        if (!records.empty()) {
            return records;
        }
        // A gateway that names no recipient itself may forward the bounce
        // it got; the DSN inside is then the only account of the failure.
        if (detail::find_recipients(ctx.notification, ctx.excluded).empty()) {
            records = read_dsn(ctx, true);
            if (!records.empty()) {
                return records;
            }
        }
        return read_text_bounce(ctx);
    }
    if (is_auto_reply(ctx)) {
        return read_auto_reply(ctx);
    }
    return {};
}

}  // namespace

namespace {

// An mbox "From " separator line: "From sender  Thu Jul  2 12:05:05 2020".
bool is_mbox_separator(std::string_view line)
{
    if (!line.starts_with("From ")) {
        return false;
    }
    static constexpr std::string_view kDays[] = {
        " Mon ", " Tue ", " Wed ", " Thu ", " Fri ", " Sat ", " Sun "};
    return std::any_of(std::begin(kDays), std::end(kDays), [&](std::string_view d) {
        return line.find(d) != std::string_view::npos;
    });
}

// A saved mailbox holding several bounces, each opened by a separator line
// directly followed by a header field; one piece otherwise. Only a text
// that itself starts with a separator is taken for a mailbox.
std::vector<std::string_view> split_mailbox(std::string_view raw)
{
    std::vector<std::string_view> pieces;
    if (!is_mbox_separator(raw.substr(0, raw.find('\n')))) {
        pieces.push_back(raw);
        return pieces;
    }
    std::size_t start = 0;
    for (std::size_t at = raw.find("\nFrom "); at != std::string_view::npos;
         at = raw.find("\nFrom ", at + 1)) {
        std::size_t line_end = raw.find('\n', at + 1);
        if (line_end == std::string_view::npos) {
            break;
        }
        std::string_view line = raw.substr(at + 1, line_end - at - 1);
        std::string_view next = raw.substr(line_end + 1, 80);
        std::size_t colon = next.find(':');
        bool header_follows =
            colon != std::string_view::npos && colon > 0 &&
            next.substr(0, colon).find_first_of(" \t\n") == std::string_view::npos;
        if (is_mbox_separator(line) && header_follows) {
            pieces.push_back(raw.substr(start, at + 1 - start));
            start = at + 1;
        }
    }
    pieces.push_back(raw.substr(start));
    return pieces;
}

}  // namespace

std::vector<Record> parse(std::string_view raw_message)
{
    raw_message = raw_message.substr(0, std::min(raw_message.size(), kMaxMessageOctets));

    // Exceptions stay inside the component: a message that breaks a reader
    // (a bug, or memory exhaustion) is reported as no bounce.
    try {
        std::vector<Record> all;
        for (std::string_view piece : split_mailbox(raw_message)) {
            WalkedMessage m = detail::walk_message(piece);
            Context ctx = gather(m);
            std::vector<Record> records = read_any(ctx);
            apply_writer_rules(ctx, records);
            std::string id = original_message_id(ctx);
            for (Record& r : records) {
                r.original_message_id = id;
                all.push_back(std::move(r));
            }
        }
        return all;
    } catch (const std::exception&) {
        return {};
    }
}

}  // namespace carepost::bounce
