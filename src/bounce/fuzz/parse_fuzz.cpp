// libFuzzer target: parse() must neither crash nor hang on any input, and
// every record it returns must carry a reason and a class.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "bounce/bounce.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    std::string_view raw(reinterpret_cast<const char*>(data), size);
    for (const carepost::bounce::Record& r : carepost::bounce::parse(raw)) {
        if (r.reason.empty() || r.bounce_class.empty()) {
            std::abort();
        }
    }
    carepost::bounce::classify(550, "", raw.substr(0, 4096));
    return 0;
}
