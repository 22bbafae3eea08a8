#include "accept/gate.hpp"

#include "audit/audit.hpp"
#include "common/log.hpp"
#include "crypto/crypto.hpp"

namespace carepost::accept {
namespace {

constexpr std::int64_t rules_cache_seconds = 5;
constexpr std::int64_t volume_flush_seconds = 10;

policy::Rate per_hour(std::int64_t count)
{
    return {static_cast<double>(count) / 3600.0, static_cast<double>(count)};
}

}  // namespace

Gate::Gate(
    store::Store& store,
    policy::RateLimiter& limiter,
    policy::AnomalyDetector& detector,
    GateOptions options)
    : store_(store), limiter_(limiter), detector_(detector), options_(options)
{}

void Gate::load_history(std::int64_t now)
{
    std::map<std::string, std::vector<policy::HourlyVolume>> hours;
    for (const auto& row : store_.key_volume_since(now / 3600 - 8 * 24)) {
        hours[row.key_id].push_back({row.hour, row.recipients});
    }
    std::map<std::string, std::vector<std::string>> domains;
    for (auto& [key_id, domain] : store_.key_domains()) {
        domains[key_id].push_back(std::move(domain));
    }
    for (const auto& [key_id, h] : hours) {
        detector_.load_history(key_id, h, domains[key_id]);
    }
}

policy::DomainRules Gate::org_rules(const std::string& org_id, std::int64_t now)
{
    {
        std::lock_guard lock(mutex_);
        auto it = org_rules_.find(org_id);
        if (it != org_rules_.end() && it->second.until > now) {
            return it->second.rules;
        }
    }
    policy::DomainRules rules;
    if (auto org = store_.find_org(org_id)) {
        rules = {org->allow_domains, org->deny_domains};
    }
    std::lock_guard lock(mutex_);
    org_rules_[org_id] = {rules, now + rules_cache_seconds};
    return rules;
}

void Gate::forget_org_rules(const std::string& org_id)
{
    std::lock_guard lock(mutex_);
    org_rules_.erase(org_id);
}

void Gate::lift(const std::string& key_id, std::int64_t now)
{
    detector_.lift(key_id, now);
}

Result<void>
Gate::check_rules(const auth::Principal& p, const std::vector<GateRecipient>& recipients)
{
    std::int64_t now = store::unix_now();
    policy::DomainRules org = org_rules(p.org_id, now);
    policy::DomainRules key{p.allow_domains, p.deny_domains};
    std::vector<const GateRecipient*> refused;
    for (const auto& r : recipients) {
        if (!policy::is_domain_allowed(org, r.domain) ||
            !policy::is_domain_allowed(key, r.domain)) {
            refused.push_back(&r);
        }
    }
    if (refused.empty()) {
        return {};
    }

    // Counted for compliance reports, and each refused address audited; the
    // caller hears only which list held one.
    std::vector<std::string> emails;
    for (const auto* r : refused) {
        emails.push_back(r->email);
    }
    store_.submit(
        [p, emails, now](store::Writer& w) -> Result<void> {
            w.count_refusal(
                p.org_id,
                p.key_id,
                now / 86400,
                "recipient_not_allowed",
                static_cast<std::int64_t>(emails.size()));
            for (const auto& email : emails) {
                audit::append(
                    w,
                    {p.key_id, "recipient.refused", p.org_id, "", email, "recipient_not_allowed"},
                    now);
            }
            return {};
        },
        nullptr);
    log::info(
        "accept",
        "recipients_refused",
        {{"org_id", p.org_id}, {"key_id", p.key_id}, {"count", emails.size()}});
    return Error::invalid(
        "recipient_not_allowed",
        refused.front()->kind,
        "a recipient's domain is not allowed for this key or organisation");
}

Result<void> Gate::suspend(const auth::Principal& p, const std::string& reason, std::int64_t now)
{
    auto r = store_.write([&](store::Writer& w) -> Result<void> {
        if (w.suspend_api_key(p.org_id, p.key_id, now, reason)) {
            audit::append(
                w, {"system", "key.suspended", p.org_id, "", "", p.key_id + " " + reason}, now);
            store::EventRow e;
            e.id = "evt_" + crypto::random_hex(12);
            e.org_id = p.org_id;
            e.type = "key.suspended";
            e.time = now;
            e.key_id = p.key_id;
            e.reason = reason;
            w.insert_event(e);
        }
        return {};
    });
    {
        std::lock_guard lock(mutex_);
        suspended_.insert(p.key_id);
    }
    log::warn(
        "accept",
        "key_suspended",
        {{"org_id", p.org_id}, {"key_id", p.key_id}, {"reason", reason}});
    if (!r) {
        return r.error();
    }
    return Error::permanent("key_suspended", "this key is suspended; an admin can lift it");
}

Gate::Admission Gate::admit(
    const auth::Principal& p, const std::vector<GateRecipient>& recipients, std::int64_t now_ms)
{
    if (auto rules = check_rules(p, recipients); !rules) {
        return {rules.error(), {}};
    }

    // Recipients per hour, for the key and its organisation at once.
    std::int64_t key_rate =
        p.recipients_per_hour > 0 ? p.recipients_per_hour : options_.key_recipients_per_hour;
    policy::Rate key_bucket = per_hour(key_rate);
    auto taken = limiter_.take_all(
        {{"rph:key:" + p.key_id, key_bucket},
         {"rph:org:" + p.org_id, per_hour(options_.org_recipients_per_hour)}},
        static_cast<double>(recipients.size()),
        now_ms);
    if (!taken.decision.allowed) {
        auto rate =
            taken.refused_index == 1 ? per_hour(options_.org_recipients_per_hour) : key_bucket;
        return {
            Error::transient("rate_limited", "too many recipients this hour"),
            policy::rate_limit_headers("recipients", rate, taken.decision)};
    }

    // Abnormal sending: judged against the key's own history. A key this
    // gate suspended that sends again was lifted by an admin (a suspended
    // key cannot authenticate), through the API or the command line: its
    // burst is forgiven for the grace time.
    std::int64_t now = now_ms / 1000;
    bool was_lifted = false;
    {
        std::lock_guard lock(mutex_);
        was_lifted = suspended_.erase(p.key_id) > 0;
    }
    if (was_lifted) {
        detector_.lift(p.key_id, now);
    }
    std::vector<std::string> domains;
    domains.reserve(recipients.size());
    for (const auto& r : recipients) {
        domains.push_back(r.domain);
    }
    std::vector<std::string> learnt;
    auto verdict = detector_.observe(p.key_id, domains, now, &learnt);
    {
        std::lock_guard lock(mutex_);
        pending_volume_[{p.key_id, now / 3600}] += static_cast<std::int64_t>(domains.size());
        auto& d = pending_domains_[p.key_id];
        d.insert(d.end(), learnt.begin(), learnt.end());
    }
    flush_volume(now, verdict.suspend);
    if (verdict.suspend) {
        return {suspend(p, verdict.reason, now), {}};
    }
    return {Result<void>{}, {}};
}

void Gate::flush_volume(std::int64_t now, bool force)
{
    std::map<std::pair<std::string, std::int64_t>, std::int64_t> volume;
    std::map<std::string, std::vector<std::string>> domains;
    {
        std::lock_guard lock(mutex_);
        if (!force && now < next_flush_) {
            return;
        }
        next_flush_ = now + volume_flush_seconds;
        volume.swap(pending_volume_);
        domains.swap(pending_domains_);
    }
    if (volume.empty() && domains.empty()) {
        return;
    }
    store_.submit(
        [volume = std::move(volume), domains = std::move(domains), now](
            store::Writer& w) -> Result<void> {
            for (const auto& [key, count] : volume) {
                w.add_key_volume(key.first, key.second, count);
            }
            for (const auto& [key_id, list] : domains) {
                w.insert_key_domains(key_id, list, now);
            }
            return {};
        },
        nullptr);
}

}  // namespace carepost::accept
