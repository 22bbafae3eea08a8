// libFuzzer target: the command line parsers must never crash or read past
// the line, whatever the peer sends; a parsed path stays within its limit.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "inbound/command.hpp"
#include "inbound/inbound.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    using namespace carepost::inbound;
    std::string_view line(reinterpret_cast<const char*>(data), size);
    auto command = detail::parse_command(line);
    for (auto prefix : {"FROM:", "TO:"}) {
        auto parsed = detail::parse_path_argument(command.argument, prefix);
        if (parsed && parsed->address.size() > detail::max_path_octets) {
            std::abort();
        }
    }
    auto id = parse_return_path(line, {"bounces.clinic.test"}, "fuzz key");
    if (id && id->empty()) {
        std::abort();
    }
    return 0;
}
