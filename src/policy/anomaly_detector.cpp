// policy: per-key detection of sending far above the key's own history.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <mutex>
#include <unordered_map>

#include "policy/policy.hpp"

namespace carepost::policy {

namespace {

constexpr std::int64_t seconds_per_hour = 3600;
constexpr std::int64_t max_window_buckets = 600;
constexpr std::size_t shard_count = 16;
constexpr std::int64_t unset = std::numeric_limits<std::int64_t>::min();

// Floor division, so that times before 1970 still fall in the right hour.
std::int64_t floor_div(std::int64_t a, std::int64_t b)
{
    std::int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

std::int64_t floor_mod(std::int64_t a, std::int64_t b)
{
    return a - floor_div(a, b) * b;
}

struct HourSlot {
    std::int64_t hour = unset;
    std::int64_t recipients = 0;
};

struct WindowSlot {
    std::int64_t recipients = 0;
    std::int64_t to_new_domains = 0;
};

}  // namespace

struct AnomalyDetector::KeyState {
    std::vector<HourSlot> hours;     // ring indexed by hour
    std::vector<WindowSlot> window;  // ring indexed by bucket number
    std::int64_t first_hour = unset;
    std::int64_t latest_s = unset;
    std::int64_t latest_bucket = unset;  // the bucket the window ring ends at
    std::int64_t window_recipients = 0;
    std::int64_t window_to_new_domains = 0;
    std::int64_t grace_until_s = unset;

    // Domain -> second it was first seen (unset: known from history).
    std::unordered_map<std::string, std::int64_t> seen;

    // The baseline only changes when the window's start enters a new hour.
    std::int64_t baseline_end_hour = unset;
    double baseline = 0;

