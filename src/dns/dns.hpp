// dns: where mail for a domain goes — static routes, MX, then the domain itself.
//
// Owns: static routes from the configuration (smarthosts, tests), MX look-ups
//   through libunbound with a per-domain cache, the implicit MX (RFC 5321
//   §5.1) and null MX (RFC 7505).
// Trust boundary: DNS answers come from the network; names are checked for
//   length and form before use.
// Logs: nothing; errors are returned as values.
// Limits:
//   LIMIT(#2): resolve() blocks its caller during a cold look-up; delivery
//   calls it once per destination session and answers are cached for 5
//   minutes. The fix is unbound's async API on the delivery io_context.
//   LIMIT(#2): no DNSSEC validation, TLSA (DANE) or MTA-STS yet.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace carepost::dns {

struct Target {
    std::string host;
    std::uint16_t port = 25;
    int preference = 0;
};

// Parses "host:port", "[v6]:port" or "host" (port 25).
Result<Target> parse_route(std::string_view route);

class Resolver {
public:
    explicit Resolver(std::map<std::string, std::string> static_routes);
    ~Resolver();
    // Thread-safe. Targets in the order to try them.
    Result<std::vector<Target>> resolve(std::string_view ascii_domain);

private:
    Result<std::vector<Target>> look_up_mx(const std::string& domain);

    std::map<std::string, std::string> routes_;
    std::mutex mutex_;
    struct Cached {
        std::vector<Target> targets;
        std::chrono::steady_clock::time_point expires;
    };
    std::map<std::string, Cached> cache_;
};

}  // namespace carepost::dns
