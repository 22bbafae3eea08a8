// Routes that recipients and their mail clients follow: the open pixel, the
// click redirect and one-click unsubscribe (RFC 8058). The token is the only
// credential; it is sealed, so it names nothing readable and cannot be made.
#include <algorithm>

#include "api/api.hpp"
#include "api/route_util.hpp"
#include "audit/audit.hpp"
#include "common/log.hpp"
#include "mime/mime.hpp"
#include "tracking/tracking.hpp"

namespace carepost::api {
namespace {

HttpResponse html_page(int status, std::string body)
{
    return {status, std::move(body), {{"Content-Type", "text/html; charset=utf-8"}}};
}

std::string lower(std::string_view s)
{
    std::string out(s);
    std::transform(
        out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

// RFC 8058 §3.1: the POST carries List-Unsubscribe=One-Click, as
// multipart/form-data (what the RFC prefers) or urlencoded.
bool is_one_click_request(std::string_view content_type, std::string_view body)
{
    std::string type = lower(content_type.substr(0, content_type.find(';')));
    while (!type.empty() && type.back() == ' ') {
        type.pop_back();
    }
    if (type == "application/x-www-form-urlencoded") {
        return tracking::is_one_click_body(body);
    }
    if (type != "multipart/form-data") {
        return false;
    }
    // The part named List-Unsubscribe, its value after the blank line.
    auto name = lower(body).find("name=\"list-unsubscribe\"");
    if (name == std::string::npos) {
        return false;
    }
    auto blank = body.find("\r\n\r\n", name);
    if (blank == std::string_view::npos) {
        return false;
    }
    auto value = body.substr(blank + 4);
    return value.substr(0, value.find("\r\n")) == "One-Click";
}

HttpResponse not_found_page()
{
    return html_page(404, "<!doctype html><title>Not found</title><p>This link is not valid.</p>");
}

}  // namespace

void Router::tracking_route(
    const HttpRequest& req, const std::vector<std::string>& parts, Done done)
{
    using tracking::Kind;
    Kind kind = parts[0] == "u" ? Kind::unsubscribe : parts[1] == "o" ? Kind::open : Kind::click;
    const std::string& token = parts.back();
    auto claims = tracking::open_token(token, kind, options_.tracking_key);

    // The pixel is answered whatever the token: a client learns nothing.
    if (kind == Kind::open) {
        HttpResponse pixel{
            200,
            std::string(tracking::pixel_gif()),
            {{"Content-Type", "image/gif"}, {"Cache-Control", "no-store, private"}}};
        if (!claims) {
            return done(std::move(pixel));
        }
    } else if (!claims) {
        return done(not_found_page());
    }

    // The recipient the token names must still exist, in the token's
    // organisation and message: nothing is said to succeed otherwise (C14).
    std::optional<store::RecipientRow> recipient;
    if (!claims->recipient_id.empty()) {
        recipient = store_.find_recipient(claims->recipient_id);
        if (!recipient || recipient->org_id != claims->org_id ||
            recipient->message_id != claims->message_id) {
            return kind == Kind::open ? done(HttpResponse{
                                            200,
                                            std::string(tracking::pixel_gif()),
                                            {{"Content-Type", "image/gif"}}})
                                      : done(not_found_page());
        }
    } else if (
        kind == Kind::unsubscribe || !store_.find_message(claims->org_id, claims->message_id)) {
        return kind == Kind::open
                   ? done(HttpResponse{
                         200, std::string(tracking::pixel_gif()), {{"Content-Type", "image/gif"}}})
                   : done(not_found_page());
    }

    store::EventRow event;
    event.org_id = claims->org_id;
    event.time = store::unix_now();
    event.message_id = claims->message_id;
    event.recipient_id = claims->recipient_id;
    event.email = recipient ? recipient->email : "";

    if (kind == Kind::open || kind == Kind::click) {
        event.type = kind == Kind::open ? "opened" : "clicked";
        store_.submit(
            [event](store::Writer& w) -> Result<void> {
                w.insert_event(event);
                return {};
            },
            [wake = options_.on_event](Result<void>) {
                if (wake) {
                    wake();
                }
            });
        if (kind == Kind::open) {
            return done(HttpResponse{
                200,
                std::string(tracking::pixel_gif()),
                {{"Content-Type", "image/gif"}, {"Cache-Control", "no-store, private"}}});
        }
        // The target comes only from the sealed token: never an open redirect,
        // and never a header with a line break in it.
        bool is_clean = std::none_of(claims->url.begin(), claims->url.end(), [](char c) {
            return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f;
        });
        if (!is_clean) {
            return done(not_found_page());
        }
        return done(
            HttpResponse{302, "", {{"Location", claims->url}, {"Content-Type", "text/plain"}}});
    }

    // Unsubscribe. GET (what link scanners do) changes nothing.
    if (req.method != "POST") {
        return done(html_page(200, tracking::unsubscribe_page(false)));
    }
    if (!is_one_click_request(req.content_type, req.body)) {
        return done(html_page(
            400,
            "<!doctype html><title>Bad request</title><p>Expected "
            "List-Unsubscribe=One-Click.</p>"));
    }
    store::SuppressionRow row{
        claims->org_id,
        mime::canonical_mailbox(recipient->email),
        claims->stream,
        "unsubscribe",
        "one-click",
        event.time};
    event.type = "unsubscribed";
    event.reason = "one-click";
    // Answered only once the opt-out is durable; a second POST finds it there.
    store_.submit(
        [row, event](store::Writer& w) -> Result<void> {
            if (w.add_suppression(row)) {
                w.insert_event(event);
                audit::append(
                    w,
                    {"recipient",
                     "recipient.unsubscribed",
                     row.org_id,
                     event.message_id,
                     row.email,
                     "stream " + row.stream},
                    row.created_at);
            }
            return {};
        },
        [done = std::move(done), wake = options_.on_event](Result<void> r) {
            if (!r) {
                return done(html_page(
                    503,
                    "<!doctype html><title>Try again</title><p>Please try "
                    "again in a moment.</p>"));
            }
            if (wake) {
                wake();
            }
            done(html_page(200, tracking::unsubscribe_page(true)));
        });
}

}  // namespace carepost::api
