#include "app/bounce_intake.hpp"

#include <algorithm>

#include "audit/audit.hpp"
#include "bounce/bounce.hpp"
#include "common/log.hpp"
#include "mime/mime.hpp"

namespace carepost::app {
namespace {

std::string lower(std::string s)
{
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

// "msg_…" from a quoted Message-ID "<msg_…@domain>", or "".
std::string message_id_of(const std::string& header)
{
    auto start = header.find("msg_");
    if (start == std::string::npos) {
        return "";
    }
    auto end = header.find('@', start);
    return end == std::string::npos ? "" : header.substr(start, end - start);
}

int reply_code_of(const bounce::Record& r)
{
    return r.reply_code;
}

}  // namespace

Result<void> BounceIntake::handle(const inbound::Delivery& d)
{
    auto records = bounce::parse(d.data);
    std::int64_t now = store::unix_now();

    // The recipient ids the envelope names (VERP), in order.
    std::vector<std::string> verp_ids;
    for (const auto& rcpt : d.recipients) {
        if (auto id = inbound::parse_return_path(rcpt, domains_, key_)) {
            verp_ids.push_back(*id);
        }
    }

    struct Match {
        store::RecipientRow recipient;
        bounce::Record record;
    };
    std::vector<Match> matches;
    for (const auto& id : verp_ids) {
        auto row = store_.find_recipient(id);
        if (!row) {
            continue;
        }
        // The record about this address, else the first (some bounces name
        // the recipient by another form of its address, or not at all).
        auto it = std::find_if(records.begin(), records.end(), [&](const bounce::Record& r) {
            return lower(r.recipient) == lower(row->email);
        });
        if (it != records.end() || !records.empty()) {
            matches.push_back({*row, it != records.end() ? *it : records.front()});
        }
    }
    bool is_feedback_peer =
        std::find(feedback_peers_.begin(), feedback_peers_.end(), d.peer_address) !=
        feedback_peers_.end();
    if (verp_ids.empty() && is_feedback_peer) {
        // Sent to the plain feedback address by a configured feedback loop:
        // the quoted Message-ID names the message, the report the recipient.
        // Only complaints count here; a bounce must come back to its VERP
        // address (anyone can quote a Message-ID).
        for (const auto& r : records) {
            if (r.bounce_class != "complaint") {
                continue;
            }
            auto mid = message_id_of(r.original_message_id);
            auto row =
                mid.empty() ? std::nullopt : store_.find_recipient_by_email(mid, r.recipient);
            if (row) {
                matches.push_back({*row, r});
            }
        }
    }
    if (matches.empty()) {
        log::info(
            "bounces",
            "report_unmatched",
            {{"records", records.size()}, {"verp", verp_ids.size()}, {"peer", d.peer_address}});
        return {};
    }

    auto r = store_.write([&](store::Writer& w) -> Result<void> {
        for (const auto& m : matches) {
            const auto& rec = m.record;
            store::AttemptResult a;
            a.recipient_id = m.recipient.id;
            a.last_code = reply_code_of(rec);
            a.last_enhanced = rec.status;
            a.reason = rec.reason;
            a.bounce_class = rec.bounce_class;
            a.at = now;
            a.suppress_email = mime::canonical_mailbox(m.recipient.email);
            std::string status, type;
            if (rec.bounce_class == "complaint") {
                type = "complained";
                a.suppress_reason = "complaint";
                a.suppress_source = "arf";
            } else if (rec.bounce_class == "delay") {
                type = "deferred";
            } else if (
                rec.bounce_class == "hard" || rec.bounce_class == "soft" ||
                rec.bounce_class == "block") {
                type = "bounced";
                status = "bounced";
                if (rec.bounce_class == "hard") {
                    a.suppress_reason = "hard_bounce";
                    a.suppress_source = "dsn";
                }
            } else {
                continue;  // delivery reports, auto-replies: nothing to record
            }
            w.record_report(status, type, a);
            audit::append(
                w,
                {"bounces",
                 "recipient." + type,
                 m.recipient.org_id,
                 m.recipient.message_id,
                 m.recipient.email,
                 rec.status + " " + rec.bounce_class},
                now);
        }
        return {};
    });
    if (!r) {
        return r.error();  // 451: the sender keeps it and tries again
    }
    log::info("bounces", "report_recorded", {{"recipients", matches.size()}});
    if (on_event_) {
        on_event_();
    }
    return {};
}

}  // namespace carepost::app
