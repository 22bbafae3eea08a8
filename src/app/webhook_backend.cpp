#include "app/webhook_backend.hpp"

#include "audit/audit.hpp"
#include "common/log.hpp"

namespace carepost::app {

std::vector<events::Endpoint> WebhookBackend::enabled_endpoints()
{
    std::vector<events::Endpoint> out;
    for (const auto& w : store_.webhooks("")) {
        if (!w.enabled) {
            continue;
        }
        auto secret = keys_.open_for_org(w.org_id, "webhook:" + w.id, w.sealed_secret);
        if (!secret) {
            log::error("events", "webhook_secret_unreadable", {{"endpoint_id", w.id}});
            continue;
        }
        out.push_back(
            {w.id,
             w.org_id,
             w.url,
             std::move(*secret),
             w.types,
             w.cursor_seq,
             w.attempts,
             w.failing_since,
             w.next_attempt_at});
    }
    return out;
}

std::vector<events::Event>
WebhookBackend::events_after(const std::string& org_id, std::int64_t after_seq, std::size_t limit)
{
    std::vector<events::Event> out;
    for (auto& e : store_.events_after(after_seq, org_id, limit)) {
        out.push_back(
            {e.seq,
             std::move(e.id),
             std::move(e.org_id),
             std::move(e.type),
             e.time,
             std::move(e.message_id),
             std::move(e.recipient_id),
             std::move(e.email),
             e.reply_code,
             std::move(e.enhanced),
             std::move(e.reason),
             std::move(e.bounce_class)});
    }
    return out;
}

void WebhookBackend::save_progress(const events::Endpoint& e)
{
    store::WebhookRow row;
    row.id = e.id;
    row.cursor_seq = e.cursor_seq;
    row.attempts = e.attempts;
    row.failing_since = e.failing_since;
    row.next_attempt_at = e.next_attempt_at;
    auto r = store_.write([&](store::Writer& w) -> Result<void> {
        w.save_webhook_progress(row);
        return {};
    });
    if (!r) {
        throw std::runtime_error("webhook progress not saved");
    }
}

void WebhookBackend::disable(const events::Endpoint& e, const std::string& reason)
{
    std::int64_t now = store::unix_now();
    auto r = store_.write([&](store::Writer& w) -> Result<void> {
        w.set_webhook_enabled(e.org_id, e.id, false, reason);
        store::EventRow event;
        event.org_id = e.org_id;
        event.type = "webhook.disabled";
        event.time = now;
        event.reason = reason;
        w.insert_event(event);
        audit::append(
            w, {"system", "webhook.disabled", e.org_id, "", "", e.id + " " + reason}, now);
        return {};
    });
    if (!r) {
        throw std::runtime_error("webhook not disabled");
    }
}

}  // namespace carepost::app
