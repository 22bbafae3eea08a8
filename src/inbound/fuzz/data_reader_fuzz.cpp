// libFuzzer target: the DATA reader must consume no more than it is given,
// keep no more than its limit, and end only after CRLF "." CRLF, whatever
// the peer sends and however the bytes are split.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "inbound/data_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size == 0) {
        return 0;
    }
    std::size_t step = 1 + data[0] % 17;
    std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
    carepost::inbound::detail::DataReader reader(256, 64);
    std::size_t consumed = 0;
    while (consumed < input.size() && !reader.is_complete()) {
        std::string_view piece = input.substr(consumed, step);
        std::size_t taken = reader.feed(piece);
        if (taken > piece.size() || (taken < piece.size() && !reader.is_complete())) {
            std::abort();
        }
        consumed += taken;
    }
    std::string_view read = input.substr(0, consumed);
    bool ends_right = read == ".\r\n" || read.ends_with("\r\n.\r\n");
    if (reader.data().size() > 256 || (reader.is_complete() && !ends_right)) {
        std::abort();
    }
    return 0;
}
