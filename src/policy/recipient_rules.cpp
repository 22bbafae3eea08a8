// policy: allow and deny rules on recipient domains.
#include <cstddef>
#include <string>

#include "policy/policy.hpp"

namespace carepost::policy {

namespace {

constexpr std::size_t max_domain_octets = 253;  // RFC 1035 §2.3.4, without the root dot
constexpr std::size_t max_label_octets = 63;

char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool is_iequal(std::string_view a, std::string_view b)
{
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != lower(b[i])) {
            return false;
        }
    }
    return true;
}

std::string_view without_root_dot(std::string_view domain)
{
    if (!domain.empty() && domain.back() == '.') {
        domain.remove_suffix(1);
    }
    return domain;
}

// "*.example.org" matches a.example.org and a.b.example.org: the domain must
// end in ".example.org" with at least one octet before it, so neither
// example.org nor evil-example.org matches.
bool matches(std::string_view pattern, std::string_view domain)
{
    pattern = without_root_dot(pattern);
    if (pattern.starts_with("*.")) {
        std::string_view suffix = pattern.substr(1);
        return domain.size() > suffix.size() &&
               is_iequal(domain.substr(domain.size() - suffix.size()), suffix);
    }
    return is_iequal(pattern, domain);
}

bool matches_any(const std::vector<std::string>& patterns, std::string_view domain)
{
    for (const auto& p : patterns) {
        if (matches(p, domain)) {
            return true;
        }
    }
    return false;
}

bool is_label_octet(char c)
{
    c = lower(c);
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

// Why `pattern` is not a domain rule, or nullptr when it is one.
const char* find_pattern_fault(std::string_view pattern)
{
    if (pattern.empty()) {
        return "a domain rule is empty";
    }
    if (pattern.size() > max_domain_octets) {
        return "a domain rule is longer than 253 octets";
    }
    std::string_view name = without_root_dot(pattern);
    if (name.starts_with("*.")) {
        name.remove_prefix(2);
    }
    if (name.find('*') != std::string_view::npos) {
        return "'*' is allowed only as a leading '*.'";
    }
    if (name.empty()) {
        return "a domain rule has no domain";
    }

    // Label by label: 1 to 63 letters, digits or hyphens, no hyphen at an end.
    for (std::size_t start = 0; start <= name.size();) {
        std::size_t end = std::min(name.find('.', start), name.size());
        std::string_view label = name.substr(start, end - start);
        if (label.empty() || label.size() > max_label_octets) {
            return "a label of a domain rule is empty or longer than 63 octets";
        }
        for (char c : label) {
            if (!is_label_octet(c)) {
                return "a domain rule may hold only letters, digits, '-' and '.'";
            }
        }
        if (label.front() == '-' || label.back() == '-') {
            return "a label of a domain rule begins or ends with '-'";
        }
        start = end + 1;
    }
    return nullptr;
}

Result<void> check_list(const std::vector<std::string>& patterns, std::string_view list_name)
{
    for (std::size_t i = 0; i < patterns.size(); ++i) {
        if (const char* fault = find_pattern_fault(patterns[i])) {
            return Error::invalid(
                "invalid_domain_rule",
                std::string(list_name) + "[" + std::to_string(i) + "]",
                fault);
        }
    }
    return {};
}

}  // namespace

bool is_domain_allowed(const DomainRules& rules, std::string_view domain)
{
    domain = without_root_dot(domain);
    if (domain.empty()) {
        return false;
    }
    if (matches_any(rules.deny, domain)) {
        return false;
    }
    return rules.allow.empty() || matches_any(rules.allow, domain);
}

Result<void> check_domain_rules(const DomainRules& rules)
{
    if (auto r = check_list(rules.allow, "allow_domains"); !r) {
        return r;
    }
    return check_list(rules.deny, "deny_domains");
}

}  // namespace carepost::policy
