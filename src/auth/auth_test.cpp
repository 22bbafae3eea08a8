#include <filesystem>

#include <gtest/gtest.h>

#include "auth/auth.hpp"
#include "crypto/crypto.hpp"

using namespace carepost;

namespace {

// A store with one organisation, and the authenticator over it.
class AuthTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        dir_ = std::filesystem::temp_directory_path() / ("cp-auth-" + crypto::random_hex(6));
        store_ = std::move(store::Store::open({dir_}).value());
        keys_ = std::make_unique<crypto::KeyRing>(
            crypto::random_key(), [this](const std::string& id) -> std::optional<std::string> {
                auto org = store_->find_org(id);
                return org ? std::optional(org->wrapped_key) : std::nullopt;
            });
        for (const char* id : {"org1", "org2"}) {
            store::OrgRow org{id, "Clinic", keys_->new_wrapped_org_key(id), 1, {}, {}};
            ASSERT_TRUE(store_->write([&](store::Writer& w) -> Result<void> {
                w.insert_org(org);
                return {};
            }));
        }
        auth_ = std::make_unique<auth::Authenticator>(*store_, *keys_);
    }
    void TearDown() override
    {
        auth_.reset();
        store_.reset();
        std::filesystem::remove_all(dir_);
    }

    auth::CreatedKey make_key(std::vector<std::string> scopes, const std::string& org = "org1")
    {
        auth::KeySettings s;
        s.scopes = std::move(scopes);
        return auth_->create_key(org, std::move(s), "test").value();
    }

    Result<auth::Principal> bearer(const std::string& value, std::int64_t now)
    {
        std::string header = "Bearer " + value;
        auth::Credentials c;
        c.authorization = header;
        return auth_->authenticate(c, "", now);
    }

    // A signed request as the README's shell example makes it.
    Result<auth::Principal> signed_request(
        const auth::CreatedKey& key,
        const std::string& body,
        std::int64_t timestamp,
        const std::string& nonce,
        std::int64_t now,
        const std::string& sign_body = "")
    {
        std::string ts = std::to_string(timestamp);
        std::string signature = crypto::to_hex(crypto::hmac_sha256(
            key.secret,
            auth::canonical_request(
                "POST", "/v1/messages?x=1", ts, nonce, sign_body.empty() ? body : sign_body)));
        auth::Credentials c;
        c.key_id = key.key_id;
        c.timestamp = ts;
        c.nonce = nonce;
        c.signature = signature;
        c.method = "POST";
        c.target = "/v1/messages?x=1";
        return auth_->authenticate(c, body, now);
    }

    std::filesystem::path dir_;
    std::unique_ptr<store::Store> store_;
    std::unique_ptr<crypto::KeyRing> keys_;
    std::unique_ptr<auth::Authenticator> auth_;
};

}  // namespace

TEST_F(AuthTest, bearer_key_authenticates_and_a_tampered_one_does_not)
{
    auto key = make_key({"messages:send"});
    std::int64_t now = store::unix_now();
    auto p = bearer(key.secret, now);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->org_id, "org1");
    EXPECT_EQ(p->method, "key");
    EXPECT_TRUE(p->has_scope("messages:send"));
    EXPECT_FALSE(p->has_scope("messages:read"));

    std::string bad = key.secret;
    bad.back() = bad.back() == 'A' ? 'B' : 'A';
    EXPECT_FALSE(bearer(bad, now));
    EXPECT_FALSE(bearer("", now));
    EXPECT_FALSE(bearer("cpk_zz", now));
    // The key itself is never stored: only its digest and a sealed copy.
    auto row = store_->find_api_key("org1", key.key_id);
    ASSERT_TRUE(row);
    EXPECT_EQ(row->hash.find(key.secret), std::string::npos);
    EXPECT_EQ(row->sealed_secret.find(key.secret), std::string::npos);
}

TEST_F(AuthTest, unknown_scopes_and_organisations_are_refused)
{
    auth::KeySettings s;
    s.scopes = {"root"};
    EXPECT_FALSE(auth_->create_key("org1", s, "test"));
    s.scopes = {"admin"};
    EXPECT_FALSE(auth_->create_key("nope", s, "test"));
    s.scopes = {};
    EXPECT_FALSE(auth_->create_key("org1", s, "test"));
}

TEST_F(AuthTest, basic_takes_key_id_and_key)
{
    auto key = make_key({"messages:read"});
    std::int64_t now = store::unix_now();
    auto header = "Basic " + crypto::base64_encode(key.key_id + ":" + key.secret);
    auth::Credentials c;
    c.authorization = header;
    auto p = auth_->authenticate(c, "", now);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->method, "basic");

    auto other = make_key({"messages:read"});
    auto mixed = "Basic " + crypto::base64_encode(other.key_id + ":" + key.secret);
    c.authorization = mixed;
    EXPECT_FALSE(auth_->authenticate(c, "", now));
}

TEST_F(AuthTest, expired_revoked_and_suspended_keys_are_refused)
{
    std::int64_t now = store::unix_now();
    auth::KeySettings s;
    s.scopes = {"messages:send"};
    s.expires_at = now + 60;
    auto expiring = auth_->create_key("org1", s, "test").value();
    EXPECT_TRUE(bearer(expiring.secret, now));
    EXPECT_FALSE(bearer(expiring.secret, now + 60));

    auto key = make_key({"messages:send"});
    ASSERT_TRUE(auth_->revoke_key("org1", key.key_id, "test"));
    EXPECT_FALSE(bearer(key.secret, now));
    // Another organisation's key id is not found.
    auto theirs = make_key({"messages:send"}, "org2");
    EXPECT_FALSE(auth_->revoke_key("org1", theirs.key_id, "test"));
    EXPECT_TRUE(bearer(theirs.secret, now));

    auto suspended = make_key({"messages:send"});
    ASSERT_TRUE(store_->write([&](store::Writer& w) -> Result<void> {
        w.suspend_api_key("org1", suspended.key_id, now, "volume");
        return {};
    }));
    auto p = bearer(suspended.secret, now);
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().code, "key_suspended");
    ASSERT_TRUE(auth_->lift_suspension("org1", suspended.key_id, "test"));
    EXPECT_TRUE(bearer(suspended.secret, now));
}

