// libFuzzer target: header splitting and both relaxed canonicalisations on
// arbitrary messages; relaxed body output must be a fixed point.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "dkim/dkim.hpp"
#include "dkim/header_fields.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    std::string_view input(reinterpret_cast<const char*>(data), size);
    auto split = carepost::dkim::split_message(input);
    for (const auto& header : split.headers) {
        carepost::dkim::canonicalize_header_relaxed(header.name, header.value);
    }
    auto once = carepost::dkim::canonicalize_body_relaxed(split.body);
    if (carepost::dkim::canonicalize_body_relaxed(once) != once) {
        std::abort();
    }
    return 0;
}
