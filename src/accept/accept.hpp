// accept: the accept pipeline shared by the REST API and (later) SMTP.
//
// Owns: validation of a send request, template rendering, MIME
//   composition, sealing and the durable store of the message with its
//   recipients, idempotency and audit records, all in one commit.
// Trust boundary: the request comes from an authenticated client; every
//   field is still untrusted (addresses, header values, sizes).
// Logs: message id, org id, recipient count, size; never addresses,
//   subjects, bodies or attachment names.
// Limits:
//   LIMIT(#4): the policy step (gate.hpp) has recipient rules, rate limits
//   and abnormal sending; suppressions are checked here, per stream.
//   LIMIT(#4): one composed body serves every recipient, so opens and clicks
//   of a message with several recipients name no recipient, and
//   List-Unsubscribe needs one recipient per message (422 otherwise); the
//   fix is a body per recipient when tracking asks for it.
//   LIMIT(#4): the accept commit writes two event rows more than before
//   (accepted, queued): accept throughput fell to about 79% of the previous
//   version (bench/run.sh --phases accept); one row per message, or events
//   appended by the writer after the commit, would win most of it back.
//   Address literals are refused as recipients; a single-label domain such
//   as "localhost" is accepted unless recipient rules refuse it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/json/value.hpp>

#include "accept/gate.hpp"
#include "auth/auth.hpp"
#include "common/error.hpp"
#include "crypto/key_ring.hpp"
#include "mime/mime.hpp"
#include "store/store.hpp"

namespace carepost::accept {

struct TemplateSource {
    std::string subject, text, html;
};

struct SendRequest {
    mime::Mailbox from;
    std::vector<mime::Mailbox> to, cc, bcc;
    std::optional<mime::Mailbox> reply_to;
    std::string subject, text, html;
    std::vector<mime::Attachment> attachments;  // content already decoded
    std::vector<std::pair<std::string, std::string>> headers;
    std::vector<std::string> tags;
    std::optional<std::string> template_id;
    std::optional<std::int64_t> template_version;
    std::optional<TemplateSource> inline_template;
    boost::json::value template_data;
    // The message stream: suppressions (unsubscribes) are kept per stream.
    std::string stream = "transactional";
    bool contains_phi = true;  // never tracked unless the organisation allows it
    // Unset: as the organisation set the stream (carepost org settings).
    std::optional<bool> track_opens, track_clicks;
    std::optional<bool> list_unsubscribe;  // default: every stream but transactional
};

// Where tracking and unsubscribe URLs point, and the key of their tokens.
struct TrackingOptions {
    std::string base_url;  // empty: no tracking, no List-Unsubscribe
    std::string unsubscribe_mailto;
    crypto::Key key{};
};

struct Limits {
    std::size_t max_message_octets = 25 * 1024 * 1024;
    std::size_t max_recipients = 1000;
};

// What the client hears: HTTP status and the JSON body, kept verbatim for
// idempotent replays.
struct Response {
    int status = 202;
    std::string body;
};

struct Idempotency {
    std::string key;
    std::string request_hash;
};

class Pipeline {
public:
    Pipeline(store::Store& store, crypto::KeyRing& keys, Limits limits);

    // The policy step, called with the validated recipients before the
    // message is composed (see accept/gate.hpp); empty: no policy.
    using Admit = std::function<Result<void>(const std::vector<GateRecipient>&)>;

    // Validates, renders, composes and seals on the calling thread, then
    // queues the write; `done` runs on the store's writer thread once the
    // message is durable (202) or refused. Never blocks on the network.
    void accept(
        const auth::Principal& principal,
        SendRequest request,
        std::optional<Idempotency> idempotency,
        std::function<void(Result<Response>)> done,
        Admit admit = {});

    void set_tracking(TrackingOptions options) { tracking_ = std::move(options); }

    // Called after every successful accept (delivery uses it to wake up).
    void on_accepted(std::function<void()> hook) { on_accepted_ = std::move(hook); }

private:
    Result<void> render_templates(const auth::Principal& principal, SendRequest& request);
    // Open pixel, click links and List-Unsubscribe, as the request asks and
    // the organisation allows.
    Result<void> add_tracking(
        const auth::Principal& principal,
        const SendRequest& request,
        const std::string& message_id,
        const std::vector<std::string>& recipient_ids,
        mime::Message& message);

    store::Store& store_;
    crypto::KeyRing& keys_;
    Limits limits_;
    TrackingOptions tracking_;
    std::function<void()> on_accepted_;
};

}  // namespace carepost::accept
