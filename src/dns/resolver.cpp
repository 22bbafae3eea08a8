#include <algorithm>
#include <charconv>
#include <chrono>
#include <mutex>
#include <optional>
#include <random>

#include <unbound.h>

#include "dns/dns.hpp"

namespace carepost::dns {
namespace {

constexpr int kTypeA = 1;
constexpr int kTypeMx = 15;
constexpr int kTypeAaaa = 28;
constexpr int kClassIn = 1;
constexpr int kRcodeNxdomain = 3;
constexpr std::uint32_t kMaxCacheTtl = 300;  // seconds
constexpr std::uint32_t kMinCacheTtl = 5;  // seconds: a TTL of 0 must not mean a query per message
constexpr std::size_t kMaxCacheEntries = 50000;

std::string lower(std::string_view s)
{
    std::string out(s);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return out;
}

// RFC 1035 §2.3.4 limits and RFC 1123 §2.1 LDH labels (no hyphen at either
// end), plus '_' as seen in the wild; A-labels only.
bool is_valid_domain(std::string_view domain)
{
    if (domain.empty() || domain.size() > 253) {
        return false;
    }
    std::size_t start = 0;
    while (start <= domain.size()) {
        std::size_t end = std::min(domain.find('.', start), domain.size());
        std::string_view label = domain.substr(start, end - start);
        if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
            return false;
        }
        for (char c : label) {
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) {
                return false;
            }
        }
        start = end + 1;
    }
    return true;
}

// An MX rdata: 16-bit preference, then an uncompressed wire-format name.
bool parse_mx(const char* data, int size, Target& out)
{
    auto bytes = reinterpret_cast<const unsigned char*>(data);
    if (size < 3) {
        return false;
    }
    out.preference = (bytes[0] << 8) | bytes[1];
    std::string name;
    int pos = 2;
    while (pos < size && bytes[pos] != 0) {
        int length = bytes[pos];
        if (length > 63 || pos + 1 + length > size) {
            return false;
        }
        if (!name.empty()) {
            name += '.';
        }
        name.append(data + pos + 1, static_cast<std::size_t>(length));
        pos += 1 + length;
    }
    out.host = lower(name);
    return pos < size;
}

struct Answer {
    int rcode = 0;
    bool has_data = false;
    bool is_nxdomain = false;
    std::uint32_t ttl = 0;
    std::vector<std::string> rdata;
};

}  // namespace

struct Resolver::Context {
    ub_ctx* ctx = nullptr;
    std::string setup_error;

    struct Cached {
        Result<std::vector<Target>> answer;
        std::chrono::steady_clock::time_point expires;
    };
    std::mutex cache_mutex;
    std::map<std::string, Cached> cache;  // guarded by cache_mutex

    std::optional<Result<std::vector<Target>>> find_cached(const std::string& domain)
    {
        std::lock_guard lock(cache_mutex);
        auto it = cache.find(domain);
        if (it == cache.end() || it->second.expires < std::chrono::steady_clock::now()) {
            return std::nullopt;
        }
        return it->second.answer;
    }

    // Answers and permanent errors are kept for their TTL, at most
    // kMaxCacheTtl; transient errors are not kept, so a retry asks again.
    void store(const std::string& domain, const Result<std::vector<Target>>& answer)
    {
        if (!answer && answer.error().is_transient()) {
            return;
        }
        std::uint32_t ttl = kMaxCacheTtl;
        for (const Target& target : answer ? *answer : std::vector<Target>{}) {
            ttl = std::min(ttl, target.ttl_seconds);
        }
        auto now = std::chrono::steady_clock::now();
        std::lock_guard lock(cache_mutex);
        if (cache.size() >= kMaxCacheEntries) {
            std::erase_if(cache, [&](const auto& entry) { return entry.second.expires < now; });
        }
        if (cache.size() < kMaxCacheEntries) {
            cache[domain] = {answer, now + std::chrono::seconds(std::max(ttl, kMinCacheTtl))};
        }
    }
    ~Context()
    {
        if (ctx != nullptr) {
            ub_ctx_delete(ctx);
        }
    }

    Result<Answer> query(const std::string& name, int type)
    {
        ub_result* result = nullptr;
        int rc = ub_resolve(ctx, name.c_str(), type, kClassIn, &result);
        if (rc != 0) {
            return Error::transient("dns_failed", std::string("resolver: ") + ub_strerror(rc));
        }
        Answer answer;
        answer.rcode = result->rcode;
        answer.has_data = result->havedata != 0;
        answer.is_nxdomain = result->nxdomain != 0;
        answer.ttl = static_cast<std::uint32_t>(std::max(result->ttl, 0));
        for (int i = 0; result->data != nullptr && result->data[i] != nullptr; ++i) {
            answer.rdata.emplace_back(result->data[i], static_cast<std::size_t>(result->len[i]));
        }
        ub_resolve_free(result);
        return answer;
    }
};

Result<Target> parse_route(std::string_view route)
{
    Target target;
    std::string_view port;
    bool has_port = false;
    if (!route.empty() && route.front() == '[') {
        auto close = route.find(']');
        if (close == std::string_view::npos) {
            return Error::permanent("bad_route", "unterminated IPv6 literal in route");
        }
        target.host = std::string(route.substr(1, close - 1));
        std::string_view rest = route.substr(close + 1);
        if (!rest.empty() && rest.front() != ':') {
            return Error::permanent("bad_route", "text after IPv6 literal in route");
        }
        has_port = !rest.empty();
        port = has_port ? rest.substr(1) : "";
    } else if (std::count(route.begin(), route.end(), ':') == 1) {
        target.host = std::string(route.substr(0, route.find(':')));
        port = route.substr(route.find(':') + 1);
        has_port = true;
    } else {
        target.host = std::string(route);  // a name, or a bare IPv6 literal
    }

    if (has_port) {
        unsigned value = 0;
        auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (ec != std::errc() || ptr != port.data() + port.size() || value == 0 || value > 65535) {
            return Error::permanent("bad_route", "route port is not 1..65535");
        }
        target.port = static_cast<std::uint16_t>(value);
    }
    if (target.host.empty()) {
        return Error::permanent("bad_route", "route has no host");
    }
    return target;
}

