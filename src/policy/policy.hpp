// policy: rate limits, recipient domain rules and abnormal-sending detection.
//
// Owns: token buckets keyed by caller-chosen names (API key, organisation,
//   route), the HTTP rate-limit headers for a decision, allow/deny rules on
//   recipient domains, and the per-key detector that asks for a suspension
//   when a key sends far above its own history.
// Pure: no I/O, no store, no threads, no clock. Every call takes the time as
//   an argument, so tests simulate days; the caller loads history from the
//   store and persists what observe() reports.
// Trust boundary: bucket keys and recipient domains derive from requests of
//   authenticated clients (domains from recipient addresses, already A-labels);
//   domain rules come from administrators and are checked by
//   check_domain_rules() before they are stored.
// Thread safety: every class may be called from many threads at once
//   (sharded mutexes; one short critical section per call).
// RFCs: 9110 §10.2.3 (Retry-After), 8941 (structured fields) as used by
//   draft-ietf-httpapi-ratelimit-headers; 5890 (A-labels), 1035 §2.3.4 (lengths).
// Logs: nothing. The caller logs decisions with key and organisation ids;
//   domains are recipient data and stay out of logs.
// Limits:
//   LIMIT(#2): a full RateLimiter shard scans only its 64 least recently
//              used buckets for full ones before evicting the oldest; idle
//              buckets gather at that end, so this finds them in practice and
//              keeps each call O(1); the fix is a timer-ordered index of
//              buckets by the time they become full.
//   LIMIT(#2): limits are per process; several nodes each allow the full rate;
//              acceptable for the one-node default; the fix is a shared
//              counter in the store (or per-node shares of the rate).
//   LIMIT(#2): check_domain_rules() does not decode xn-- labels, so a badly
//              encoded A-label is accepted (it simply never matches); the fix
//              is idn2_to_unicode_8z8z() on each xn-- label.
//   LIMIT(#2): once a key has seen max_seen_domains domains, AnomalyDetector
//              stops learning domains and no longer applies the new-domain
//              rule to it (the volume rule still holds); acceptable because
//              such keys are rare and broad by nature; the fix is an aged
//              (least recently seen) domain set.
//   LIMIT(#2): AnomalyDetector keeps state for every key it has seen until
//              forget() (about 13 KiB a key); fine for thousands of keys; the
//              fix is dropping keys idle for longer than history_days.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.hpp"

namespace carepost::policy {

// ---------------------------------------------------------------------------
// Token buckets

// A bucket that refills at per_second tokens a second up to burst tokens.
struct Rate {
    double per_second = 0;  // <= 0 means unlimited
    double burst = 0;
    bool is_unlimited() const { return per_second <= 0; }
};

struct Decision {
    bool allowed = true;
    double limit = 0;                 // the bucket's capacity (burst); 0 when unlimited
    double remaining = 0;             // tokens left after this decision, never below 0
    std::int64_t retry_after_ms = 0;  // refused: time until `cost` tokens are there; -1: never
    std::int64_t reset_ms = 0;        // time until the bucket is full again
};

// Named token buckets, created full on first use. An unlimited Rate always
// allows and creates no bucket. A bucket takes the Rate of its latest call
// (a lowered burst cuts its tokens). Time going backwards refills nothing.
// Memory: at most max_buckets buckets; when full, buckets that have refilled
// completely go first (they hold no state worth keeping), else the least
// recently used.
class RateLimiter {
public:
    explicit RateLimiter(std::size_t max_buckets = 100000);
    ~RateLimiter();
    RateLimiter(const RateLimiter&) = delete;
    RateLimiter& operator=(const RateLimiter&) = delete;

    // Takes `cost` tokens from bucket `key` at now_ms. A refused request takes
    // nothing. A cost above the burst is refused with retry_after_ms = -1.
    Decision take(const std::string& key, const Rate& rate, double cost, std::int64_t now_ms);

    // take() over several buckets at once: all allow and all are charged, or
    // none is. `decision` is the most restrictive one: the refusal with the
    // longest wait (refused_index says whose), else the one with the fewest
    // tokens left. Unlimited entries are skipped. A key listed twice is
    // charged twice.
    struct Multi {
        Decision decision;
        int refused_index = -1;
    };
    Multi take_all(
        const std::vector<std::pair<std::string, Rate>>& buckets, double cost, std::int64_t now_ms);

    std::size_t size() const;

private:
    struct Shard;
    Shard& shard_for(std::string_view key) const;

