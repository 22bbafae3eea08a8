// policy: named token buckets with bounded memory.
#include <algorithm>
#include <cmath>
#include <functional>
#include <list>
#include <mutex>
#include <unordered_map>

#include "policy/policy.hpp"

namespace carepost::policy {

namespace {

// Floating-point refill can land a hair short of a whole token; these keep
// "wait exactly retry_after_ms, then succeed" true.
constexpr double token_slack = 1e-9;
constexpr double millisecond_slack = 1e-6;

// How many of a full shard's least recently used buckets are looked at for
// ones that have refilled completely (see the LIMIT in policy.hpp).
constexpr std::size_t eviction_scan = 64;

// Each shard should hold at least this many buckets, so that one take_all()
// never needs more room in a shard than it has.
constexpr std::size_t min_shard_buckets = 64;
constexpr std::size_t max_shards = 16;

struct Bucket {
    std::string key;
    Rate rate;
    double tokens = 0;
    std::int64_t last_ms = 0;
    bool is_pinned = false;  // in use by the current take_all(); not evictable
};

std::int64_t ceil_ms(double tokens, const Rate& rate)
{
    if (tokens <= token_slack) {
        return 0;
    }
    return static_cast<std::int64_t>(
        std::ceil(tokens * 1000 / rate.per_second - millisecond_slack));
}

double tokens_at(const Bucket& b, std::int64_t now_ms)
{
    double elapsed_ms = static_cast<double>(std::max<std::int64_t>(0, now_ms - b.last_ms));
    return std::min(b.rate.burst, b.tokens + elapsed_ms * b.rate.per_second / 1000);
}

bool is_full(const Bucket& b, std::int64_t now_ms)
{
    return tokens_at(b, now_ms) >= b.rate.burst - token_slack;
}

// Brings a bucket to now_ms under `rate`; a lowered burst cuts its tokens.
void refill(Bucket& b, const Rate& rate, std::int64_t now_ms)
{
    b.tokens = tokens_at(b, now_ms);
    b.last_ms = std::max(b.last_ms, now_ms);
    b.rate = rate;
    b.tokens = std::min(b.tokens, rate.burst);
}

// What taking `cost` from a refilled bucket would do; charges nothing.
Decision evaluate(const Bucket& b, double cost)
{
    Decision d;
    d.limit = b.rate.burst;
    if (cost > b.rate.burst + token_slack) {
        d.allowed = false;
        d.retry_after_ms = -1;
    } else if (b.tokens + token_slack >= cost) {
        d.remaining = std::max(0.0, b.tokens - cost);
        d.reset_ms = ceil_ms(b.rate.burst - d.remaining, b.rate);
        return d;
    } else {
        d.allowed = false;
        d.retry_after_ms = std::max<std::int64_t>(1, ceil_ms(cost - b.tokens, b.rate));
    }
    d.remaining = std::max(0.0, b.tokens);
    d.reset_ms = ceil_ms(b.rate.burst - d.remaining, b.rate);
    return d;
}

void charge(Bucket& b, double cost)
{
    b.tokens = std::max(0.0, b.tokens - cost);
}

// True when `a` tells the client less room than `b`.
bool is_more_restrictive(const Decision& a, const Decision& b)
{
    if (a.allowed != b.allowed) {
        return !a.allowed;
    }
    if (!a.allowed) {
        // A wait of -1 (never) is the longest.
        auto wait = [](const Decision& d) {
            return d.retry_after_ms < 0 ? INT64_MAX : d.retry_after_ms;
        };
        return wait(a) > wait(b);
    }
    if (a.remaining != b.remaining) {
        return a.remaining < b.remaining;
    }
    return a.reset_ms > b.reset_ms;
}

}  // namespace

struct RateLimiter::Shard {
    std::mutex mutex;
    std::size_t capacity = 0;
    std::list<Bucket> lru;  // front: most recently used
    // Keys view the strings inside the list nodes, which never move.
    std::unordered_map<std::string_view, std::list<Bucket>::iterator> index;

