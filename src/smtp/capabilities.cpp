#include "smtp/capabilities.hpp"

#include <charconv>
#include <string_view>

namespace carepost::smtp {
namespace {

std::string upper(std::string_view s)
{
    std::string out(s);
    for (char& c : out) {
        if (c >= 'a' && c <= 'z') {
            c = static_cast<char>(c - 'a' + 'A');
        }
    }
    return out;
}

}  // namespace

Capabilities parse_capabilities(const std::vector<std::string>& lines)
{
    Capabilities caps;
    for (std::size_t i = 1; i < lines.size(); ++i) {
        std::string_view line = lines[i];
        std::size_t space = line.find(' ');
        std::string keyword = upper(line.substr(0, space));
        std::string_view param = space == std::string_view::npos ? "" : line.substr(space + 1);

        if (keyword == "STARTTLS") {
            caps.has_starttls = true;
        } else if (keyword == "PIPELINING") {
            caps.has_pipelining = true;
        } else if (keyword == "SMTPUTF8") {
            caps.has_smtputf8 = true;
        } else if (keyword == "8BITMIME") {
            caps.has_8bitmime = true;
        } else if (keyword == "SIZE") {
            caps.has_size = true;
            std::size_t limit = 0;
            auto [ptr, ec] = std::from_chars(param.data(), param.data() + param.size(), limit);
            caps.size_limit = ec == std::errc() ? limit : 0;
        }
    }
    return caps;
}

}  // namespace carepost::smtp