    std::size_t shard_count_ = 1;
    std::unique_ptr<Shard[]> shards_;
};

// The response headers for a decision, in the structured-field form of
// draft-ietf-httpapi-ratelimit-headers:
//   RateLimit-Policy: "<name>";q=<burst>;w=<ceil(burst / per_second) seconds>
//   RateLimit: "<name>";r=<remaining, rounded down>;t=<seconds to full, rounded up>
// plus, when refused, Retry-After: <seconds, rounded up, at least 1> (none
// when the cost can never fit). Unlimited rates get no headers. Characters
// of the name outside printable ASCII are dropped; '"' and '\' are escaped.
std::vector<std::pair<std::string, std::string>>
rate_limit_headers(const std::string& policy_name, const Rate& rate, const Decision& d);

// ---------------------------------------------------------------------------
// Recipient domain rules

// Patterns are A-label domains. "example.org" matches example.org only;
// "*.example.org" matches every subdomain of example.org, not example.org
// itself. An empty allow list allows every domain; deny wins over allow.
struct DomainRules {
    std::vector<std::string> allow;
    std::vector<std::string> deny;
};

// Whether mail may go to `domain` (an A-label). Case-insensitive; one
// trailing dot on the domain or a pattern is ignored; an empty domain is
// refused. Organisation and key rules are separate: call once for each.
bool is_domain_allowed(const DomainRules& rules, std::string_view domain);

// Checks rules given by an administrator. Error "invalid_domain_rule"
// (permanent) with field "allow_domains[i]" or "deny_domains[i]" for an
// empty or over-long (> 253 octets) pattern, a label empty or over 63
// octets or with a hyphen at either end, a character other than letters,
// digits, '-' and '.', or '*' anywhere but a leading "*.".
Result<void> check_domain_rules(const DomainRules& rules);

// ---------------------------------------------------------------------------
// Abnormal sending

struct AnomalyOptions {
    bool enabled = true;
    std::int64_t window_seconds = 600;     // "recent"
    double multiple = 10;                  // recent rate vs. the key's own hourly baseline
    std::int64_t floor_recipients = 1000;  // never suspend below this many in the window
    double new_domain_share = 0.8;         // share of window recipients to new domains
    std::int64_t min_history_hours = 24;   // the new-domain rule needs this much history
    std::int64_t history_days = 7;
    std::size_t max_seen_domains = 10000;  // per key; beyond it no domain is learnt
};

struct HourlyVolume {
    std::int64_t hour = 0;  // unix_seconds / 3600
    std::int64_t recipients = 0;
};

struct Verdict {
    bool suspend = false;
    std::string reason;  // "volume" or "new_domains"; never recipient data
};

// Per API key, compares recent recipient volume, and the share of recipients
// to domains the key had not seen before, with that key's own history.
//
// The rule, at time now (seconds), after counting the call being judged:
//   window      the last window_seconds seconds, (now - window_seconds, now].
//   baseline    mean recipients per hour over the whole hours that end at or
//               before now - window_seconds, from the key's first recorded
//               hour (quiet hours count as zero) and at most history_days
//               back. No such hour: baseline 0.
//   threshold   max(floor_recipients, multiple * baseline * window_seconds / 3600).
//   "volume"    recipients in the window > threshold.
//   "new_domains"  the key's first recorded hour is at least
//               min_history_hours before the current hour, and the window
//               holds >= floor_recipients / 2 recipients, and the share of
//               them sent to new domains >= new_domain_share. A recipient is
//               to a new domain when, at the time of its send, the key had
//               never seen the domain or first saw it within the window.
// The volume rule is checked first. Time going backwards counts as the latest
// time seen. Windows longer than 600 s use buckets of ceil(window / 600) s.
// Memory per key: an hourly ring (history_days * 24 hours and the window),
// at most 600 window buckets, and at most max_seen_domains domains.
class AnomalyDetector {
public:
    explicit AnomalyDetector(AnomalyOptions options);
    ~AnomalyDetector();
    AnomalyDetector(const AnomalyDetector&) = delete;
    AnomalyDetector& operator=(const AnomalyDetector&) = delete;

    // History loaded at start-up from the store. An hour given twice keeps
    // the last value; the earliest hour becomes the key's first recorded hour.
    void load_history(
        const std::string& key_id,
        const std::vector<HourlyVolume>& hours,
        const std::vector<std::string>& seen_domains);

    // Records a send to `domains` (one entry per recipient, lower-case
    // A-labels) at now_s and judges the key. Appends to *new_domains each
    // domain learnt by this call, once, for the caller to persist.
    Verdict observe(
        const std::string& key_id,
        const std::vector<std::string>& domains,
        std::int64_t now_s,
        std::vector<std::string>* new_domains = nullptr);

    // An administrator lifted a suspension: forget the key's recent window
    // and do not judge it until now_s + grace_seconds. Sends keep counting.
    void lift(const std::string& key_id, std::int64_t now_s, std::int64_t grace_seconds = 3600);

    // Drops everything known about a key (revoked or deleted).
    void forget(const std::string& key_id);

    // How many domains the key has learnt (for metrics and tests).
    std::size_t seen_domain_count(const std::string& key_id) const;

private:
    struct KeyState;
    struct Shard;
    Shard& shard_for(std::string_view key_id) const;
    KeyState& state_for(Shard& shard, const std::string& key_id);
    Verdict judge(KeyState& state, std::int64_t now_s);
    double baseline_per_hour(KeyState& state, std::int64_t now_s);

    AnomalyOptions options_;
    std::int64_t bucket_seconds_ = 1;
    std::int64_t bucket_count_ = 600;
    std::int64_t hour_slots_ = 0;
    std::unique_ptr<Shard[]> shards_;
};

}  // namespace carepost::policy
