// tracking: helpers shared by the tests (not part of the library).
#pragma once

#include <string>
#include <string_view>

namespace carepost::tracking::testing {

// Walks `original` and `rewritten` in step. Where `rewritten` holds a quoted
// click URL ("<base>/t/c/...") the original must hold one attribute value
// (quoted or not) there; `pixel`, when not empty, may appear once. Every
// other byte must be equal. Returns "" when so, else where they part.
inline std::string find_difference(
    std::string_view original,
    std::string_view rewritten,
    std::string_view base_url,
    std::string_view pixel,
    int& click_urls)
{
    std::string click_prefix = "\"" + std::string(base_url) + "/t/c/";
    std::size_t i = 0, j = 0;
    click_urls = 0;
    bool pixel_seen = false;
    while (i < rewritten.size()) {
        if (!pixel.empty() && !pixel_seen && rewritten.substr(i).starts_with(pixel)) {
            i += pixel.size();
            pixel_seen = true;
            continue;
        }
        if (rewritten.substr(i).starts_with(click_prefix) && j < original.size()) {
            i = rewritten.find('"', i + 1) + 1;
            char quote = original[j];
            if (quote == '"' || quote == '\'') {
                j = original.find(quote, j + 1) + 1;
            } else {
                j = original.find_first_of(" \t\n\f\r>", j);
            }
            ++click_urls;
            continue;
        }
        if (j >= original.size() || rewritten[i] != original[j]) {
            return "differs at rewritten offset " + std::to_string(i) + ", original offset " +
                   std::to_string(j);
        }
        ++i;
        ++j;
    }
    if (j != original.size()) {
        return "original has " + std::to_string(original.size() - j) + " more bytes";
    }
    if (!pixel.empty() && !pixel_seen) {
        return "pixel missing";
    }
    return "";
}

}  // namespace carepost::tracking::testing
