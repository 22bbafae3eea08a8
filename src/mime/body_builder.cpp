#include "mime/body_builder.hpp"

#include <algorithm>
#include <cctype>
#include <memory>
#include <mutex>

#include <gmime/gmime.h>

namespace carepost::mime {

namespace {

// RFC 2045 §2.8 allows 998, but 76 keeps 7bit lines as short as encoded ones.
constexpr std::size_t max_seven_bit_line_octets = 76;

struct GObjectUnref {
    void operator()(gpointer object) const { g_object_unref(object); }
};
template <class T>
using GPtr = std::unique_ptr<T, GObjectUnref>;

// Text parts travel as LF-terminated lines to GMime; CRLF in the input is
// the same line end.
std::string to_lf(std::string_view text)
{
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
            continue;
        }
        out += text[i];
    }
    return out;
}

std::string to_crlf(std::string_view text)
{
    std::string out;
    out.reserve(text.size() + text.size() / 32);
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) {
            out += '\r';
        }
        out += text[i];
    }
    return out;
}

GMimeContentEncoding to_gmime(TransferEncoding encoding)
{
    switch (encoding) {
    case TransferEncoding::seven_bit:
        return GMIME_CONTENT_ENCODING_7BIT;
    case TransferEncoding::quoted_printable:
        return GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE;
    case TransferEncoding::base64:
        return GMIME_CONTENT_ENCODING_BASE64;
    }
    return GMIME_CONTENT_ENCODING_BASE64;
}

GPtr<GMimePart> make_part(
    const std::string& type,
    const std::string& subtype,
    std::string_view content,
    TransferEncoding encoding)
{
    GPtr<GMimePart> part(g_mime_part_new_with_type(type.c_str(), subtype.c_str()));
    GPtr<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(content.data(), content.size()));
    GPtr<GMimeDataWrapper> wrapper(
        g_mime_data_wrapper_new_with_stream(stream.get(), GMIME_CONTENT_ENCODING_DEFAULT));
    g_mime_part_set_content(part.get(), wrapper.get());
    g_mime_part_set_content_encoding(part.get(), to_gmime(encoding));
    return part;
}

GPtr<GMimePart> make_text_part(const std::string& subtype, std::string_view text)
{
    const auto lf_text = to_lf(text);
    const auto encoding = choose_text_encoding(lf_text);
    // RFC 2045 §6.8: base64 text carries its line breaks as CRLF (canonical
    // form); quoted-printable and 7bit lines get CRLF when serialised.
    const auto content = encoding == TransferEncoding::base64 ? to_crlf(lf_text) : lf_text;
    auto part = make_part("text", subtype, content, encoding);
    g_mime_object_set_content_type_parameter(GMIME_OBJECT(part.get()), "charset", "utf-8");
    return part;
}

GPtr<GMimeObject> make_text_body(const Message& m)
{
    if (m.html.empty()) {
        return GPtr<GMimeObject>(GMIME_OBJECT(make_text_part("plain", m.text).release()));
    }
    if (m.text.empty()) {
        return GPtr<GMimeObject>(GMIME_OBJECT(make_text_part("html", m.html).release()));
    }
    // RFC 2046 §5.1.4: the preferred (richest) alternative comes last.
    GPtr<GMimeMultipart> alternative(g_mime_multipart_new_with_subtype("alternative"));
    g_mime_multipart_add(alternative.get(), GMIME_OBJECT(make_text_part("plain", m.text).get()));
    g_mime_multipart_add(alternative.get(), GMIME_OBJECT(make_text_part("html", m.html).get()));
    return GPtr<GMimeObject>(GMIME_OBJECT(alternative.release()));
}

bool is_token(std::string_view s)
{
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) ||
               std::string_view("!#$&-^_.+").find(c) != std::string_view::npos;
    });
}

Result<GPtr<GMimeObject>> make_attachment(const Attachment& a, std::size_t index)
{
    // RFC 6838 §4.2: type "/" subtype, restricted names; no parameters from callers.
    const auto slash = a.content_type.find('/');
    const auto type = a.content_type.substr(0, slash);
    const auto subtype =
        slash == std::string::npos ? std::string{} : a.content_type.substr(slash + 1);
    // RFC 6838 §4.2: each name is at most 127 characters.
    if (!is_token(type) || !is_token(subtype) || type.size() > 127 || subtype.size() > 127) {
        return Error::invalid(
            "invalid_attachment",
            "attachments[" + std::to_string(index) + "].content_type",
            "content type must be type/subtype");
    }
    auto part = make_part(type, subtype, a.content, TransferEncoding::base64);
    g_mime_object_set_disposition(GMIME_OBJECT(part.get()), GMIME_DISPOSITION_ATTACHMENT);
    if (!a.filename.empty()) {
        g_mime_part_set_filename(part.get(), a.filename.c_str());
    }
    return GPtr<GMimeObject>(GMIME_OBJECT(part.release()));
}

std::string serialise(GMimeObject* entity)
{
    GPtr<GMimeStream> stream(g_mime_stream_mem_new());
    GMimeFormatOptions* options = g_mime_format_options_new();
    g_mime_format_options_set_newline_format(options, GMIME_NEWLINE_FORMAT_UNIX);
    g_mime_format_options_set_param_encoding_method(options, GMIME_PARAM_ENCODING_METHOD_RFC2231);
    g_mime_object_write_to_stream(entity, options, stream.get());
    g_mime_format_options_free(options);

    const GByteArray* bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(stream.get()));
    return to_crlf(std::string_view(reinterpret_cast<const char*>(bytes->data), bytes->len));
}

}  // namespace

TransferEncoding choose_text_encoding(std::string_view text)
{
    std::size_t non_ascii = 0;
    bool has_control = false;
    std::size_t line = 0;
    std::size_t longest_line = 0;
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        non_ascii += u >= 0x80 ? 1 : 0;
        has_control = has_control || u == 0 || u == '\r';
        line = c == '\n' ? 0 : line + 1;
        longest_line = std::max(longest_line, line);
    }
    if (non_ascii == 0 && !has_control && longest_line <= max_seven_bit_line_octets) {
        return TransferEncoding::seven_bit;
    }
    // Quoted-printable triples every non-ASCII octet; past a third, base64 is shorter.
    return non_ascii * 3 > text.size() ? TransferEncoding::base64
                                       : TransferEncoding::quoted_printable;
}

void ensure_gmime_initialised()
{
    static std::once_flag once;
    std::call_once(once, [] { g_mime_init(); });
}

Result<std::string> build_body(const Message& m)
{
    ensure_gmime_initialised();
    auto body = make_text_body(m);
    if (m.attachments.empty()) {
        return serialise(body.get());
    }

    GPtr<GMimeMultipart> mixed(g_mime_multipart_new_with_subtype("mixed"));
    g_mime_multipart_add(mixed.get(), body.get());
    for (std::size_t i = 0; i < m.attachments.size(); ++i) {
        auto part = make_attachment(m.attachments[i], i);
        if (!part) {
            return part.error();
        }
        g_mime_multipart_add(mixed.get(), part->get());
    }
    return serialise(GMIME_OBJECT(mixed.get()));
}

}  // namespace carepost::mime
