#include "dkim/signing_input.hpp"

#include <map>

#include "dkim/dkim.hpp"

namespace carepost::dkim {
namespace {

char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lower_name(std::string_view name)
{
    std::string out(name);
    for (char& c : out) {
        c = lower(c);
    }
    return out;
}

}  // namespace

bool is_same_name(std::string_view a, std::string_view b)
{
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != lower(b[i])) {
            return false;
        }
    }
    return true;
}

std::string build_signing_input(
    const std::vector<HeaderField>& headers,
    const std::vector<std::string_view>& signed_names,
    std::string_view signature_value)
{
    std::string out;
    std::map<std::string, std::size_t> used;  // instances taken per name, from the bottom

    for (std::string_view name : signed_names) {
        std::size_t& taken = used[lower_name(name)];
        std::size_t skip = taken;
        for (auto it = headers.rbegin(); it != headers.rend(); ++it) {
            if (is_same_name(it->name, name) && skip-- == 0) {
                out += canonicalize_header_relaxed(it->name, it->value);
                break;
            }
        }
        ++taken;
    }

    std::string own = canonicalize_header_relaxed("DKIM-Signature", signature_value);
    own.resize(own.size() - 2);
    out += own;
    return out;
}

}  // namespace carepost::dkim
