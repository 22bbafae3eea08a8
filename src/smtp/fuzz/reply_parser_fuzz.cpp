// libFuzzer target: parse_reply must never crash, read past the buffer or
// consume more than it was given, whatever the peer sends.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "smtp/capabilities.hpp"
#include "smtp/reply_parser.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    std::string_view input(reinterpret_cast<const char*>(data), size);
    auto parsed = carepost::smtp::parse_reply(input);
    if (parsed.consumed > size || parsed.reply.text.size() > 200) {
        std::abort();
    }
    carepost::smtp::parse_capabilities(parsed.lines);
    return 0;
}
