#include "bounce/message_walker.hpp"

#include <memory>
#include <mutex>

#include <gmime/gmime.h>

namespace carepost::bounce::detail {

namespace {

struct GObjectUnref {
    void operator()(void* p) const
    {
        if (p != nullptr) {
            g_object_unref(p);
        }
    }
};
template <class T>
using GPtr = std::unique_ptr<T, GObjectUnref>;

struct GFree {
    void operator()(void* p) const { g_free(p); }
};

// Returned messages can nest (a bounce of a bounce); a hostile message can
// nest without end, so recursion stops here.
constexpr int kMaxDepth = 8;

void init_gmime_once()
{
    static std::once_flag once;
    std::call_once(once, [] { g_mime_init(); });
}

std::string content_type_of(GMimeObject* object)
{
    GMimeContentType* type = g_mime_object_get_content_type(object);
    if (type == nullptr) {
        return "text/plain";
    }
    std::unique_ptr<char, GFree> mime_type(g_mime_content_type_get_mime_type(type));
    return to_lower(mime_type ? mime_type.get() : "text/plain");
}

std::string decode_leaf(GMimePart* part)
{
    // Text parts go through their declared charset to UTF-8, so that wording
    // in a legacy charset can still be matched.
    if (GMIME_IS_TEXT_PART(part)) {
        std::unique_ptr<char, GFree> text(g_mime_text_part_get_text(GMIME_TEXT_PART(part)));
        if (text) {
            return text.get();
        }
    }
    GMimeDataWrapper* wrapper = g_mime_part_get_content(part);
    if (wrapper == nullptr) {
        return {};
    }
    GPtr<GMimeStream> stream(g_mime_stream_mem_new());
    g_mime_data_wrapper_write_to_stream(wrapper, stream.get());
    GByteArray* bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(stream.get()));
    return std::string(reinterpret_cast<const char*>(bytes->data), bytes->len);
}

std::string headers_text(GMimeObject* object)
{
    std::unique_ptr<char, GFree> text(g_mime_object_get_headers(object, nullptr));
    return text ? std::string(text.get()) : std::string();
}

void walk_object(GMimeObject* object, bool is_returned, int depth, std::vector<Part>& parts)
{
    if (object == nullptr || depth > kMaxDepth) {
        return;
    }
    if (GMIME_IS_MULTIPART(object)) {
        GMimeMultipart* multipart = GMIME_MULTIPART(object);
        int count = g_mime_multipart_get_count(multipart);
        for (int i = 0; i < count; ++i) {
            walk_object(g_mime_multipart_get_part(multipart, i), is_returned, depth + 1, parts);
        }
        return;
    }
    if (GMIME_IS_MESSAGE_PART(object)) {
        GMimeMessage* inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(object));
        if (inner == nullptr) {
            return;
        }
        parts.push_back({"message/rfc822", headers_text(GMIME_OBJECT(inner)), true});
        walk_object(g_mime_message_get_mime_part(inner), true, depth + 1, parts);
        return;
    }
    if (GMIME_IS_PART(object)) {
        parts.push_back({content_type_of(object), decode_leaf(GMIME_PART(object)), is_returned});
    }
}

}  // namespace

WalkedMessage walk_message(std::string_view raw)
{
    init_gmime_once();
    WalkedMessage out;

    GPtr<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(raw.data(), raw.size()));
    GPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
    g_mime_parser_set_format(parser.get(), GMIME_FORMAT_MESSAGE);
    GPtr<GMimeMessage> message(g_mime_parser_construct_message(parser.get(), nullptr));
    if (!message) {
        return out;
    }

    // Header values are taken raw (unfolded by parse_field_blocks), not
    // RFC 2047-decoded: only addresses, ids and ASCII keywords are read.
    std::string header_block = headers_text(GMIME_OBJECT(message.get()));
    std::vector<FieldBlock> blocks = parse_field_blocks(header_block);
    if (!blocks.empty()) {
        out.headers = std::move(blocks.front());
    }
    walk_object(g_mime_message_get_mime_part(message.get()), false, 0, out.parts);

    // A multipart whose boundary never occurs (the declared and the used
    // boundary differ in some real bounces) has no parts; its body is then
    // read as plain text, as a mail reader would show it.
    if (out.parts.empty()) {
        std::size_t body = raw.find("\n\n");
        std::size_t crlf_body = raw.find("\r\n\r\n");
        if (crlf_body != std::string_view::npos && crlf_body < body) {
            body = crlf_body + 2;
        }
        if (body != std::string_view::npos) {
            out.parts.push_back({"text/plain", std::string(raw.substr(body + 2)), false});
        }
    }
    return out;
}

}  // namespace carepost::bounce::detail