    Bucket& find_or_create(const std::string& key, const Rate& rate, std::int64_t now_ms);
    void make_room(std::int64_t now_ms);
};

// The bucket for `key`, moved to the front, or a new full one.
Bucket&
RateLimiter::Shard::find_or_create(const std::string& key, const Rate& rate, std::int64_t now_ms)
{
    if (auto found = index.find(key); found != index.end()) {
        lru.splice(lru.begin(), lru, found->second);
        return *found->second;
    }

    if (index.size() >= capacity) {
        make_room(now_ms);
    }
    lru.push_front(Bucket{key, rate, rate.burst, now_ms, false});
    index.emplace(lru.front().key, lru.begin());
    return lru.front();
}

// Frees at least one slot: full buckets near the old end first, else the
// least recently used one that no take_all() in progress holds.
void RateLimiter::Shard::make_room(std::int64_t now_ms)
{
    bool has_freed = false;
    std::size_t scanned = 0;
    for (auto it = lru.end(); it != lru.begin() && scanned < eviction_scan; ++scanned) {
        auto candidate = std::prev(it);
        if (!candidate->is_pinned && is_full(*candidate, now_ms)) {
            index.erase(candidate->key);
            lru.erase(candidate);
            has_freed = true;
        } else {
            it = candidate;
        }
    }
    if (has_freed) {
        return;
    }

    for (auto it = lru.end(); it != lru.begin();) {
        --it;
        if (!it->is_pinned) {
            index.erase(it->key);
            lru.erase(it);
            return;
        }
    }
}

RateLimiter::RateLimiter(std::size_t max_buckets)
{
    max_buckets = std::max<std::size_t>(1, max_buckets);
    shard_count_ = std::clamp<std::size_t>(max_buckets / min_shard_buckets, 1, max_shards);
    shards_ = std::make_unique<Shard[]>(shard_count_);

    // Capacities add up to max_buckets exactly.
    for (std::size_t i = 0; i < shard_count_; ++i) {
        shards_[i].capacity = max_buckets / shard_count_ + (i < max_buckets % shard_count_ ? 1 : 0);
    }
}

RateLimiter::~RateLimiter() = default;

RateLimiter::Shard& RateLimiter::shard_for(std::string_view key) const
{
    return shards_[std::hash<std::string_view>{}(key) % shard_count_];
}

Decision
RateLimiter::take(const std::string& key, const Rate& rate, double cost, std::int64_t now_ms)
{
    if (rate.is_unlimited()) {
        return {};
    }
    cost = std::max(0.0, cost);

    Shard& shard = shard_for(key);
    std::lock_guard lock(shard.mutex);
    Bucket& b = shard.find_or_create(key, rate, now_ms);
    refill(b, rate, now_ms);
    Decision d = evaluate(b, cost);
    if (d.allowed) {
        charge(b, cost);
    }
    return d;
}

RateLimiter::Multi RateLimiter::take_all(
    const std::vector<std::pair<std::string, Rate>>& buckets, double cost, std::int64_t now_ms)
{
    cost = std::max(0.0, cost);

    // Lock every shard involved, in one global order, so that two calls
    // over the same keys cannot deadlock.
    std::vector<Shard*> shards;
    for (const auto& [key, rate] : buckets) {
        if (!rate.is_unlimited()) {
            shards.push_back(&shard_for(key));
        }
    }
    std::sort(shards.begin(), shards.end());
    shards.erase(std::unique(shards.begin(), shards.end()), shards.end());
    std::vector<std::unique_lock<std::mutex>> locks;
    for (Shard* s : shards) {
        locks.emplace_back(s->mutex);
    }

    // Pinned, so that making room for a later key cannot evict an earlier one.
    std::vector<Bucket*> held(buckets.size(), nullptr);
    for (std::size_t i = 0; i < buckets.size(); ++i) {
        const auto& [key, rate] = buckets[i];
        if (!rate.is_unlimited()) {
            held[i] = &shard_for(key).find_or_create(key, rate, now_ms);
            held[i]->is_pinned = true;
            refill(*held[i], rate, now_ms);
        }
    }

    // Charge in order (a key listed twice sees its first charge), keeping
    // what each bucket held so that one refusal can undo the rest.
    Multi result;
    std::vector<double> before(buckets.size(), 0);
    bool has_first = false;
    for (std::size_t i = 0; i < buckets.size(); ++i) {
        if (!held[i]) {
            continue;
        }
        before[i] = held[i]->tokens;
        Decision d = evaluate(*held[i], cost);
        if (d.allowed) {
            charge(*held[i], cost);
        }
        if (!has_first || is_more_restrictive(d, result.decision)) {
            result.decision = d;
            result.refused_index = d.allowed ? -1 : static_cast<int>(i);
            has_first = true;
        }
    }

    // Undo in reverse, so a key listed twice ends at its first snapshot.
    for (std::size_t i = buckets.size(); i-- > 0;) {
        if (held[i]) {
            if (!result.decision.allowed) {
                held[i]->tokens = before[i];
            }
            held[i]->is_pinned = false;
        }
    }
    return result;
}

std::size_t RateLimiter::size() const
{
    std::size_t total = 0;
    for (std::size_t i = 0; i < shard_count_; ++i) {
        std::lock_guard lock(shards_[i].mutex);
        total += shards_[i].index.size();
    }
    return total;
}

}  // namespace carepost::policy
