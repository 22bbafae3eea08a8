// SSRF rules: the URL shape of an endpoint and the addresses it may reach.
#include "events/address_rules.hpp"

#include <algorithm>
#include <cstring>
#include <memory>

#include <curl/curl.h>
#include <netdb.h>
#include <netinet/in.h>

namespace carepost::events {
namespace {

struct Block4 {
    std::uint32_t prefix;
    int length;
};

// RFC 6890 special-purpose blocks, RFC 6598 shared space (CGNAT), RFC 5737
// documentation, multicast and the reserved 240/4 (with broadcast).
constexpr Block4 refused_ipv4_blocks[] = {
    {0x00000000, 8},   // "this network", 0.0.0.0
    {0x0a000000, 8},   // private
    {0x64400000, 10},  // shared address space (CGNAT)
    {0x7f000000, 8},   // loopback
    {0xa9fe0000, 16},  // link-local, cloud metadata services
    {0xac100000, 12},  // private
    {0xc0000000, 24},  // IETF protocol assignments
    {0xc0000200, 24},  // documentation
    {0xc0586300, 24},  // 6to4 relay anycast
    {0xc0a80000, 16},  // private
    {0xc6120000, 15},  // benchmarking
    {0xc6336400, 24},  // documentation
    {0xcb007100, 24},  // documentation
    {0xe0000000, 4},   // multicast
    {0xf0000000, 4},   // reserved, broadcast
};

std::uint32_t ipv4_at(const std::array<std::uint8_t, 16>& a, std::size_t at)
{
    return std::uint32_t(a[at]) << 24 | std::uint32_t(a[at + 1]) << 16 |
           std::uint32_t(a[at + 2]) << 8 | std::uint32_t(a[at + 3]);
}

bool starts_with_bytes(
    const std::array<std::uint8_t, 16>& a, std::initializer_list<std::uint8_t> prefix)
{
    return std::equal(prefix.begin(), prefix.end(), a.begin());
}

std::string lower(std::string text)
{
    for (char& c : text) {
        if (c >= 'A' && c <= 'Z') {
            c = char(c - 'A' + 'a');
        }
    }
    return text;
}

struct UrlDeleter {
    void operator()(CURLU* u) const { curl_url_cleanup(u); }
};

// Reads one part; an absent part is an empty string.
std::string url_part(CURLU* url, CURLUPart part)
{
    char* text = nullptr;
    if (curl_url_get(url, part, &text, 0) != CURLUE_OK || text == nullptr) {
        return {};
    }
    std::string out(text);
    curl_free(text);
    return out;
}

Error refused(std::string text)
{
    return Error::invalid("endpoint_not_allowed", "url", std::move(text));
}

}  // namespace

bool is_refused_ipv4(std::uint32_t address)
{
    for (const auto& block : refused_ipv4_blocks) {
        std::uint32_t mask = ~std::uint32_t(0) << (32 - block.length);
        if ((address & mask) == block.prefix) {
            return true;
        }
    }
    return false;
}

bool is_refused_ipv6(const std::array<std::uint8_t, 16>& a)
{
    // Forms that carry an IPv4 address are judged by that address:
    // IPv4-mapped (::ffff:0:0/96), NAT64 (64:ff9b::/96), 6to4 (2002::/16).
    static constexpr std::uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::equal(std::begin(mapped), std::end(mapped), a.begin())) {
        return is_refused_ipv4(ipv4_at(a, 12));
    }
    static constexpr std::uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    if (std::equal(std::begin(nat64), std::end(nat64), a.begin())) {
        return is_refused_ipv4(ipv4_at(a, 12));
    }
    if (starts_with_bytes(a, {0x20, 0x02})) {
        return is_refused_ipv4(ipv4_at(a, 2));
    }

