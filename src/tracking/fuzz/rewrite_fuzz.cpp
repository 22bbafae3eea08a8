// Fuzz target: rewrite_html on hostile HTML, every option on.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tracking/tracking.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    using namespace carepost::tracking;
    std::string_view html(reinterpret_cast<const char*>(data), size);
    RewriteOptions options{"https://t.example", true, true, "https://u.example/u/X"};
    auto out = rewrite_html(
        html, options, [](const std::string&) { return std::string("TOKEN"); }, "OPEN");

    // Only web targets are tracked, and the output never loses input bytes.
    for (const std::string& link : out.links) {
        if (link.size() < 7 || (link[0] != 'h' && link[0] != 'H')) {
            std::abort();
        }
    }
    if (out.html.size() < html.size() / 2) {
        std::abort();
    }
    return 0;
}
