// libFuzzer target: parse_address takes any string an API client sends; an
// address it accepts has an envelope form with no line break, NUL or space
// outside quotes, so it can go into RCPT TO as it is.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "mime/mime.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto address = carepost::mime::parse_address(text);
    if (!address) {
        return 0;
    }
    auto envelope = carepost::mime::envelope_form(*address);
    if (envelope.empty() || carepost::mime::has_forbidden_header_octet(envelope)) {
        std::abort();
    }
    return 0;
}
