#include <algorithm>
#include <cctype>

#include "crypto/crypto.hpp"
#include "inbound/inbound.hpp"

namespace carepost::inbound {

namespace {

constexpr std::string_view kPrefix = "bounce+";
constexpr std::size_t kTagHexDigits = 16;
// Ids are "rcp_" + 24 hex; anything much longer is not one of ours, and the
// bound keeps the HMAC input small for addresses a peer makes up.
constexpr std::size_t kMaxIdOctets = 64;

std::string make_tag(std::string_view recipient_id, std::string_view key)
{
    return crypto::to_hex(crypto::hmac_sha256(key, recipient_id)).substr(0, kTagHexDigits);
}

bool is_equal_ignoring_case(std::string_view a, std::string_view b)
{
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

bool is_id_octet(char c)
{
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

bool is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

Error not_ours()
{
    Error e = Error::permanent("not_ours", "not a return path of ours");
    e.enhanced = "5.1.1";
    return e;
}

}  // namespace

std::string
make_return_path(std::string_view recipient_id, std::string_view domain, std::string_view key)
{
    std::string address(kPrefix);
    address.append(recipient_id);
    address += '-';
    address += make_tag(recipient_id, key);
    address += '@';
    address.append(domain);
    return address;
}

Result<std::string> parse_return_path(
    std::string_view address, const std::vector<std::string>& domains, std::string_view key)
{
    // An empty key is a configuration mistake; with it anyone could make tags.
    auto at = address.rfind('@');
    if (key.empty() || at == std::string_view::npos) {
        return not_ours();
    }
    std::string_view local = address.substr(0, at);
    std::string_view domain = address.substr(at + 1);
    bool is_our_domain = std::any_of(domains.begin(), domains.end(), [&](const std::string& d) {
        return !d.empty() && is_equal_ignoring_case(d, domain);
    });
    if (!is_our_domain || !local.starts_with(kPrefix)) {
        return not_ours();
    }

    local.remove_prefix(kPrefix.size());
    auto dash = local.rfind('-');
    if (dash == std::string_view::npos || dash == 0 || dash > kMaxIdOctets) {
        return not_ours();
    }
    std::string_view id = local.substr(0, dash);
    std::string_view tag = local.substr(dash + 1);
    if (tag.size() != kTagHexDigits || !std::all_of(tag.begin(), tag.end(), is_lower_hex) ||
        !std::all_of(id.begin(), id.end(), is_id_octet)) {
        return not_ours();
    }

    // A forger who can time the comparison must not learn the tag octet by octet.
    if (!crypto::constant_time_equal(make_tag(id, key), tag)) {
        return not_ours();
    }
    return std::string(id);
}

}  // namespace carepost::inbound
