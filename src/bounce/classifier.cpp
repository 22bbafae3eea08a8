#include "bounce/classifier.hpp"

#include <array>
#include <cctype>
#include <span>

#include "bounce/fields.hpp"

namespace carepost::bounce {

namespace detail {

namespace {

bool is_digit(char c)
{
    return std::isdigit(static_cast<unsigned char>(c)) != 0;
}

// One reason and the lower-case phrases that name it. Tables are checked in
// the order of kPhraseTables: the more specific causes (authentication,
// blocklists, sender problems) come before the recipient ones, because
// receivers often wrap a policy refusal in "recipient rejected" wording.
struct PhraseTable {
    std::string_view reason;
    std::span<const std::string_view> phrases;
};

// Phrases that override a later, wider table for the same words.
constexpr std::string_view kRejectedFirst[] = {
    "groups.google.com/support",
    "address that has been blacklisted",
    "user complaints",
    "permission to post",
};
constexpr std::string_view kPolicyFirst[] = {
    "policy reasons",
};
constexpr std::string_view kSpamFirst[] = {
    "spam classification",
};
// "Unknown user" (not "user unknown") is what several content filters and
// carriers answer for refused mail; with an X.1.1 status the status wins.
// KDDI answers "550 : User unknown", with an empty address, when a
// recipient's domain filter refuses the sender.
constexpr std::string_view kKddiFilterRefusals[] = {
    "550 : user unknown",
    "550: : user unknown",
};
constexpr std::string_view kFilteredFirst[] = {
    "unknown user",
    "550 : user unknown",
    "550: : user unknown",
};
// Exchange Online refuses addresses missing from the directory this way.
// cPanel's Exim names both causes and then lists "blacklisted" as a guess.
constexpr std::string_view kHostUnknownFirst[] = {
    "the account or domain may not exist",
};
constexpr std::string_view kUserUnknownFirst[] = {
    "recipient address rejected: access denied",
    "not listed in public name",
};
constexpr std::string_view kSuspendFirst[] = {
    "recipient account is blocked",
    "account is blocked",
};
constexpr std::string_view kAuthFailure[] = {
    "spf",
    "dkim",
    "dmarc",
    "sender policy framework",
    "domain-based message authentication",
    "5.7.26",
    "authentication checks failed",
    "not authorized to send on behalf",
    "sender id",
};
constexpr std::string_view kRequirePtr[] = {
    "mismatches client ip",
    "reverse dns",
    "reverse lookup",
    "ptr record",
    "no ptr",
    "cannot find your hostname",
    "cannot find your reverse",
    "unresolvable",
    "reverse hostname",
    "rdns",
    "fix reverse dns",
    "without a valid sender domain",
    "hostname does not resolve",
    "ip address has no",
    "reverse name",
    "cannot resolve your address",
    "client host name",
    "no reverse",
    "has no dns",
    "not resolve to your",
    "does not have a valid ptr",
};
constexpr std::string_view kBadReputation[] = {
    "reputation",
    "has been temporarily rate limited due to ip",
    "sender score",
};
constexpr std::string_view kBlocked[] = {
    "invalid ip",
    "blocked using",
    "blacklist",
    "blocklist",
    "block list",
    "black list",
    "dnsbl",
    "rbl",
    "spamhaus",
    "spamcop",
    "barracudacentral",
    "client host rejected",
    "your ip",
    "your host",
    "ip address is",
    "dynamic ip",
    "dynamic address",
    "dial-up",
    "dialup",
    "residential",
    "smtp server of your isp",
    "has been blocked",
    "is blocked",
    "are blocked",
    "blocked by",
    "host blocked",
    "ip blocked",
    "not allowed to connect",
    "connection refused by",
    "access denied. ip",
    "listed in",
    "listed at",
    "is listed",
    "banned",
    "refused to talk",
    "poor reputation",
    "ip-based",
    "not accepting mail from",
    "access denied for your ip",
    "too many bad",
    "abuse",
    "connections from",
    "junk mail from",
    "ip not allowed",
    "rejected by policy from",
    "your network",
    "bad dns ptr",
    "mail server ip",
    "sending ip",
};
constexpr std::string_view kNoRelaying[] = {
    "configured to relay",
    "address is not verified",
    "relay access denied",
    "relaying denied",
    "not permitted to relay",
    "relay not permitted",
    "unable to relay",
    "we do not relay",
    "relaying not allowed",
    "relay denied",
    "relaying mail to",
    "relay prohibited",
    "not allowed to relay",
    "no relaying",
    "not a gateway",
    "relaying is prohibited",
    "relay access",
};
constexpr std::string_view kFailedStartTls[] = {
    "starttls failed",
    "tls negotiation failed",
    "failed to establish tls",
    "starttls is required",
    "must issue a starttls",
};
constexpr std::string_view kSecurityError[] = {
    "smtp authentication",
    "delivery not authorized",
    "unauthenticated senders",
    "authentication required",
    "authentication is required",
    "auth required",
    "not authenticated",
    "unauthenticated",
    "authrequired",
    "encryption required",
    "tls required",
    "secure connection",
    "must be authenticated",
    "authentication failed",
    "invalid credentials",
    "user not authenticated",
    "you are not authorized",
};
constexpr std::string_view kVirusDetected[] = {
    "virus",
    "malware",
    "infected",
    "trojan",
    "worm",
};
constexpr std::string_view kSpamDetected[] = {
    "spam",
    "junk mail",
    "message content rejected",
    "ube",
    "unsolicited",
    "bulk mail",
    "considered as junk",
    "content filter",
    "looks like",
    "suspicious",
    "scam",
    "phishing",
};
constexpr std::string_view kNotCompliantRfc[] = {
    "multiple addresses in from",
    "rfc 5322",
    "rfc5322",
    "rfc 2822",
    "rfc2822",
    "not rfc compliant",
    "multiple from",
    "addresses in from: header",
    "duplicate header",
    "header is missing",
    "missing header",
    "message-id missing",
    "missing message-id",
    "bare lf",
    "rfc compliance",
    "is not compliant",
};
constexpr std::string_view kRejected[] = {
    "sender rejected",
    "sender address rejected",
    "domain of sender",
    "sender domain",
    "sender verify",
    "sender denied",
    "invalid sender",
    "bad sender",
    "sender is not",
    "sender unknown",
    "unknown sender",
    "envelope sender",
    "return path",
    "sender not",
    "your sender",
    "sender address is",
    "from address",
    "sender address",
    "can't determine purported responsible address",
    "by your sender",
    "rejected the sender",
    "address verification failed",
    "null sender",
    "access denied",
};
constexpr std::string_view kTooManyConn[] = {
    "too many recipients",
    "frequency limited",
    "too many connections",
    "too many simultaneous",
    "connection limit",
    "too many concurrent",
    "too many sessions",
    "maximum number of connections",
    "connection rate limit",
    "too many open connections",
};
constexpr std::string_view kSpeeding[] = {
    "sending too fast",
    "rate limit exceeded",
    "too many messages from",
    "throttl",
};
constexpr std::string_view kExceedLimit[] = {
    "exceeds administrative limit",
    "message length exceeds",
    "exceeded the limit",
    "message header size exceeds",
};
constexpr std::string_view kMesgTooBig[] = {
    "message too large",
    "message too big",
    "message size exceeds",
    "too big",
    "message is too large",
    "exceeds size limit",
    "size limit",
    "mail size exceeds",
    "message exceeds",
    "size exceeds",
    "exceeds the maximum message size",
    "message size",
    "larger than",
};
constexpr std::string_view kMailboxFull[] = {
    "mailbox exceeded",
    "mailbox full",
    "mailbox is full",
    "quota exceeded",
    "over quota",
    "overquota",
    "exceeded storage allocation",
    "mailbox has exceeded",
    "out of mailbox space",
    "full mailbox",
    "mail box full",
    "mailfolder is full",
    "account is full",
    "disk quota",
    "exceed mailbox quota",
    "exceeds mailbox quota",
    "quota exceed",
    "mailbox size limit",
    "storage allocation",
    "insufficient storage",
    "not enough storage",
    "quota full",
    "mailbox exceeds",
    "exceeded their storage",
    "is over its quota",
    "is over the quota",
    "inbox is full",
    "boite du destinataire pleine",
    "mailbox over",
    "maildir over",
    "too many messages in",
    "user has exceeded",
    "mailbox is over",
    "exceeded mailbox",
    "quota",
};
constexpr std::string_view kSuspend[] = {
    "account disabled",
    "account has been disabled",
    "mailbox disabled",
    "suspended",
    "inactive",
    "deactivated",
    "is disabled",
    "account expired",
    "mailbox is frozen",
    "account is locked",
    "temporary locked",
    "temporarily locked",
    "disabled or discontinued",
    "not active",
    "has been disabled",
    "account is not available",
    "account closed",
    "mailbox unavailable or not local",
    "blocked account",
    "account has been blocked",
    "not activated",
    "is unavailable",
};
constexpr std::string_view kHasMoved[] = {
    "has moved",
    "no longer on server",
    "address has changed",
    "no longer at this address",
    "moved to",
    "has been moved",
};
constexpr std::string_view kNotAccept[] = {
    "no smtp service",
    "does not accept mail",
    "no mail accepted",
    "null mx",
    "not accepting mail",
    "accepts no mail",
    "mail is not accepted",
    "does not accept e-mail",
    "not accept any mail",
};
constexpr std::string_view kUserUnknown[] = {
    "address not found",
    "address couldn't be found",
    "delivery userid",
    "user unknown",
    "unknown user",
    "no such user",
    "user not found",
    "no such mailbox",
    "mailbox not found",
    "recipient unknown",
    "unknown recipient",
    "recipient not found",
    "invalid recipient",
    "undeliverable address",
    "user doesn't exist",
    "user does not exist",
    "no mailbox here",
    "not a valid mailbox",
    "address does not exist",
    "no such recipient",
    "account does not exist",
    "not our customer",
    "unknown local part",
    "mailbox does not exist",
    "invalid mailbox",
    "address unknown",
    "unknown address",
    "no such person",
    "recipnotfound",
    "recipientnotfound",
    "doesn't have a",
    "does not exist",
    "not a valid user",
    "user is unknown",
    "no valid recipients",
    "not listed in",
    "unknown or illegal alias",
    "user invalid",
    "invalid address",
    "bad recipient",
    "no mailbox",
    "mailbox unavailable",
    "unknown recipient",
    "is not a known user",
    "no account",
    "mailbox not available",
    "unknown mailbox",
    "invalid user",
    "not exist",
    "user doesn't",
    "no such address",
    "does not have an account",
    "mailbox is unavailable",
    "address invalid",
    "addressee unknown",
    "recipient invalid",
    "no longer exists",
    "not a valid recipient",
    "deleted",
};
constexpr std::string_view kHostUnknown[] = {
    "dns lookup failure",
    "host unknown",
    "unknown host",
    "domain not found",
    "no such domain",
    "host not found",
    "name or service not known",
    "unrouteable mail domain",
    "domain does not exist",
    "domain name not found",
    "host or domain name not found",
    "unknown domain",
    "nxdomain",
    "domain is not reachable",
    "no mx",
    "domain doesn't exist",
    "invalid domain",
    "domain could not be found",
    "unresolvable domain",
    "unrouteable domain",
    "unrouteable address",
};
constexpr std::string_view kFiltered[] = {
    "filtered",
    "refused by recipient",
    "rejected by recipient",
    "not authorized to receive",
    "message refused",
    "blocked by recipient",
    "recipient has blocked",
    "because of a recipient",
    "not accept messages from",
    "does not wish to receive",
    "by the recipient",
};
constexpr std::string_view kPolicyViolation[] = {
    "policy",
    "prohibited",
    "not permitted",
    "violat",
    "not allowed",
};
constexpr std::string_view kSystemFull[] = {
    "insufficient disk space",
    "insufficient system storage",
    "system storage",
    "out of disk",
    "disk full",
    "no space left",
};
constexpr std::string_view kMailerError[] = {
    "command failed",
    "mailer error",
    "exit status",
    "procmail",
    "x-unix",
    "pipe to",
    "|/",
    "command died",
    "mail loops back to myself",
    "permission denied",
};
constexpr std::string_view kExpired[] = {
    "did not accept our requests to connect",
    "will be retried for",
    "delivery time expired",
    "retry timeout exceeded",
    "giving up",
    "message expired",
    "could not be delivered within",
    "queue lifetime",
    "retry time not reached",
    "timeout exceeded",
    "was not delivered within",
    "have been failing for",
    "expired",
    "too long in queue",
    "unable to deliver in",
    "exceeded the time",
    "gave up",
    "delivery attempts have failed",
    "undeliverable for",
    "maximum time",
};
constexpr std::string_view kNetworkError[] = {
    "network error",
    "lookup failure",
    "malformed or unexpected name server reply",
    "connection refused",
    "connection timed out",
    "connection reset",
    "network is unreachable",
    "no route to host",
    "lost connection",
    "temporary failure in name resolution",
    "could not connect",
    "unable to connect",
    "connection dropped",
    "timed out",
    "routing loop",
    "hop count exceeded",
    "mail loop",
    "too many hops",
    "loop detected",
    "dns error",
    "name server",
    "host is unreachable",
    "connect to",
    "loops back",
    "not reachable",
    "connection closed",
};
constexpr std::string_view kSystemError[] = {
    "currently unavailable",
    "system error",
    "internal error",
    "local error",
    "server error",
    "unexpected",
    "temporary local problem",
    "configuration error",
    "system config",
    "internal server error",
    "server configuration",
    "mail system",
    "temporarily unavailable",
    "try again later",
    "service unavailable",
    "resources",
    "misconfigured",
    "local problem",
};
constexpr std::string_view kSyntaxError[] = {
    "not implemented",
    "sequence of commands",
    "syntax error",
    "command unrecognized",
    "unrecognized command",
    "command not recognized",
    "invalid command",
    "bad command",
    "line too long",
};
constexpr std::string_view kContentError[] = {
    "header error",
    "improper use of 8-bit",
    "8-bit data",
    "content error",
    "invalid content",
    "media not supported",
};

constexpr std::array kPhraseTables = {
    PhraseTable{"rejected", kRejectedFirst},
    PhraseTable{"policyviolation", kPolicyFirst},
    PhraseTable{"spamdetected", kSpamFirst},
    PhraseTable{"suspend", kSuspendFirst},
    PhraseTable{"userunknown", kUserUnknownFirst},
    PhraseTable{"hostunknown", kHostUnknownFirst},
    PhraseTable{"notcompliantrfc", kNotCompliantRfc},
    PhraseTable{"authfailure", kAuthFailure},
    PhraseTable{"requireptr", kRequirePtr},
    PhraseTable{"badreputation", kBadReputation},
    PhraseTable{"norelaying", kNoRelaying},
    PhraseTable{"mailboxfull", kMailboxFull},
    PhraseTable{"blocked", kBlocked},
    PhraseTable{"failedstarttls", kFailedStartTls},
    PhraseTable{"virusdetected", kVirusDetected},
    PhraseTable{"spamdetected", kSpamDetected},
    PhraseTable{"rejected", kRejected},
    PhraseTable{"toomanyconn", kTooManyConn},
    PhraseTable{"speeding", kSpeeding},
    PhraseTable{"exceedlimit", kExceedLimit},
    PhraseTable{"mesgtoobig", kMesgTooBig},
    PhraseTable{"suspend", kSuspend},
    PhraseTable{"hasmoved", kHasMoved},
    PhraseTable{"notaccept", kNotAccept},
    PhraseTable{"filtered", kFilteredFirst},
    PhraseTable{"hostunknown", kHostUnknown},
    PhraseTable{"userunknown", kUserUnknown},
    PhraseTable{"filtered", kFiltered},
    PhraseTable{"securityerror", kSecurityError},
    PhraseTable{"systemfull", kSystemFull},
    PhraseTable{"mailererror", kMailerError},
    PhraseTable{"expired", kExpired},
    PhraseTable{"networkerror", kNetworkError},
    PhraseTable{"policyviolation", kPolicyViolation},
    PhraseTable{"systemerror", kSystemError},
    PhraseTable{"syntaxerror", kSyntaxError},
    PhraseTable{"contenterror", kContentError},
};

// True when `phrase` occurs in `text` not glued to letters on either side,
// so "rbl" does not match inside "verbless" and "ube" not inside "tube".
bool contains_phrase(std::string_view text, std::string_view phrase)
{
    auto is_letter = [](char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; };
    for (std::size_t at = text.find(phrase); at != std::string_view::npos;
         at = text.find(phrase, at + 1)) {
        bool open_ok = at == 0 || !is_letter(text[at - 1]) || !is_letter(phrase.front());
        std::size_t end = at + phrase.size();
        bool close_ok = end >= text.size() || !is_letter(text[end]) || !is_letter(phrase.back());
        // Phrases that end in a word stem ("throttl", "violat") may be
        // followed by letters.
        if (open_ok && (close_ok || phrase.size() >= 7)) {
            return true;
        }
    }
    return false;
}

}  // namespace

std::string find_enhanced_status(std::string_view text)
{
    // A failure code is what a bounce is about; a 2.x.x (an accepted
    // command in a transcript) counts only when nothing else does.
    std::string success;
    // class "." subject(1-3 digits) "." detail(1-3 digits), not part of a
    // longer dotted number such as an IP address.
    for (std::size_t i = 0; i + 4 < text.size(); ++i) {
        char c = text[i];
        if ((c != '2' && c != '4' && c != '5') || text[i + 1] != '.') {
            continue;
        }
        if (i > 0 && (is_digit(text[i - 1]) || text[i - 1] == '.')) {
            continue;
        }
        std::size_t j = i + 2;
        std::size_t subject_start = j;
        while (j < text.size() && is_digit(text[j]) && j - subject_start < 3) {
            ++j;
        }
        if (j == subject_start || j >= text.size() || text[j] != '.') {
            continue;
        }
        std::size_t detail_start = ++j;
        while (j < text.size() && is_digit(text[j]) && j - detail_start < 3) {
            ++j;
        }
        if (j == detail_start) {
            continue;
        }
        if (j < text.size() && (is_digit(text[j]) ||
                                (text[j] == '.' && j + 1 < text.size() && is_digit(text[j + 1])))) {
            continue;
        }
        if (c != '2') {
            return std::string(text.substr(i, j - i));
        }
        if (success.empty()) {
            success = text.substr(i, j - i);
        }
    }
    return success;
}

int find_reply_code(std::string_view text)
{
    // A failure code is what a bounce is about; a 2xx (a greeting or an
    // accepted command in a transcript) counts only when nothing else does.
    int success_code = 0;
    for (std::size_t i = 0; i + 3 <= text.size(); ++i) {
        char c = text[i];
        if (c != '2' && c != '4' && c != '5') {
            continue;
        }
        if (!is_digit(text[i + 1]) || !is_digit(text[i + 2]) || text[i + 1] > '5') {
            continue;
        }
        bool open_ok = i == 0 || std::string_view(" ;\n\t(<:'\">#").find(text[i - 1]) !=
                                     std::string_view::npos;
        std::size_t end = i + 3;
        bool close_ok = end == text.size() ||
                        std::string_view(" -\n\r\t)>:").find(text[end]) != std::string_view::npos;
        if (!open_ok || !close_ok) {
            continue;
        }
        int code = (c - '0') * 100 + (text[i + 1] - '0') * 10 + (text[i + 2] - '0');
        if (c != '2') {
            return code;
        }
        if (success_code == 0) {
            success_code = code;
        }
    }
    return success_code;
}

std::string reason_from_text(std::string_view text)
{
    std::string lower = to_lower(collapse_space(text));
    for (const PhraseTable& table : kPhraseTables) {
        for (std::string_view phrase : table.phrases) {
            if (contains_phrase(lower, phrase)) {
                return std::string(table.reason);
            }
        }
    }
    return {};
}

namespace {

bool is_kddi_filter_refusal(std::string_view text)
{
    std::string lower = to_lower(collapse_space(text));
    for (std::string_view p : kKddiFilterRefusals) {
        if (lower.find(p) != std::string::npos) {
            return true;
        }
    }
    return false;
}

}  // namespace

std::string reason_from_status(std::string_view status)
{
    if (status.size() < 5) {
        return {};
    }
    if (status[0] == '2') {
        return "delivered";
    }
    std::string_view rest = status.substr(2);  // "1.1", "7.26", ...
    // RFC 3463 X.2.1 "mailbox disabled" and X.3.2 "not accepting
    // messages": with a transient class they may pass (a throttle, a
    // mailbox that comes back), so the code alone names no reason.
    if (status[0] == '4' && (rest == "2.1" || rest == "3.2")) {
        return {};
    }
    struct Entry {
        std::string_view code;
        std::string_view reason;
    };
    // RFC 3463 §3 and the later registry (RFC 7372, RFC 7505, RFC 8601...).
    // General codes (X.0.0, X.1.0, X.5.0, X.7.0, X.7.1) are left out: they
    // say nothing by themselves.
    static constexpr Entry kTable[] = {
        {"1.1", "userunknown"},    {"1.2", "hostunknown"},    {"1.3", "userunknown"},
        {"1.4", "userunknown"},    {"1.5", "userunknown"},    {"1.6", "hasmoved"},
        {"1.7", "rejected"},       {"1.8", "rejected"},       {"1.9", "userunknown"},
        {"1.10", "notaccept"},     {"2.0", "filtered"},       {"2.1", "userunknown"},
        {"2.2", "mailboxfull"},    {"2.3", "exceedlimit"},    {"2.4", "systemerror"},
        {"3.0", "systemerror"},    {"3.1", "systemfull"},     {"3.2", "notaccept"},
        {"3.3", "systemerror"},    {"3.4", "mesgtoobig"},     {"3.5", "systemerror"},
        {"4.0", "networkerror"},   {"4.1", "networkerror"},   {"4.2", "networkerror"},
        {"4.3", "systemerror"},    {"4.4", "hostunknown"},    {"4.5", "systemfull"},
        {"4.6", "networkerror"},   {"4.7", "expired"},        {"5.1", "syntaxerror"},
        {"5.2", "syntaxerror"},    {"5.3", "toomanyconn"},    {"5.4", "syntaxerror"},
        {"5.5", "syntaxerror"},    {"6.0", "contenterror"},   {"6.1", "contenterror"},
        {"6.2", "contenterror"},   {"6.3", "contenterror"},   {"6.4", "contenterror"},
        {"6.5", "contenterror"},   {"7.2", "filtered"},       {"7.3", "securityerror"},
        {"7.4", "securityerror"},  {"7.5", "securityerror"},  {"7.6", "securityerror"},
        {"7.7", "securityerror"},  {"7.8", "securityerror"},  {"7.9", "policyviolation"},
        {"7.10", "securityerror"}, {"7.11", "securityerror"}, {"7.12", "securityerror"},
        {"7.13", "suspend"},       {"7.14", "securityerror"}, {"7.15", "securityerror"},
        {"7.16", "securityerror"}, {"7.17", "securityerror"}, {"7.18", "securityerror"},
        {"7.19", "securityerror"}, {"7.20", "authfailure"},   {"7.21", "authfailure"},
        {"7.22", "authfailure"},   {"7.23", "authfailure"},   {"7.24", "authfailure"},
        {"7.25", "requireptr"},    {"7.26", "authfailure"},   {"7.27", "notaccept"},
        {"7.28", "spamdetected"},  {"7.29", "authfailure"},   {"7.30", "securityerror"},
        {"7.509", "authfailure"},  {"7.606", "blocked"},      {"4.316", "expired"},
        {"1.351", "userunknown"},
    };
    for (const Entry& e : kTable) {
        if (rest == e.code) {
            return std::string(e.reason);
        }
    }
    return {};
}

namespace {

// Reasons that say the recipient address itself is unusable; suppressing
// it is right. Everything else may heal (full mailbox, disabled account,
// expired queue) or is about us (blocklists, authentication, content).
//   reason        hard when
//   userunknown   always (also a final 4.1.1: the receiver knows the user is gone)
//   hostunknown   always
//   hasmoved      always (X.1.6)
//   notaccept     permanent only (null MX, RFC 7505)
bool is_hard_reason(std::string_view reason, bool is_permanent)
{
    if (reason == "userunknown" || reason == "hostunknown" || reason == "hasmoved") {
        return true;
    }
    return reason == "notaccept" && is_permanent;
}

// Reasons about our infrastructure or policy, not the recipient: never
// suppress, alert the operator instead.
bool is_block_reason(std::string_view reason)
{
    static constexpr std::string_view kBlockReasons[] = {
        "blocked",
        "badreputation",
        "requireptr",
        "authfailure",
        "spamdetected",
        "policyviolation",
        "securityerror",
        "norelaying",
        "rejected",
        "notcompliantrfc",
        "toomanyconn",
        "speeding",
        "failedstarttls",
        "virusdetected",
        "contenterror",
        "syntaxerror",
    };
    for (std::string_view r : kBlockReasons) {
        if (r == reason) {
            return true;
        }
    }
    return false;
}

// RFC 3463: X.1.1-X.1.6, X.1.9, X.1.10 and X.2.1 describe the destination
// mailbox or address. X.1.7 and X.1.8 describe our sender address.
bool is_recipient_status(std::string_view status)
{
    std::string_view rest = status.size() >= 5 ? status.substr(2) : std::string_view{};
    static constexpr std::string_view kCodes[] = {
        "1.1",
        "1.2",
        "1.3",
        "1.4",
        "1.5",
        "1.6",
        "1.9",
        "1.10",
        "2.1",
    };
    for (std::string_view c : kCodes) {
        if (rest == c) {
            return true;
        }
    }
    return false;
}

// The SMTP command a refusal answered, read from transcripts and MTA
// wording ("in reply to end of DATA command", ">>> RCPT To:", "after
// initial connection"). A refusal's meaning depends on it: an unknown user
// after DATA is a content filter, a refusal of the greeting is about us.
enum class Stage { unknown, connect, mail, rcpt, data };

Stage find_stage(std::string_view text)
{
    std::string lower = to_lower(collapse_space(text));
    auto has = [&](std::initializer_list<std::string_view> marks) {
        for (std::string_view m : marks) {
            if (lower.find(m) != std::string::npos) {
                return true;
            }
        }
        return false;
    };
    if (has(
            {"in reply to rcpt",
             ">>> rcpt",
             "after rcpt",
             "our rcpt to",
             "[rcpt_to]",
             "rcpt: <",
             "does not like recipient",
             "rcpt to:"})) {
        return Stage::rcpt;
    }
    if (has(
            {"end of data",
             ">>> data",
             "after data",
             "in reply to data",
             "our final data",
             "our data"})) {
        return Stage::data;
    }
    if (has(
            {"in reply to mail from",
             ">>> mail from",
             "after mail from",
             "our mail from",
             "sender was rejected"})) {
        return Stage::mail;
    }
    if (has(
            {"after initial connection",
             "my name was rejected",
             "in reply to ehlo",
             "in reply to helo",
             "after ehlo",
             "after helo",
             "greeting"})) {
        return Stage::connect;
    }
    return Stage::unknown;
}

// Codes that name their cause well enough to win over the wording; the
// rest (X.2.0, X.2.1, X.4.x, X.5.x, ...) are refined by the text.
bool is_decisive_status(std::string_view status)
{
    static constexpr std::string_view kWeak[] = {
        "1.3",
        "1.10",
        "2.0",
        "2.1",
        "3.0",
        "4.0",
        "4.1",
        "4.2",
        "4.3",
        "4.4",
        "4.5",
        "4.6",
        "5.1",
        "5.2",
        "5.3",
        "5.4",
        "5.5",
    };
    std::string_view rest = status.size() >= 5 ? status.substr(2) : std::string_view{};
    for (std::string_view w : kWeak) {
        if (rest == w) {
            return false;
        }
    }
    return !rest.empty();
}

std::string choose_reason(
    std::string_view status,
    std::string_view text,
    const std::string& text_reason,
    const std::string& status_reason)
{
    // KDDI's filter refusal wears any status code.
    if (text_reason == "filtered" && is_kddi_filter_refusal(text)) {
        return "filtered";
    }
    // X.2.2 and "mailbox full" always win: C09, a full mailbox heals.
    if (status_reason == "mailboxfull" || text_reason == "mailboxfull") {
        return "mailboxfull";
    }
    if (!status_reason.empty() && is_decisive_status(status)) {
        return status_reason;
    }
    if (!text_reason.empty()) {
        return text_reason;
    }
    if (!status_reason.empty()) {
        return status_reason;
    }
    std::string_view rest = status.size() >= 5 ? status.substr(2) : std::string_view{};
    if (rest == "1.0") {
        return "userunknown";
    }
    if (rest == "7.1") {
        return "blocked";
    }
    if (rest == "7.0") {
        return "policyviolation";
    }
    return "onhold";
}

// Adjusts a reason for the command it answered and for the result being
// final or not.
std::string refine_reason(
    std::string reason,
    std::string_view text,
    Stage stage,
    char status_class,
    std::string_view status,
    bool is_final)
{
    if (reason == "userunknown" && status.size() == 5 && status.substr(1) == ".2.0") {
        return "filtered";
    }
    // "User unknown" answered to DATA, after RCPT was accepted, is a
    // filter speaking, unless the status names the address itself.
    if (reason == "userunknown" && stage == Stage::data && !is_recipient_status(status) &&
        to_lower(text).find("user unknown") != std::string::npos) {
        return "filtered";
    }
    if (stage == Stage::connect &&
        (reason == "onhold" || reason == "userunknown" || reason == "hostunknown" ||
         reason == "rejected" || reason == "securityerror" || reason == "systemerror")) {
        return "blocked";
    }
    if (stage == Stage::mail && (reason == "onhold" || reason == "userunknown")) {
        return "rejected";
    }
    // A connection that kept timing out until delivery gave up has expired; a transient
    // name-service failure is a network problem, not a missing host.
    if (status_class == '4' && reason == "networkerror" && is_final &&
        to_lower(text).find("timed out") != std::string::npos) {
        return "expired";
    }
    if (status_class == '4' && reason == "hostunknown") {
        return "networkerror";
    }
    return reason;
}

// C09: status first. A recipient status (X.1.x, X.2.1) with a permanent
// class is hard; X.2.2 / mailbox full never is; X.7.x without recipient
// wording is about us ("block"); a delay is never final.
void decide_class(
    Classification& out,
    std::string_view status,
    const std::string& text_reason,
    const std::string& status_reason,
    bool is_permanent,
    bool is_delay)
{
    bool is_x7 = status.size() >= 3 && status.substr(1, 3) == ".7.";
    if (is_delay) {
        out.hard = false;
        out.bounce_class = "delay";
    } else if (out.reason == "mailboxfull" || out.reason == "filtered") {
        out.hard = false;
        out.bounce_class = "soft";
    } else if (is_x7 && !is_hard_reason(text_reason, is_permanent)) {
        out.hard = false;
        out.bounce_class = "block";
        if (is_hard_reason(out.reason, is_permanent)) {
            out.reason = status_reason.empty() ? "blocked" : status_reason;
        }
    } else if (
        (is_permanent && is_recipient_status(status) && !is_block_reason(out.reason)) ||
        is_hard_reason(out.reason, is_permanent)) {
        out.hard = true;
        out.bounce_class = "hard";
    } else {
        out.hard = false;
        out.bounce_class = is_block_reason(out.reason) ? "block" : "soft";
    }
}

}  // namespace

Classification classify_with_action(
    int reply_code,
    std::string_view enhanced_status,
    std::string_view text,
    std::string_view action,
    std::string_view context)
{
    std::string status(enhanced_status);
    if (status.empty()) {
        status = find_enhanced_status(text);
    }
    if (reply_code == 0) {
        reply_code = find_reply_code(text);
    }
    Classification out;

    // Delivery reports are not failures at all.
    if ((!status.empty() && status[0] == '2') || action == "delivered" || action == "relayed" ||
        action == "expanded") {
        out.reason = "delivered";
        out.bounce_class = "none";
        return out;
    }

    char status_class = !status.empty()
                            ? status[0]
                            : (reply_code >= 400 ? static_cast<char>('0' + reply_code / 100) : '5');
    bool is_permanent = status_class == '5';
    bool is_delay = action == "delayed" || (action.empty() && status_class == '4');
    std::string text_reason = reason_from_text(text);
    std::string status_reason = reason_from_status(status);
    // The recipient's own lines name the command they failed at best; the
    // wider text may hold another recipient's transcript.
    Stage stage = find_stage(text);
    if (stage == Stage::unknown) {
        stage = find_stage(std::string(text) + "\n" + std::string(context));
    }
    out.reason = refine_reason(
        choose_reason(status, text, text_reason, status_reason),
        text,
        stage,
        status_class,
        status,
        action == "failed");

    decide_class(out, status, text_reason, status_reason, is_permanent, is_delay);
    return out;
}

}  // namespace detail

Classification classify(int reply_code, std::string_view enhanced_status, std::string_view text)
{
    return detail::classify_with_action(reply_code, enhanced_status, text, "", "");
}

}  // namespace carepost::bounce
