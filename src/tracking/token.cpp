// Opaque tracking tokens: a version octet, then a sealed compact payload.
//
// Payload: five fields in a fixed order (message id, recipient id,
// organisation id, stream, url). Each field opens with one head octet:
// form in the high 3 bits, length in the low 5 (31 = a varint length
// follows). Forms pack the ids accept mints ("msg_" + hex) to raw bytes,
// which keeps unsubscribe URLs short enough for one header line.
#include <array>
#include <optional>

#include "tracking/base64url.hpp"
#include "tracking/tracking.hpp"

namespace carepost::tracking {
namespace {

constexpr unsigned char token_version = 1;
constexpr std::size_t sealed_overhead = 12 + 16;  // GCM nonce and tag
// Bounds the work an unauthenticated request can cause.
constexpr std::size_t max_token_chars = 16 * 1024;
constexpr unsigned inline_length_limit = 31;

enum Form : unsigned char { text = 0, hex = 1, prefixed_first = 2 };
constexpr std::array<std::string_view, 3> id_prefixes = {"msg_", "rcp_", "org_"};

std::string_view kind_name(Kind kind)
{
    switch (kind) {
    case Kind::open:
        return "open";
    case Kind::click:
        return "click";
    case Kind::unsubscribe:
        return "unsubscribe";
    }
    return "unknown";
}

// Binds version and kind: a click token cannot be replayed as an unsubscribe.
std::string context_for(Kind kind)
{
    return "carepost/tracking/v" + std::to_string(token_version) + "/" +
           std::string(kind_name(kind));
}

bool is_lower_hex(std::string_view s)
{
    if (s.empty() || s.size() % 2 != 0) {
        return false;
    }
    return s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

std::string pack_hex(std::string_view s)
{
    std::string out;
    for (std::size_t i = 0; i < s.size(); i += 2) {
        auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
        out.push_back(static_cast<char>((nibble(s[i]) << 4) | nibble(s[i + 1])));
    }
    return out;
}

void put_field(std::string& out, unsigned char form, std::string_view data)
{
    if (data.size() < inline_length_limit) {
        out.push_back(static_cast<char>((form << 5) | data.size()));
    } else {
        out.push_back(static_cast<char>((form << 5) | inline_length_limit));
        std::size_t n = data.size();
        do {
            unsigned char low = n & 0x7f;
            n >>= 7;
            out.push_back(static_cast<char>(n ? (low | 0x80) : low));
        } while (n);
    }
    out.append(data);
}

// Chooses the most compact form that decodes back to exactly `value`.
void put_value(std::string& out, std::string_view value)
{
    for (std::size_t i = 0; i < id_prefixes.size(); ++i) {
        auto prefix = id_prefixes[i];
        if (value.starts_with(prefix) && is_lower_hex(value.substr(prefix.size()))) {
            put_field(
                out,
                static_cast<unsigned char>(prefixed_first + i),
                pack_hex(value.substr(prefix.size())));
            return;
        }
    }
    if (is_lower_hex(value)) {
        put_field(out, hex, pack_hex(value));
        return;
    }
    put_field(out, text, value);
}

class Reader {
public:
    explicit Reader(std::string_view data) : data_(data) {}
    bool at_end() const { return pos_ == data_.size(); }

    std::optional<std::string> value()
    {
        if (at_end()) {
            return std::nullopt;
        }
        auto head = static_cast<unsigned char>(data_[pos_++]);
        unsigned form = head >> 5;
        std::size_t length = head & 31;
        if (length == inline_length_limit && !read_varint(length)) {
            return std::nullopt;
        }
        if (length > data_.size() - pos_) {
            return std::nullopt;
        }
        auto bytes = data_.substr(pos_, length);
        pos_ += length;
        return decode(form, bytes);
    }

private:
    bool read_varint(std::size_t& length)
    {
        length = 0;
        for (int shift = 0; shift < 28; shift += 7) {
            if (at_end()) {
                return false;
            }
            auto octet = static_cast<unsigned char>(data_[pos_++]);
            length |= static_cast<std::size_t>(octet & 0x7f) << shift;
            if (!(octet & 0x80)) {
                return true;
            }
        }
        return false;
    }

    static std::optional<std::string> decode(unsigned form, std::string_view bytes)
    {
        if (form == text) {
            return std::string(bytes);
        }
        if (form - hex > id_prefixes.size()) {
            return std::nullopt;
        }
        std::string out = form == hex ? "" : std::string(id_prefixes[form - prefixed_first]);
        return out + crypto::to_hex(bytes);
    }

    std::string_view data_;
    std::size_t pos_ = 0;
};

Error invalid_token()
{
    return Error::permanent("invalid_token", "tracking token is not valid");
}

}  // namespace

std::string make_token(const Claims& c, const crypto::Key& key)
{
    std::string payload;
    for (const std::string* field :
         {&c.message_id, &c.recipient_id, &c.org_id, &c.stream, &c.url}) {
        put_value(payload, *field);
    }
    std::string token(1, static_cast<char>(token_version));
    token += crypto::seal(key, payload, context_for(c.kind));
    return encode_base64url(token);
}

Result<Claims> open_token(std::string_view token, Kind expected, const crypto::Key& key)
{
    if (token.size() > max_token_chars) {
        return invalid_token();
    }
    auto raw = decode_base64url(token);
    if (!raw || raw->size() < 1 + sealed_overhead ||
        static_cast<unsigned char>((*raw)[0]) != token_version) {
        return invalid_token();
    }
    auto payload = crypto::open(key, std::string_view(*raw).substr(1), context_for(expected));
    if (!payload) {
        return invalid_token();
    }

    // Authenticated, so malformed here means our own bug or an old format.
    Claims claims;
    claims.kind = expected;
    Reader reader(*payload);
    for (std::string* field :
         {&claims.message_id, &claims.recipient_id, &claims.org_id, &claims.stream, &claims.url}) {
        auto value = reader.value();
        if (!value) {
            return invalid_token();
        }
        *field = std::move(*value);
    }
    if (!reader.at_end()) {
        return invalid_token();
    }
    return claims;
}

}  // namespace carepost::tracking