Resolver::Resolver(std::map<std::string, std::string> static_routes)
    : Resolver(std::move(static_routes), ResolverOptions{})
{}

Resolver::Resolver(std::map<std::string, std::string> static_routes, ResolverOptions options)
    : context_(std::make_unique<Context>())
{
    for (auto& [domain, route] : static_routes) {
        std::string key = lower(domain);
        if (!key.empty() && key.back() == '.') {
            key.pop_back();
        }
        routes_[key] = route;
    }

    // Configuration must be complete before the first query: libunbound
    // freezes it then, and only queries are thread-safe afterwards.
    context_->ctx = ub_ctx_create();
    if (context_->ctx == nullptr) {
        context_->setup_error = "cannot create the resolver context";
        return;
    }
    if (!options.resolv_conf.empty() &&
        ub_ctx_resolvconf(context_->ctx, options.resolv_conf.c_str()) != 0) {
        context_->setup_error = "cannot read the resolver configuration";
    }
    for (auto& [zone, type] : options.local_zones) {
        ub_ctx_zone_add(context_->ctx, zone.c_str(), type.c_str());
    }
    for (auto& record : options.local_data) {
        if (ub_ctx_data_add(context_->ctx, record.c_str()) != 0) {
            context_->setup_error = "a local DNS record does not parse";
        }
    }
}

Resolver::~Resolver() = default;

namespace {

// Orders by preference; equal preferences are shuffled to spread load
// (RFC 5321 §5.1).
void order_targets(std::vector<Target>& targets)
{
    thread_local std::mt19937 random{std::random_device{}()};
    std::shuffle(targets.begin(), targets.end(), random);
    std::stable_sort(targets.begin(), targets.end(), [](const Target& a, const Target& b) {
        return a.preference < b.preference;
    });
}

Error error_for(const Answer& answer)
{
    if (answer.is_nxdomain || answer.rcode == kRcodeNxdomain) {
        return Error::permanent("host_unknown", "domain does not exist (NXDOMAIN)");
    }
    return Error::transient(
        "dns_failed", "DNS query failed, rcode " + std::to_string(answer.rcode));
}

}  // namespace

Result<std::vector<Target>> Resolver::resolve(std::string_view ascii_domain)
{
    std::string domain = lower(ascii_domain);
    if (!domain.empty() && domain.back() == '.') {
        domain.pop_back();
    }
    auto route = routes_.find(domain);
    if (route == routes_.end()) {
        route = routes_.find("*");
    }
    if (route != routes_.end()) {
        auto target = parse_route(route->second);
        if (!target) {
            return target.error();
        }
        return std::vector<Target>{*target};
    }

    // An address literal ("user@[192.0.2.1]") names the host itself.
    if (domain.size() > 2 && domain.front() == '[' && domain.back() == ']') {
        std::string inner = domain.substr(1, domain.size() - 2);
        if (inner.rfind("ipv6:", 0) == 0) {
            inner.erase(0, 5);
        }
        return std::vector<Target>{Target{inner, 25, 0, 300}};
    }
    if (!is_valid_domain(domain)) {
        return Error::permanent("bad_domain", "not a valid ASCII domain name");
    }
    if (!context_->setup_error.empty()) {
        return Error::transient("dns_failed", context_->setup_error);
    }
    auto answer = context_->find_cached(domain);
    if (!answer) {
        answer = look_up(domain);
        context_->store(domain, *answer);
    }
    if (answer->has_value()) {
        order_targets(answer->value());
    }
    return std::move(*answer);
}

Result<std::vector<Target>> Resolver::look_up(const std::string& domain)
{
    auto mx = context_->query(domain, kTypeMx);
    if (!mx) {
        return mx.error();
    }
    if (mx->rcode != 0) {
        return error_for(*mx);
    }
    if (mx->has_data) {
        std::vector<Target> targets;
        bool has_null = false;
        for (const std::string& rdata : mx->rdata) {
            Target target;
            target.ttl_seconds = mx->ttl;
            if (!parse_mx(rdata.data(), static_cast<int>(rdata.size()), target)) {
                continue;
            }
            // RFC 7505: MX 0 "." says the domain takes no mail.
            if (target.host.empty()) {
                has_null = true;
                continue;
            }
            targets.push_back(std::move(target));
        }
        if (targets.empty() && has_null) {
            return Error::permanent("null_mx", "domain publishes a null MX: it takes no mail");
        }
        if (!targets.empty()) {
            return targets;
        }
    }

    // RFC 5321 §5.1: no MX records, so the domain is its own implicit MX.
    for (int type : {kTypeA, kTypeAaaa}) {
        auto address = context_->query(domain, type);
        if (!address) {
            return address.error();
        }
        if (address->rcode != 0) {
            return error_for(*address);
        }
        if (address->has_data) {
            return std::vector<Target>{Target{domain, 25, 0, address->ttl}};
        }
    }
    return Error::permanent("no_address", "domain has neither MX nor address records");
}

}  // namespace carepost::dns
