#include <string>

#include <gtest/gtest.h>

#include "policy/policy.hpp"

namespace carepost::policy {
namespace {

struct Case {
    std::vector<std::string> allow, deny;
    std::string domain;
    bool expected;
};

TEST(RecipientRules, table_of_patterns_and_domains)
{
    const std::vector<std::string> org{"example.org"};
    const std::vector<std::string> subs{"*.example.org"};
    const Case cases[] = {
        // Empty rules allow everything but an empty domain.
        {{}, {}, "anything.test", true},
        {{}, {}, "", false},
        {{}, {}, ".", false},
        // Exact patterns.
        {org, {}, "example.org", true},
        {org, {}, "EXAMPLE.Org", true},
        {org, {}, "example.org.", true},
        {org, {}, "mail.example.org", false},
        {org, {}, "evil-example.org", false},
        {org, {}, "example.org.evil.net", false},
        {org, {}, "xample.org", false},
        {org, {}, "example.or", false},
        {org, {}, "example.org..", false},
        // Leading "*.": subdomains only.
        {subs, {}, "example.org", false},
        {subs, {}, "mail.example.org", true},
        {subs, {}, "a.b.Example.ORG.", true},
        {subs, {}, "evil-example.org", false},
        {subs, {}, "mailexample.org", false},
        {subs, {}, ".example.org", false},
        {subs, {}, "mail.example.org.evil.net", false},
        // Deny wins over allow.
        {{"*.example.org", "example.org"}, {"lab.example.org"}, "lab.example.org", false},
        {{"*.example.org"}, {"lab.example.org"}, "x.lab.example.org", true},
        {{"*.example.org"}, {"*.lab.example.org"}, "x.lab.example.org", false},
        {{}, {"gmail.com"}, "GMAIL.COM.", false},
        {{}, {"gmail.com"}, "mail.gmail.com", true},
        // IDN A-labels compare as plain ASCII.
        {{"xn--krankenhaus-mnchen-03b.de"}, {}, "XN--Krankenhaus-Mnchen-03b.de", true},
        {{"*.xn--bcher-kva.example"}, {}, "post.xn--bcher-kva.example", true},
        {{"xn--bcher-kva.example"}, {}, "bcher.example", false},
        // Pattern with a trailing dot.
        {{"example.org."}, {}, "example.org", true},
    };
    for (const Case& c : cases) {
        DomainRules rules{c.allow, c.deny};
        EXPECT_EQ(is_domain_allowed(rules, c.domain), c.expected)
            << "domain '" << c.domain << "' allow[0]='" << (c.allow.empty() ? "" : c.allow[0])
            << "' deny[0]='" << (c.deny.empty() ? "" : c.deny[0]) << "'";
    }
}

TEST(RecipientRules, accepts_valid_rules)
{
    DomainRules rules{
        {"example.org", "*.example.org", "xn--bcher-kva.example", "a-b.c0.test", "Example.ORG."},
        {"*.com"}};
    EXPECT_TRUE(check_domain_rules(rules));
    EXPECT_TRUE(check_domain_rules(DomainRules{}));
}

TEST(RecipientRules, refuses_bad_patterns_naming_the_index)
{
    const std::string long_label(64, 'a');
    std::string too_long;
    while (too_long.size() <= 253) {
        too_long += "abcdefghi.";
    }
    too_long += "org";
    const std::string bad[] = {
        "",
        "*",
        "*.",
        ".",
        "ex*ample.org",
        "*example.org",
        "a.*.example.org",
        "*.*.example.org",
        "example.org*",
        "exa mple.org",
        "exa_mple.org",
        "b\xc3\xbc"
        "cher.example",
        "example..org",
        ".example.org",
        "-example.org",
        "example-.org",
        long_label + ".org",
        too_long,
    };
    for (const std::string& pattern : bad) {
        DomainRules rules{{"good.example", "also.good", pattern}, {}};
        auto r = check_domain_rules(rules);
        ASSERT_FALSE(r) << "'" << pattern << "'";
        EXPECT_EQ(r.error().code, "invalid_domain_rule");
        EXPECT_EQ(r.error().field, "allow_domains[2]");
        EXPECT_EQ(r.error().error_class, ErrorClass::permanent);
        if (pattern.size() > 3) {
            EXPECT_EQ(r.error().text.find(pattern), std::string::npos)
                << "the text must not echo the pattern";
        }

        DomainRules deny{{}, {pattern}};
        r = check_domain_rules(deny);
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().field, "deny_domains[0]");
    }
}

TEST(RecipientRules, a_63_octet_label_and_a_253_octet_domain_are_allowed)
{
    std::string domain = std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                         std::string(63, 'c') + "." + std::string(61, 'd');
    ASSERT_EQ(domain.size(), 253u);
    EXPECT_TRUE(check_domain_rules(DomainRules{{domain}, {}}));
    EXPECT_TRUE(is_domain_allowed(DomainRules{{domain}, {}}, domain));
}

}  // namespace
}  // namespace carepost::policy