    void add_to_hour(std::int64_t hour, std::int64_t recipients);
    void advance_window(std::int64_t bucket);
    void clear_window();
};

struct AnomalyDetector::Shard {
    std::mutex mutex;
    std::unordered_map<std::string, KeyState> keys;
};

void AnomalyDetector::KeyState::add_to_hour(std::int64_t hour, std::int64_t recipients)
{
    HourSlot& slot = hours[floor_mod(hour, static_cast<std::int64_t>(hours.size()))];
    if (slot.hour != hour) {
        slot = {hour, 0};
    }
    slot.recipients += recipients;
}

// Moves the window's end to `bucket`, emptying the buckets that fall out.
void AnomalyDetector::KeyState::advance_window(std::int64_t bucket)
{
    auto count = static_cast<std::int64_t>(window.size());
    if (latest_bucket == unset || bucket - latest_bucket >= count) {
        clear_window();
        latest_bucket = bucket;
        return;
    }
    for (std::int64_t b = latest_bucket + 1; b <= bucket; ++b) {
        WindowSlot& slot = window[floor_mod(b, count)];
        window_recipients -= slot.recipients;
        window_to_new_domains -= slot.to_new_domains;
        slot = {};
    }
    latest_bucket = std::max(latest_bucket, bucket);
}

void AnomalyDetector::KeyState::clear_window()
{
    std::fill(window.begin(), window.end(), WindowSlot{});
    window_recipients = 0;
    window_to_new_domains = 0;
}

AnomalyDetector::AnomalyDetector(AnomalyOptions options) : options_(std::move(options))
{
    // Nonsense settings would divide by zero or keep no history at all.
    options_.window_seconds = std::max<std::int64_t>(1, options_.window_seconds);
    options_.history_days = std::max<std::int64_t>(1, options_.history_days);

    bucket_seconds_ = (options_.window_seconds + max_window_buckets - 1) / max_window_buckets;
    bucket_count_ = (options_.window_seconds + bucket_seconds_ - 1) / bucket_seconds_;

    // The ring covers the history hours, the hours the window spans, and the
    // partial hour between them.
    hour_slots_ = options_.history_days * 24 +
                  (options_.window_seconds + seconds_per_hour - 1) / seconds_per_hour + 2;
    shards_ = std::make_unique<Shard[]>(shard_count);
}

AnomalyDetector::~AnomalyDetector() = default;

AnomalyDetector::Shard& AnomalyDetector::shard_for(std::string_view key_id) const
{
    return shards_[std::hash<std::string_view>{}(key_id) % shard_count];
}

AnomalyDetector::KeyState& AnomalyDetector::state_for(Shard& shard, const std::string& key_id)
{
    auto [it, is_new] = shard.keys.try_emplace(key_id);
    if (is_new) {
        it->second.hours.resize(static_cast<std::size_t>(hour_slots_));
        it->second.window.resize(static_cast<std::size_t>(bucket_count_));
    }
    return it->second;
}

void AnomalyDetector::load_history(
    const std::string& key_id,
    const std::vector<HourlyVolume>& hours,
    const std::vector<std::string>& seen_domains)
{
    Shard& shard = shard_for(key_id);
    std::lock_guard lock(shard.mutex);
    KeyState& state = state_for(shard, key_id);

    // A slot keeps the newer of two hours that share it.
    for (const HourlyVolume& h : hours) {
        if (state.first_hour == unset || h.hour < state.first_hour) {
            state.first_hour = h.hour;
        }
        HourSlot& slot = state.hours[floor_mod(h.hour, hour_slots_)];
        if (slot.hour == unset || slot.hour <= h.hour) {
            slot = {h.hour, std::max<std::int64_t>(0, h.recipients)};
        }
    }
    state.baseline_end_hour = unset;

    for (const std::string& domain : seen_domains) {
        if (auto found = state.seen.find(domain); found != state.seen.end()) {
            found->second = unset;
        } else if (state.seen.size() < options_.max_seen_domains) {
            state.seen.emplace(domain, unset);
        }
    }
}

Verdict AnomalyDetector::observe(
    const std::string& key_id,
    const std::vector<std::string>& domains,
    std::int64_t now_s,
    std::vector<std::string>* new_domains)
{
    Shard& shard = shard_for(key_id);
    std::lock_guard lock(shard.mutex);
    KeyState& state = state_for(shard, key_id);

    // A clock stepping back must not reopen an old window.
    now_s = state.latest_s == unset ? now_s : std::max(now_s, state.latest_s);
    state.latest_s = now_s;
    const std::int64_t hour = floor_div(now_s, seconds_per_hour);
    if (state.first_hour == unset) {
        state.first_hour = hour;
    }
    state.advance_window(floor_div(now_s, bucket_seconds_));

    // A domain first seen within the window still counts as new, so that a
    // burst to one fresh domain is not hidden by its own first recipient.
    std::int64_t to_new_domains = 0;
    const std::int64_t window_start_s = now_s - options_.window_seconds;
    for (const std::string& domain : domains) {
        auto found = state.seen.find(domain);
        if (found == state.seen.end()) {
            ++to_new_domains;
            if (state.seen.size() < options_.max_seen_domains) {
                state.seen.emplace(domain, now_s);
                if (new_domains) {
                    new_domains->push_back(domain);
                }
            }
        } else if (found->second != unset && found->second > window_start_s) {
            ++to_new_domains;
        }
    }

    auto recipients = static_cast<std::int64_t>(domains.size());
    WindowSlot& slot = state.window[floor_mod(state.latest_bucket, bucket_count_)];
    slot.recipients += recipients;
    slot.to_new_domains += to_new_domains;
    state.window_recipients += recipients;
    state.window_to_new_domains += to_new_domains;
    state.add_to_hour(hour, recipients);

    return judge(state, now_s);
}

// The rule documented on the class, for a state that already holds the call.
Verdict AnomalyDetector::judge(KeyState& state, std::int64_t now_s)
{
    if (!options_.enabled || (state.grace_until_s != unset && now_s < state.grace_until_s)) {
        return {};
    }

    const double threshold = std::max(
        static_cast<double>(options_.floor_recipients),
        options_.multiple * baseline_per_hour(state, now_s) *
            static_cast<double>(options_.window_seconds) / seconds_per_hour);
    const auto in_window = static_cast<double>(state.window_recipients);
    if (in_window > threshold) {
        return {true, "volume"};
    }

    // Without enough history every domain is new; with a full domain set
    // "new" no longer means never seen.
    const std::int64_t hour = floor_div(now_s, seconds_per_hour);
    const bool has_history = hour - state.first_hour >= options_.min_history_hours;
    const bool has_room = state.seen.size() < options_.max_seen_domains;
    if (has_history && has_room && in_window > 0 &&
        in_window * 2 >= static_cast<double>(options_.floor_recipients) &&
        static_cast<double>(state.window_to_new_domains) / in_window >= options_.new_domain_share) {
        return {true, "new_domains"};
    }
    return {};
}

// Mean recipients per hour over the whole hours before the window, from the
// key's first hour and at most history_days back; quiet hours count as zero.
double AnomalyDetector::baseline_per_hour(KeyState& state, std::int64_t now_s)
{
    const std::int64_t end_hour = floor_div(now_s - options_.window_seconds, seconds_per_hour);
    if (end_hour == state.baseline_end_hour) {
        return state.baseline;
    }

    const std::int64_t begin_hour =
        std::max(state.first_hour, end_hour - options_.history_days * 24);
    std::int64_t sum = 0;
    for (std::int64_t h = begin_hour; h < end_hour; ++h) {
        const HourSlot& slot = state.hours[floor_mod(h, hour_slots_)];
        if (slot.hour == h) {
            sum += slot.recipients;
        }
    }
    state.baseline = end_hour > begin_hour
                         ? static_cast<double>(sum) / static_cast<double>(end_hour - begin_hour)
                         : 0.0;
    state.baseline_end_hour = end_hour;
    return state.baseline;
}

void AnomalyDetector::lift(
    const std::string& key_id, std::int64_t now_s, std::int64_t grace_seconds)
{
    Shard& shard = shard_for(key_id);
    std::lock_guard lock(shard.mutex);
    KeyState& state = state_for(shard, key_id);
    state.clear_window();
    state.grace_until_s = now_s + std::max<std::int64_t>(0, grace_seconds);
}

void AnomalyDetector::forget(const std::string& key_id)
{
    Shard& shard = shard_for(key_id);
    std::lock_guard lock(shard.mutex);
    shard.keys.erase(key_id);
}

std::size_t AnomalyDetector::seen_domain_count(const std::string& key_id) const
{
    Shard& shard = shard_for(key_id);
    std::lock_guard lock(shard.mutex);
    auto found = shard.keys.find(key_id);
    return found == shard.keys.end() ? 0 : found->second.seen.size();
}

}  // namespace carepost::policy
