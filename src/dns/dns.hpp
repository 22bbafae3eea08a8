// dns: where mail for a domain goes (MX, then address fallback, or a static route).
//
// Owns: MX resolution through libunbound, a per-domain answer cache, and the
// static route table (domain -> host:port) used for smarthosts and tests.
// Trust boundary: DNS answers are untrusted (not DNSSEC-validated here);
// they only choose where to connect, and TLS policy decides whether that
// peer is acceptable. Domains come from recipient addresses (A-labels).
// RFCs: 5321 §5.1 (MX, preference order, implicit MX), 7505 (null MX),
// 1035 (wire format), 6761 (.test, .invalid).
// Logs: nothing per query (domains are recipient data); errors are values.
// Limits:
//   LIMIT(#2): resolve() blocks its thread for the whole query, up to
//              libunbound's own retry limit when resolvers do not answer;
//              acceptable because delivery calls it once per destination
//              session and answers are cached; the fix is ub_resolve_async
//              with ub_fd() watched by the delivery io_context.
//   LIMIT(#2): no DNSSEC validation, so no DANE yet; add a trust anchor
//              (ub_ctx_add_ta_file) and TLSA look-ups when DANE is built.
//   LIMIT(#2): MTA-STS policy fetch and TXT/TLSA look-ups are not here yet.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace carepost::dns {

struct Target {
    std::string host;  // host name or IP literal (IPv6 without brackets)
    std::uint16_t port = 25;
    int preference = 0;
    std::uint32_t ttl_seconds = 300;  // how long the caller may cache this answer
};

struct ResolverOptions {
    // Forward queries to the name servers in this file; empty: recurse from the root.
    std::string resolv_conf = "/etc/resolv.conf";
    // Zones answered locally (name, unbound local-zone type such as "static").
    std::vector<std::pair<std::string, std::string>> local_zones;
    // Records answered locally, in zone-file form: "x.test. 300 IN MX 10 mx.x.test.".
    std::vector<std::string> local_data;
};

// Thread-safe: resolve() may run on many threads at once.
class Resolver {
public:
    // static_routes: "clinic.test" -> "127.0.0.1:2525", "[::1]:2525",
    // "smarthost.example:587" or "host" (port 25); "*" routes every domain.
    explicit Resolver(std::map<std::string, std::string> static_routes);
    Resolver(std::map<std::string, std::string> static_routes, ResolverOptions options);
    ~Resolver();
    Resolver(const Resolver&) = delete;
    Resolver& operator=(const Resolver&) = delete;

    // Static route first; else MX by preference (equal preferences in random
    // order); no MX: the domain itself (A/AAAA fallback, RFC 5321 §5.1).
    // Answers and permanent errors are cached for their TTL, at most 5 minutes.
    // Errors, permanent: "null_mx" (RFC 7505), "host_unknown" (NXDOMAIN),
    // "no_address" (neither MX nor A/AAAA), "bad_domain", "bad_route";
    // transient: "dns_failed" (SERVFAIL, REFUSED, timeout, resolver error).
    Result<std::vector<Target>> resolve(std::string_view ascii_domain);

private:
    Result<std::vector<Target>> look_up(const std::string& domain);

    struct Context;
    std::map<std::string, std::string> routes_;
    std::unique_ptr<Context> context_;
};

// Parses a static route value ("host", "host:port", "[v6]:port"); error "bad_route".
Result<Target> parse_route(std::string_view route);

}  // namespace carepost::dns
