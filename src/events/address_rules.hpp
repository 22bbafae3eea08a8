// events: which URLs and peer addresses a webhook may reach (SSRF rules).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include <sys/socket.h>

#include "common/error.hpp"
#include "events/events.hpp"

namespace carepost::events {

// True unless the address is public unicast (see check_endpoint_url).
bool is_refused_ipv4(std::uint32_t address);  // host byte order
bool is_refused_ipv6(const std::array<std::uint8_t, 16>& address);
// A socket address of another family than IPv4 or IPv6 is refused.
bool is_refused_address(const sockaddr* address, socklen_t length);

// The parts of a URL the rules need, split by curl's own parser so that
// the host checked is the host curl connects to.
struct UrlParts {
    std::string scheme;  // lower case
    std::string host;    // lower case; IPv6 without brackets
    long port = 0;
};

// Scheme, userinfo, host and port rules (no DNS): https, or http for an
// allowed host.
Result<UrlParts> check_url_shape(const std::string& url, const Options& options);

bool is_allowed_host(std::string_view host, const Options& options);

}  // namespace carepost::events