    // Only global unicast (2000::/3) is reachable; that leaves out ::, ::1,
    // IPv4-compatible, ULA (fc00::/7), link-local, site-local and multicast.
    if ((a[0] & 0xe0) != 0x20) {
        return true;
    }
    // Inside 2000::/3: IETF protocol assignments (2001::/23, Teredo among
    // them) and documentation (2001:db8::/32, 3fff::/20).
    if (a[0] == 0x20 && a[1] == 0x01 && a[2] < 0x02) {
        return true;
    }
    if (starts_with_bytes(a, {0x20, 0x01, 0x0d, 0xb8})) {
        return true;
    }
    return a[0] == 0x3f && a[1] == 0xff && a[2] < 0x10;
}

bool is_refused_address(const sockaddr* address, socklen_t length)
{
    if (address->sa_family == AF_INET && length >= socklen_t(sizeof(sockaddr_in))) {
        const auto* v4 = reinterpret_cast<const sockaddr_in*>(address);
        return is_refused_ipv4(ntohl(v4->sin_addr.s_addr));
    }
    if (address->sa_family == AF_INET6 && length >= socklen_t(sizeof(sockaddr_in6))) {
        const auto* v6 = reinterpret_cast<const sockaddr_in6*>(address);
        std::array<std::uint8_t, 16> bytes{};
        std::memcpy(bytes.data(), &v6->sin6_addr, bytes.size());
        return is_refused_ipv6(bytes);
    }
    return true;
}

bool is_allowed_host(std::string_view host, const Options& options)
{
    std::string wanted = lower(std::string(host));
    return std::any_of(
        options.allow_insecure_hosts.begin(),
        options.allow_insecure_hosts.end(),
        [&](const std::string& allowed) { return lower(allowed) == wanted; });
}

Result<UrlParts> check_url_shape(const std::string& url, const Options& options)
{
    std::unique_ptr<CURLU, UrlDeleter> parsed(curl_url());
    if (!parsed) {
        return Error::internal("out_of_memory", "could not allocate a URL");
    }
    if (curl_url_set(parsed.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) {
        return Error::invalid("invalid_url", "url", "not an absolute http(s) URL");
    }

    UrlParts parts;
    parts.scheme = lower(url_part(parsed.get(), CURLUPART_SCHEME));
    parts.host = lower(url_part(parsed.get(), CURLUPART_HOST));
    if (parts.host.size() > 2 && parts.host.front() == '[' && parts.host.back() == ']') {
        parts.host = parts.host.substr(1, parts.host.size() - 2);
    }
    if (parts.scheme != "https" && parts.scheme != "http") {
        return Error::invalid("invalid_url", "url", "the scheme must be https");
    }
    if (parts.host.empty()) {
        return Error::invalid("invalid_url", "url", "the URL has no host");
    }

    // Credentials in a URL end up in logs and proxies; the signature is
    // the receiver's proof of origin.
    if (!url_part(parsed.get(), CURLUPART_USER).empty() ||
        !url_part(parsed.get(), CURLUPART_PASSWORD).empty()) {
        return Error::invalid("invalid_url", "url", "user information is not allowed in the URL");
    }

    std::string port = url_part(parsed.get(), CURLUPART_PORT);
    parts.port = port.empty() ? (parts.scheme == "https" ? 443 : 80) : std::atol(port.c_str());
    if (parts.port < 1 || parts.port > 65535) {
        return Error::invalid("invalid_url", "url", "the port must be 1 to 65535");
    }

    // Plain http would carry PHI-adjacent identifiers in the clear.
    if (parts.scheme == "http" && !is_allowed_host(parts.host, options)) {
        return refused("the URL must use https");
    }
    return parts;
}

Result<void> check_endpoint_url(const std::string& url, const Options& options)
{
    auto parts = check_url_shape(url, options);
    if (!parts) {
        return parts.error();
    }
    if (is_allowed_host(parts->host, options)) {
        return {};
    }

    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (getaddrinfo(parts->host.c_str(), nullptr, &hints, &found) != 0 || found == nullptr) {
        return Error::transient("endpoint_unresolvable", "the endpoint host does not resolve");
    }
    std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> owner(found, &freeaddrinfo);

    // Every address must pass: curl may connect to any of them.
    for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
        if (is_refused_address(a->ai_addr, a->ai_addrlen)) {
            return refused("the endpoint resolves to a private or reserved address");
        }
    }
    return {};
}

}  // namespace carepost::events
