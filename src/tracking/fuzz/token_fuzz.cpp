// Fuzz target: open_token and the base64url decoder on hostile tokens.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "tracking/base64url.hpp"
#include "tracking/tracking.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    using namespace carepost::tracking;
    std::string_view text(reinterpret_cast<const char*>(data), size);
    static const carepost::crypto::Key key = carepost::crypto::random_key();
    for (Kind kind : {Kind::open, Kind::click, Kind::unsubscribe}) {
        (void)open_token(text, kind, key);
    }

    // One spelling per byte string: a decoded token re-encodes to itself.
    if (auto bytes = decode_base64url(text); bytes && encode_base64url(*bytes) != text) {
        std::abort();
    }
    return 0;
}
