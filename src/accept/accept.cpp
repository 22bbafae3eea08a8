#include "accept/accept.hpp"

#include <algorithm>
#include <set>

#include <boost/json.hpp>

#include "audit/audit.hpp"
#include "common/log.hpp"
#include "crypto/crypto.hpp"
#include "templates/templates.hpp"
#include "tracking/tracking.hpp"

namespace carepost::accept {
namespace {

Error invalid(std::string code, std::string field, std::string text)
{
    return Error::invalid(std::move(code), std::move(field), std::move(text));
}

std::string lower(std::string s)
{
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

// Every header-bound text: CR, LF or NUL would start a new header (C07).
Result<void> check_mailbox(const mime::Mailbox& m, const std::string& path)
{
    if (mime::has_forbidden_header_octet(m.name)) {
        return invalid("header_injection", path + ".name", "line breaks are not allowed here");
    }
    if (mime::has_forbidden_header_octet(m.email)) {
        return invalid("header_injection", path + ".email", "line breaks are not allowed here");
    }
    auto parsed = mime::parse_address(m.email);
    if (!parsed) {
        return invalid("invalid_address", path + ".email", "not a valid email address");
    }
    return {};
}

struct Envelope {
    std::string mail_from;
    std::string sign_domain;
    std::vector<std::pair<std::string, std::string>> recipients;  // envelope form, kind
};

Result<Envelope> validate(const SendRequest& r, const Limits& limits)
{
    Envelope env;
    if (auto c = check_mailbox(r.from, "from"); !c) {
        return c.error();
    }
    auto from = mime::parse_address(r.from.email);
    env.mail_from = mime::envelope_form(*from);
    env.sign_domain = lower(from->ascii_domain);
    if (r.reply_to) {
        if (auto c = check_mailbox(*r.reply_to, "reply_to"); !c) {
            return c.error();
        }
    }

    // Recipients: validated one by one, deduplicated by envelope address so
    // nobody gets the same message twice.
    std::set<std::string> seen;
    auto add = [&](const std::vector<mime::Mailbox>& list, const char* kind) -> Result<void> {
        for (std::size_t i = 0; i < list.size(); ++i) {
            std::string path = std::string(kind) + "[" + std::to_string(i) + "]";
            if (auto c = check_mailbox(list[i], path); !c) {
                return c.error();
            }
            auto a = mime::parse_address(list[i].email);
            // Address literals would let any key make us connect to an
            // arbitrary host, internal ones included.
            if (a->ascii_domain.starts_with('[')) {
                return invalid(
                    "recipient_not_allowed",
                    path + ".email",
                    "address literals are not accepted as recipients");
            }
            std::string envelope = mime::envelope_form(*a);
            if (seen.insert(lower(envelope)).second) {
                env.recipients.emplace_back(envelope, kind);
            }
        }
        return {};
    };
    for (auto [list, kind] : {std::pair{&r.to, "to"}, {&r.cc, "cc"}, {&r.bcc, "bcc"}}) {
        if (auto c = add(*list, kind); !c) {
            return c.error();
        }
    }
    if (env.recipients.empty()) {
        return invalid("missing_field", "to", "at least one recipient is required");
    }
    if (env.recipients.size() > limits.max_recipients) {
        return invalid("too_many_recipients", "to", "too many recipients");
    }

    if (mime::has_forbidden_header_octet(r.subject)) {
        return invalid("header_injection", "subject", "line breaks are not allowed here");
    }
    for (const auto& [name, value] : r.headers) {
        std::string path = "headers." + name;
        if (mime::has_forbidden_header_octet(name)) {
            return invalid("header_injection", "headers", "line breaks are not allowed in names");
        }
        if (!mime::is_allowed_custom_header(name)) {
            return invalid("header_not_allowed", path, "this header cannot be set");
        }
        if (mime::has_forbidden_header_octet(value)) {
            return invalid("header_injection", path, "line breaks are not allowed here");
        }
    }
    return env;
}

bool is_ascii(std::string_view s)
{
    return std::all_of(
        s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

std::string address_domain(const std::string& envelope)
{
    return lower(envelope.substr(envelope.rfind('@') + 1));
}

}  // namespace

Pipeline::Pipeline(store::Store& store, crypto::KeyRing& keys, Limits limits)
    : store_(store), keys_(keys), limits_(limits)
{}

Result<void> Pipeline::render_templates(const auth::Principal& principal, SendRequest& r)
{
    std::optional<TemplateSource> source = r.inline_template;
    if (r.template_id) {
        auto row = store_.find_template(principal.org_id, *r.template_id, r.template_version);
        if (!row) {
            return invalid("template_not_found", "template_id", "no such template");
        }
        source = TemplateSource{row->subject, row->text, row->html};
    }
    if (!source) {
        return {};
    }
    // Templates may place the unsubscribe link; the placeholder survives
    // rendering and is replaced once the URL exists.
    if (r.template_data.is_null()) {
        r.template_data = boost::json::object{};
    }
    if (auto* data = r.template_data.if_object();
        data && !data->contains("carepost_unsubscribe_url")) {
        (*data)["carepost_unsubscribe_url"] = tracking::unsubscribe_placeholder;
    }
    // Subject and text are plain text; only the HTML part is HTML-escaped (C13).
    auto limit = limits_.max_message_octets;
    auto subject =
        templates::render(source->subject, r.template_data, templates::Escape::none, {}, limit);
    auto text =
        templates::render(source->text, r.template_data, templates::Escape::none, {}, limit);
    auto html =
        templates::render(source->html, r.template_data, templates::Escape::html, {}, limit);
    for (const auto* part : {&subject, &text, &html}) {
        if (!*part && part->error().code == "template_too_large") {
            return invalid("message_too_large", "template", "the rendered message is too large");
        }
    }
    if (!subject || !text || !html) {
        return invalid("template_render", "template", "the template could not be rendered");
    }
    if (!source->subject.empty()) {
        r.subject = *subject;
    }
    if (!source->text.empty()) {
        r.text = *text;
    }
    if (!source->html.empty()) {
        r.html = *html;
    }
    if (mime::has_forbidden_header_octet(r.subject)) {
        return invalid(
            "header_injection", "template.subject", "the rendered subject has a line break");
    }
    return {};
}

Result<void> Pipeline::add_tracking(
    const auth::Principal& principal,
    const SendRequest& r,
    const std::string& message_id,
    const std::vector<std::string>& recipient_ids,
    mime::Message& m)
{
    bool is_single = recipient_ids.size() == 1;
    // Tracking asked for by the message, or set for its stream by the
    // organisation (looked up only for streams other than transactional).
    std::optional<store::OrgRow> org;
    bool is_stream_tracked = false;
    if ((!r.track_opens || !r.track_clicks) && r.stream != "transactional") {
        org = store_.find_org(principal.org_id);
        is_stream_tracked =
            org && std::find(org->tracked_streams.begin(), org->tracked_streams.end(), r.stream) !=
                       org->tracked_streams.end();
    }
    bool track_opens = r.track_opens.value_or(is_stream_tracked);
    bool track_clicks = r.track_clicks.value_or(is_stream_tracked);
    bool is_asked = r.track_opens.value_or(false) || r.track_clicks.value_or(false);
    bool wants_tracking = track_opens || track_clicks;
    // Streams other than transactional get List-Unsubscribe by default
    // when the message has one recipient (the header names one address).
    bool wants_unsubscribe = r.list_unsubscribe.value_or(r.stream != "transactional" && is_single);
    if (!wants_tracking && !wants_unsubscribe) {
        return {};
    }
    if (tracking_.base_url.empty()) {
        if (is_asked || r.list_unsubscribe.value_or(false)) {
            return invalid(
                "tracking_not_configured", "", "set tracking.base_url to track or unsubscribe");
        }
        return {};
    }
    if (wants_tracking && r.contains_phi) {
        if (!org) {
            org = store_.find_org(principal.org_id);
        }
        // PHI is never tracked unless the organisation allows it: refused
        // when the message asked, left untracked when its stream did.
        if ((!org || !org->track_phi) && !is_asked) {
            track_opens = track_clicks = wants_tracking = false;
        } else if (!org || !org->track_phi) {
            return invalid(
                "tracking_not_allowed",
                "phi",
                "messages carrying PHI are not tracked unless the organisation allows it; "
                "send \"phi\": false for mail without PHI");
        }
    }
    if (wants_unsubscribe && !is_single) {
        return invalid(
            "one_recipient_required",
            "to",
            "List-Unsubscribe names one recipient: send one message per recipient");
    }

    std::string recipient_id = is_single ? recipient_ids[0] : "";
    auto token = [&](tracking::Kind kind, std::string url) {
        return tracking::make_token(
            {kind, message_id, recipient_id, principal.org_id, r.stream, std::move(url)},
            tracking_.key);
    };
    std::string unsubscribe_url;
    if (wants_unsubscribe) {
        unsubscribe_url = tracking_.base_url + "/u/" + token(tracking::Kind::unsubscribe, "");
        std::erase_if(m.headers, [](const auto& h) {
            return lower(h.first) == "list-unsubscribe" ||
                   lower(h.first) == "list-unsubscribe-post";
        });
        m.headers.emplace_back(
            "List-Unsubscribe",
            tracking::list_unsubscribe_value(unsubscribe_url, tracking_.unsubscribe_mailto));
        m.headers.emplace_back("List-Unsubscribe-Post", "List-Unsubscribe=One-Click");
        for (std::size_t at;
             (at = m.text.find(tracking::unsubscribe_placeholder)) != std::string::npos;) {
            m.text.replace(at, tracking::unsubscribe_placeholder.size(), unsubscribe_url);
        }
    }
    if (!m.html.empty()) {
        tracking::RewriteOptions o{tracking_.base_url, track_opens, track_clicks, unsubscribe_url};
        auto rewritten = tracking::rewrite_html(
            m.html,
            o,
            [&](const std::string& target) { return token(tracking::Kind::click, target); },
            track_opens ? token(tracking::Kind::open, "") : "");
        m.html = std::move(rewritten.html);
    }
    return {};
}

void Pipeline::accept(
    const auth::Principal& principal,
    SendRequest request,
    std::optional<Idempotency> idempotency,
    std::function<void(Result<Response>)> done,
    Admit admit)
{
    auto rendered = render_templates(principal, request);
    if (!rendered) {
        return done(rendered.error());
    }
    if (request.text.empty() && request.html.empty()) {
        return done(invalid("missing_field", "text", "text or html (or a template) is required"));
    }
    auto env = validate(request, limits_);
    if (!env) {
        return done(env.error());
    }
    if (!store_.find_domain(principal.org_id, env->sign_domain)) {
        return done(invalid(
            "sender_domain_unknown",
            "from.email",
            "the sender's domain is not set up for this organisation (carepost domain add)"));
    }
    if (admit) {
        std::vector<GateRecipient> gate_recipients;
        for (const auto& [email, kind] : env->recipients) {
            gate_recipients.push_back({address_domain(email), kind, email});
        }
        if (auto admitted = admit(gate_recipients); !admitted) {
            return done(admitted.error());
        }
    }

    mime::Message m;
    m.from = request.from;
    m.to = request.to;
    m.cc = request.cc;
    m.reply_to = request.reply_to;
    m.subject = request.subject;
    m.text = request.text;
    m.html = request.html;
    m.attachments = std::move(request.attachments);
    m.headers = request.headers;
    m.date = std::chrono::system_clock::now();

    // Ids first: tracking and unsubscribe tokens name them.
    auto message_id = "msg_" + crypto::random_hex(12);
    std::vector<std::string> recipient_ids;
    for (std::size_t i = 0; i < env->recipients.size(); ++i) {
        recipient_ids.push_back("rcp_" + crypto::random_hex(12));
    }
    // The Message-ID names the message, so that a bounce or complaint that
    // quotes it can be matched back (RFC 3464 returned headers, RFC 5965).
    m.message_id = "<" + message_id + "@" + env->sign_domain + ">";
    if (auto tracked = add_tracking(principal, request, message_id, recipient_ids, m); !tracked) {
        return done(tracked.error());
    }
    auto composed = mime::compose(m);
    if (!composed) {
        return done(composed.error());
    }
    if (composed->bytes.size() > limits_.max_message_octets) {
        return done(invalid("message_too_large", "", "the message is larger than the limit"));
    }

    auto sealed = keys_.seal_message(principal.org_id, message_id, composed->bytes);
    if (!sealed) {
        return done(sealed.error());
    }
    std::int64_t now = store::unix_now();
    store::MessageRow row;
    row.id = message_id;
    row.org_id = principal.org_id;
    row.key_id = principal.key_id;
    row.created_at = now;
    row.mail_from = env->mail_from;
    row.sign_domain = env->sign_domain;
    row.wrapped_key = std::move(sealed->wrapped_key);
    row.body = std::move(sealed->body);
    // Bcc recipients are in no header, so the envelope is checked too.
    row.needs_smtputf8 =
        composed->needs_smtputf8 || !is_ascii(env->mail_from) ||
        std::any_of(env->recipients.begin(), env->recipients.end(), [](const auto& r) {
            return !is_ascii(r.first);
        });
    row.size = static_cast<std::int64_t>(composed->bytes.size());

    std::vector<std::string> addresses;
    for (const auto& [email, kind] : env->recipients) {
        addresses.push_back(mime::canonical_mailbox(email));
    }
    auto suppressed_list = store_.suppressed_among(principal.org_id, request.stream, addresses);
    std::set<std::string> suppressed(suppressed_list.begin(), suppressed_list.end());
    row.stream = request.stream;

    std::vector<store::RecipientRow> recipients;
    boost::json::array listed;
    for (std::size_t i = 0; i < env->recipients.size(); ++i) {
        const auto& [email, kind] = env->recipients[i];
        store::RecipientRow r;
        r.id = recipient_ids[i];
        r.email = email;
        r.domain = address_domain(email);
        r.kind = kind;
        r.created_at = now;
        r.next_attempt_at = now;
        // A suppressed address (hard bounce, complaint, unsubscribe from
        // this stream) gets no delivery; the rest of the message goes on.
        if (suppressed.count(mime::canonical_mailbox(email)) > 0) {
            r.status = "suppressed";
            r.reason = "on_suppression_list";
        }
        listed.push_back({{"id", r.id}, {"email", email}, {"status", r.status}});
        recipients.push_back(std::move(r));
    }
    Response response{
        202,
        boost::json::serialize(
            boost::json::object{{"id", message_id}, {"recipients", std::move(listed)}})};

    auto write = [this,
                  principal,
                  row = std::move(row),
                  recipients = std::move(recipients),
                  response,
                  idempotency](store::Writer& w) -> Result<void> {
        // The idempotency record commits with the message, so a retry after a
        // crash either finds both or neither.
        if (idempotency && !w.insert_idempotency(
                               principal.org_id,
                               idempotency->key,
                               {idempotency->request_hash, response.body, response.status},
                               row.created_at)) {
            return Error::transient("idempotency_race", "the same key is being used concurrently");
        }
        w.insert_message(row, recipients);
        for (const auto& r : recipients) {
            audit::append(
                w,
                {principal.key_id, "message.accepted", principal.org_id, row.id, r.email, r.status},
                row.created_at);
        }
        return {};
    };
    auto size = composed->bytes.size();
    auto count = env->recipients.size();
    store_.submit(
        std::move(write),
        [this, response, message_id, principal, size, count, done = std::move(done)](
            Result<void> r) {
            if (!r) {
                return done(r.error());
            }
            log::info(
                "accept",
                "message_accepted",
                {{"message_id", message_id},
                 {"org_id", principal.org_id},
                 {"recipients", count},
                 {"size", size}});
            if (on_accepted_) {
                on_accepted_();
            }
            done(response);
        });
}

}  // namespace carepost::accept
