// The webhook body and its signature.
#include <string>

#include <boost/json.hpp>

#include "crypto/crypto.hpp"
#include "events/events.hpp"

namespace carepost::events {

std::string payload_json(const Event& e)
{
    // An allow-list, in a fixed order: a new Event field never reaches
    // receivers by accident (DESIGN.md: no subjects, bodies or template data).
    boost::json::object body;
    body["id"] = e.id;
    body["type"] = e.type;
    body["time"] = e.time;
    body["message_id"] = e.message_id;
    body["recipient_id"] = e.recipient_id;
    body["email"] = e.email;
    body["reply_code"] = e.reply_code;
    body["enhanced_status"] = e.enhanced_status;
    body["reason"] = e.reason;
    body["bounce_class"] = e.bounce_class;
    return boost::json::serialize(body);
}

std::string signature_header(std::string_view secret, std::int64_t timestamp, std::string_view body)
{
    // The timestamp is inside the MAC, so a receiver that rejects old
    // timestamps also rejects replays of old requests.
    std::string signed_text = std::to_string(timestamp);
    signed_text += '.';
    signed_text += body;
    return "t=" + std::to_string(timestamp) +
           ",v1=" + crypto::to_hex(crypto::hmac_sha256(secret, signed_text));
}

}  // namespace carepost::events