TEST_F(AuthTest, rotation_keeps_the_old_key_for_the_grace_time)
{
    auto old = make_key({"messages:send", "events:read"});
    auto fresh = auth_->rotate_key("org1", old.key_id, 600, "test");
    ASSERT_TRUE(fresh);
    std::int64_t now = store::unix_now();
    EXPECT_TRUE(bearer(old.secret, now + 599));
    EXPECT_FALSE(bearer(old.secret, now + 601));
    auto p = bearer(fresh->secret, now + 601);
    ASSERT_TRUE(p);
    EXPECT_TRUE(p->has_scope("events:read"));
}

TEST_F(AuthTest, tokens_carry_the_client_scopes_and_die_with_it)
{
    auto key = make_key({"messages:send", "messages:read"});
    std::int64_t now = store::unix_now();
    auto client = auth_->authenticate_client(key.key_id, key.secret, now);
    ASSERT_TRUE(client);
    EXPECT_FALSE(auth_->authenticate_client(key.key_id, key.secret + "x", now));

    auto narrow = auth_->issue_token(*client, {"messages:read"}, now);
    ASSERT_TRUE(narrow);
    auto p = bearer(narrow->access_token, now);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->method, "token");
    EXPECT_TRUE(p->has_scope("messages:read"));
    EXPECT_FALSE(p->has_scope("messages:send"));
    EXPECT_FALSE(bearer(narrow->access_token, now + 900));  // 15 minutes by default
    EXPECT_FALSE(auth_->issue_token(*client, {"admin"}, now));

    // RFC 7009: another client cannot revoke it; its own client can.
    auto other = make_key({"messages:read"});
    auto other_client = auth_->authenticate_client(other.key_id, other.secret, now).value();
    auth_->revoke_token(other_client, narrow->access_token, now);
    EXPECT_TRUE(bearer(narrow->access_token, now));
    auth_->revoke_token(*client, narrow->access_token, now);
    EXPECT_FALSE(bearer(narrow->access_token, now));

    // Revoking the client ends all its tokens.
    auto token = auth_->issue_token(*client, {}, now).value();
    EXPECT_TRUE(bearer(token.access_token, now));
    ASSERT_TRUE(auth_->revoke_key("org1", key.key_id, "test"));
    EXPECT_FALSE(bearer(token.access_token, now));
}

TEST_F(AuthTest, signed_requests_check_signature_window_and_nonce)
{
    auto key = make_key({"messages:send"});
    std::int64_t now = store::unix_now();
    std::string body = R"({"to":["a@example.org"]})";
    auto p = signed_request(key, body, now, "nonce-0000000000000001", now);
    ASSERT_TRUE(p) << p.error().text;
    EXPECT_EQ(p->method, "signed");

    // The same nonce again is a replay, even with a fresh signature.
    EXPECT_FALSE(signed_request(key, body, now, "nonce-0000000000000001", now));
    // Outside ±300 s.
    EXPECT_FALSE(signed_request(key, body, now - 301, "nonce-0000000000000002", now));
    EXPECT_FALSE(signed_request(key, body, now + 301, "nonce-0000000000000003", now));
    EXPECT_TRUE(signed_request(key, body, now - 299, "nonce-0000000000000004", now));
    // A changed body breaks the signature, and does not spend the nonce.
    EXPECT_FALSE(signed_request(key, body, now, "nonce-0000000000000005", now, body + " "));
    EXPECT_TRUE(signed_request(key, body, now, "nonce-0000000000000005", now));
    // Too short a nonce.
    EXPECT_FALSE(signed_request(key, body, now, "short", now));
}

TEST_F(AuthTest, nonces_survive_a_restart)
{
    auto key = make_key({"messages:send"});
    std::int64_t now = store::unix_now();
    ASSERT_TRUE(signed_request(key, "{}", now, "nonce-restart-00000001", now));
    // The nonce is written in the background; a write behind it waits for it.
    ASSERT_TRUE(store_->write([](store::Writer&) -> Result<void> { return {}; }));
    auth_ = std::make_unique<auth::Authenticator>(*store_, *keys_);
    auth_->load_nonces(now);
    EXPECT_FALSE(signed_request(key, "{}", now, "nonce-restart-00000001", now));
}

TEST_F(AuthTest, canonical_request_is_five_lines_without_a_trailing_newline)
{
    EXPECT_EQ(
        auth::canonical_request("POST", "/v1/messages", "1700000000", "abc", ""),
        "POST\n/v1/messages\n1700000000\nabc\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_F(AuthTest, send_template_scope_is_limited_to_listed_templates)
{
    auth::Principal p;
    p.scopes = {"messages:send-template"};
    p.templates = {"reminder"};
    EXPECT_TRUE(p.may_send(std::string("reminder")));
    EXPECT_FALSE(p.may_send(std::string("lab-result")));
    EXPECT_FALSE(p.may_send(std::nullopt));
    p.scopes = {"messages:send"};
    EXPECT_TRUE(p.may_send(std::nullopt));
}
