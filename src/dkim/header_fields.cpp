#include "dkim/header_fields.hpp"

namespace carepost::dkim {

SplitMessage split_message(std::string_view message)
{
    SplitMessage out;
    std::size_t pos = 0;
    const HeaderField* open = nullptr;
    std::size_t open_start = 0;

    while (pos < message.size()) {
        std::size_t end = message.find("\r\n", pos);
        std::size_t next = end == std::string_view::npos ? message.size() : end + 2;
        if (end == std::string_view::npos) {
            end = message.size();
        }
        std::string_view line = message.substr(pos, end - pos);

        // The first empty line ends the header section (RFC 5322 §2.1).
        if (line.empty()) {
            out.body = message.substr(next);
            return out;
        }
        if ((line[0] == ' ' || line[0] == '\t') && open != nullptr) {
            out.headers.back().value = message.substr(open_start, end - open_start);
        } else if (auto colon = line.find(':'); colon != std::string_view::npos) {
            out.headers.push_back({line.substr(0, colon), line.substr(colon + 1)});
            open = &out.headers.back();
            open_start = pos + colon + 1;
        } else {
            open = nullptr;
        }
        pos = next;
    }
    return out;
}

}  // namespace carepost::dkim
