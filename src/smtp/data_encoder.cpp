#include "smtp/data_encoder.hpp"

#include "smtp/smtp.hpp"

namespace carepost::smtp {

std::string encode_data(std::string_view message)
{
    std::string out;
    out.reserve(message.size() + message.size() / 64 + 8);
    bool at_line_start = true;

    for (std::size_t i = 0; i < message.size(); ++i) {
        char c = message[i];
        if (c == '\r' || c == '\n') {
            // CRLF, bare CR and bare LF all end one line.
            if (c == '\r' && i + 1 < message.size() && message[i + 1] == '\n') {
                ++i;
            }
            out += "\r\n";
            at_line_start = true;
            continue;
        }
        if (at_line_start && c == '.') {
            out.push_back('.');
        }
        out.push_back(c);
        at_line_start = false;
    }

    if (!at_line_start) {
        out += "\r\n";
    }
    out += ".\r\n";
    return out;
}

std::string to_wire_data(std::string_view message)
{
    return encode_data(message);
}

bool has_8bit(std::string_view message)
{
    for (char c : message) {
        if (static_cast<unsigned char>(c) >= 0x80) {
            return true;
        }
    }
    return false;
}

}  // namespace carepost::smtp
