#include <array>

#include "dkim/dkim.hpp"
#include "dkim/header_fields.hpp"
#include "dkim/rsa_key.hpp"
#include "dkim/signing_input.hpp"

namespace carepost::dkim {
namespace {

// The fields a recipient sees or a list manager relies on. From is listed
// once more than it occurs (oversigning) so that no From can be added later.
constexpr std::array<std::string_view, 15> kSignedFields = {
    "From",
    "Reply-To",
    "Subject",
    "Date",
    "To",
    "Cc",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "In-Reply-To",
    "References",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "List-Id",
};

constexpr std::size_t kFoldColumn = 78;

// Writes header text, starting a continuation line when the next token would
// pass the fold column (RFC 5322 §2.2.3 folding, allowed as FWS in DKIM tags).
class FoldedWriter {
public:
    explicit FoldedWriter(std::string start) : out_(std::move(start)), column_(out_.size()) {}

    void add(std::string_view token, bool space_before)
    {
        if (column_ + token.size() + (space_before ? 1 : 0) > kFoldColumn) {
            fold();
        } else if (space_before) {
            out_ += ' ';
            ++column_;
        }
        out_ += token;
        column_ += token.size();
    }

    // A value that may be broken anywhere (base64 with FWS).
    void add_breakable(std::string_view value)
    {
        while (!value.empty()) {
            if (column_ >= kFoldColumn) {
                fold();
            }
            std::size_t take = std::min(value.size(), kFoldColumn - column_);
            out_ += value.substr(0, take);
            column_ += take;
            value.remove_prefix(take);
        }
    }

    void fold()
    {
        out_ += "\r\n ";
        column_ = 1;
    }

    std::string& text() { return out_; }

private:
    std::string out_;
    std::size_t column_;
};

bool is_tag_safe(std::string_view s)
{
    if (s.empty()) {
        return false;
    }
    for (char c : s) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-' || c == '_';
        if (!ok) {
            return false;
        }
    }
    return true;
}

}  // namespace

Signer::Signer(std::string domain, std::string selector, std::shared_ptr<const RsaKey> key)
    : domain_(std::move(domain)), selector_(std::move(selector)), key_(std::move(key))
{}

Result<Signer>
Signer::create(std::string domain, std::string selector, std::string_view private_pem)
{
    // d= and s= go into a header verbatim: anything outside the DNS label
    // alphabet could break the tag list or inject header text.
    if (!is_tag_safe(domain) || !is_tag_safe(selector)) {
        return Error::permanent("bad_selector", "domain or selector is not a plain DNS name");
    }
    auto key = RsaKey::from_pem(private_pem);
    if (!key) {
        return key.error();
    }
    return Signer(std::move(domain), std::move(selector), std::move(*key));
}

Result<std::string> Signer::sign(std::string_view message, std::int64_t unix_time) const
{
    SplitMessage split = split_message(message);

    // RFC 6376 §5.4: From is required in h=; a message without it is refused.
    std::vector<std::string_view> names;
    for (std::string_view field : kSignedFields) {
        for (const HeaderField& header : split.headers) {
            if (is_same_name(header.name, field)) {
                names.push_back(field);
            }
        }
    }
    if (names.empty() || names.front() != "From") {
        return Error::permanent("no_from", "message has no From header field");
    }
    names.push_back("From");

    FoldedWriter writer("DKIM-Signature:");
    writer.add("v=1;", true);
    writer.add("a=rsa-sha256;", true);
    writer.add("c=relaxed/relaxed;", true);
    writer.add("d=" + domain_ + ";", true);
    writer.add("s=" + selector_ + ";", true);
    writer.add("t=" + std::to_string(unix_time) + ";", true);
    for (std::size_t i = 0; i < names.size(); ++i) {
        std::string token = (i == 0 ? "h=" : "") + std::string(names[i]);
        token += i + 1 == names.size() ? ";" : ":";
        writer.add(token, i == 0);
    }
    writer.add("bh=" + sha256_base64(canonicalize_body_relaxed(split.body)) + ";", true);
    writer.fold();
    writer.add("b=", false);

    std::string_view value = std::string_view(writer.text()).substr(15);
    auto b = key_->sign_sha256_base64(build_signing_input(split.headers, names, value));
    if (!b) {
        return b.error();
    }
    writer.add_breakable(*b);
    writer.text() += "\r\n";
    return std::move(writer.text());
}

}  // namespace carepost::dkim
