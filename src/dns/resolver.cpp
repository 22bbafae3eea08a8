#include <unbound.h>

#include <algorithm>

#include "dns/dns.hpp"

namespace carepost::dns {
namespace {

constexpr int type_mx = 15;
constexpr int class_in = 1;

std::string lower(std::string_view s)
{
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
        return std::tolower(c);
    });
    return out;
}

// Reads an uncompressed wire-format name (as unbound returns in rdata).
std::string read_name(const unsigned char* p, std::size_t len)
{
    std::string name;
    std::size_t i = 0;
    while (i < len && p[i] != 0) {
        std::size_t label = p[i++];
        if (label > 63 || i + label > len) {
            return "";
        }
        if (!name.empty()) {
            name.push_back('.');
        }
        name.append(reinterpret_cast<const char*>(p + i), label);
        i += label;
    }
    return name;
}

}  // namespace

Result<Target> parse_route(std::string_view route)
{
    Target t;
    std::string_view host = route;
    std::string_view port;
    if (route.starts_with('[')) {
        auto close = route.find(']');
        if (close == std::string_view::npos) {
            return Error::invalid("invalid_route", "routes", "unclosed [ in route");
        }
        host = route.substr(1, close - 1);
        if (close + 1 < route.size() && route[close + 1] == ':') {
            port = route.substr(close + 2);
        }
    } else if (auto colon = route.rfind(':'); colon != std::string_view::npos) {
        host = route.substr(0, colon);
        port = route.substr(colon + 1);
    }
    if (host.empty()) {
        return Error::invalid("invalid_route", "routes", "route has no host");
    }
    t.host = std::string(host);
    if (!port.empty()) {
        int p = 0;
        for (char c : port) {
            if (c < '0' || c > '9' || (p = p * 10 + (c - '0')) > 65535) {
                return Error::invalid("invalid_route", "routes", "route port is not a number");
            }
        }
        t.port = static_cast<std::uint16_t>(p);
    }
    return t;
}

Resolver::Resolver(std::map<std::string, std::string> static_routes)
{
    for (auto& [domain, route] : static_routes) {
        routes_[lower(domain)] = route;
    }
}

Resolver::~Resolver() = default;

Result<std::vector<Target>> Resolver::resolve(std::string_view ascii_domain)
{
    std::string domain = lower(ascii_domain);
    if (auto it = routes_.find(domain); it != routes_.end()) {
        auto t = parse_route(it->second);
        if (!t) {
            return t.error();
        }
        return std::vector<Target>{*t};
    }
    {
        std::lock_guard lock(mutex_);
        if (auto it = cache_.find(domain);
            it != cache_.end() && it->second.expires > std::chrono::steady_clock::now()) {
            return it->second.targets;
        }
    }
    auto targets = look_up_mx(domain);
    if (targets) {
        std::lock_guard lock(mutex_);
        cache_[domain] = {*targets, std::chrono::steady_clock::now() + std::chrono::minutes(5)};
    }
    return targets;
}

Result<std::vector<Target>> Resolver::look_up_mx(const std::string& domain)
{
    if (domain.empty() || domain.size() > 253) {
        return Error::permanent("host_unknown", "not a domain name");
    }
    std::unique_ptr<ub_ctx, decltype(&ub_ctx_delete)> ctx(ub_ctx_create(), ub_ctx_delete);
    if (!ctx) {
        return Error::transient("dns_unavailable", "resolver could not start");
    }
    ub_ctx_resolvconf(ctx.get(), nullptr);
    ub_ctx_hosts(ctx.get(), nullptr);
    ub_result* raw = nullptr;
    if (ub_resolve(ctx.get(), domain.c_str(), type_mx, class_in, &raw) != 0 || !raw) {
        return Error::transient("dns_unavailable", "MX look-up failed");
    }
    std::unique_ptr<ub_result, decltype(&ub_resolve_free)> result(raw, ub_resolve_free);
    if (result->nxdomain) {
        return Error::permanent("host_unknown", "the domain does not exist");
    }
    if (result->rcode != 0) {
        return Error::transient("dns_unavailable", "the DNS server failed");
    }

    std::vector<Target> targets;
    for (int i = 0; result->havedata && result->data[i]; ++i) {
        auto* p = reinterpret_cast<const unsigned char*>(result->data[i]);
        std::size_t len = static_cast<std::size_t>(result->len[i]);
        if (len < 3) {
            continue;
        }
        int preference = (p[0] << 8) | p[1];
        std::string host = read_name(p + 2, len - 2);
        // Null MX: the domain says it accepts no mail (RFC 7505).
        if (host.empty() && len == 3) {
            return Error::permanent("null_mx", "the domain accepts no mail (null MX)");
        }
        if (!host.empty()) {
            targets.push_back({lower(host), 25, preference});
        }
    }
    std::stable_sort(targets.begin(), targets.end(), [](const Target& a, const Target& b) {
        return a.preference < b.preference;
    });
    // No MX: the domain itself is the implicit MX (RFC 5321 §5.1).
    if (targets.empty()) {
        targets.push_back({domain, 25, 0});
    }
    return targets;
}

}  // namespace carepost::dns
