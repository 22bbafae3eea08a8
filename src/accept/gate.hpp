// accept: the policy step of the accept pipeline — recipient-domain rules,
// recipients per hour, abnormal sending.
//
// Owns: applying an organisation's and a key's recipient rules, the
//   recipients-per-hour buckets of keys and organisations, and the abnormal
//   sending detector, with what each refusal leaves behind: a count for
//   compliance reports, an audit record, and for abnormal sending a
//   suspended key and an event.
// Trust boundary: the principal is authenticated; the domains come from
//   validated addresses.
// Logs: key and org ids, counts and reasons; never addresses.
// Limits:
//   LIMIT(#3): buckets and the detector's recent window live in this
//   process (a restart refills them; a cluster would share them through the
//   store); hourly volume history is flushed to the store every 10 s, so a
//   crash forgets at most that much.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "auth/auth.hpp"
#include "common/error.hpp"
#include "policy/policy.hpp"
#include "store/store.hpp"

namespace carepost::accept {

struct GateOptions {
    std::int64_t key_recipients_per_hour = 100000;
    std::int64_t org_recipients_per_hour = 200000;
};

// One recipient of a send as the gate sees it.
struct GateRecipient {
    std::string domain;  // lower-case A-label
    std::string kind;    // to, cc, bcc
    std::string email;   // for the audit record of a refusal only
};

class Gate {
public:
    Gate(
        store::Store& store,
        policy::RateLimiter& limiter,
        policy::AnomalyDetector& detector,
        GateOptions options);

    // Loads every key's volume history and seen domains into the detector.
    void load_history(std::int64_t now);

    struct Admission {
        Result<void> result;
        std::vector<std::pair<std::string, std::string>> headers;  // on 429
    };
    // Judges one send. Errors: recipient_not_allowed (422), rate_limited
    // (429, with headers), key_suspended (403, the key is now suspended).
    Admission admit(
        const auth::Principal& principal,
        const std::vector<GateRecipient>& recipients,
        std::int64_t now_ms);

    // An admin changed the organisation's rules / lifted a suspension.
    void forget_org_rules(const std::string& org_id);
    void lift(const std::string& key_id, std::int64_t now);

private:
    policy::DomainRules org_rules(const std::string& org_id, std::int64_t now);
    Result<void> check_rules(const auth::Principal& p, const std::vector<GateRecipient>& rs);
    Result<void> suspend(const auth::Principal& p, const std::string& reason, std::int64_t now);
    void flush_volume(std::int64_t now, bool force);

    store::Store& store_;
    policy::RateLimiter& limiter_;
    policy::AnomalyDetector& detector_;
    GateOptions options_;

    std::mutex mutex_;
    struct CachedRules {
        policy::DomainRules rules;
        std::int64_t until = 0;
    };
    std::map<std::string, CachedRules> org_rules_;
    std::map<std::pair<std::string, std::int64_t>, std::int64_t> pending_volume_;
    std::map<std::string, std::vector<std::string>> pending_domains_;
    std::int64_t next_flush_ = 0;
    std::set<std::string> suspended_;  // keys this gate suspended
};

}  // namespace carepost::accept
