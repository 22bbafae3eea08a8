// libFuzzer target: any body a client sends to POST /v1/messages is either
// parsed or refused with an error naming a field; it never crashes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "api/send_request.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    std::string_view body(reinterpret_cast<const char*>(data), size);
    auto parsed = carepost::api::parse_send_request(body);
    if (!parsed && parsed.error().code.empty()) {
        std::abort();
    }
    return 0;
}
