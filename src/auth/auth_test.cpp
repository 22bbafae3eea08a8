#include <filesystem>

#include <gtest/gtest.h>

#include "auth/auth.hpp"
#include "crypto/crypto.hpp"

using namespace carepost;

TEST(Auth, created_key_authenticates_and_tampered_key_does_not)
{
    auto dir = std::filesystem::temp_directory_path() / ("cp-auth-" + crypto::random_hex(6));
    {
        auto store = std::move(store::Store::open({dir}).value());
        ASSERT_TRUE(store->write([](store::Writer& w) -> Result<void> {
            w.insert_org({"org1", "Clinic", "wk", 1});
            return {};
        }));
        auto key = auth::create_key(*store, "org1", {"messages:send"}, "admin-cli");
        ASSERT_TRUE(key);
        auto p = auth::authenticate_bearer(*store, key->secret);
        ASSERT_TRUE(p);
        EXPECT_EQ(p->org_id, "org1");
        EXPECT_TRUE(p->has_scope("messages:send"));
        EXPECT_FALSE(p->has_scope("messages:read"));

        std::string bad = key->secret;
        bad.back() = bad.back() == 'A' ? 'B' : 'A';
        EXPECT_FALSE(auth::authenticate_bearer(*store, bad));
        EXPECT_FALSE(auth::authenticate_bearer(*store, ""));
        EXPECT_FALSE(auth::authenticate_bearer(*store, "cpk_zz"));
        EXPECT_FALSE(auth::create_key(*store, "org1", {"root"}, "admin-cli"));
        EXPECT_FALSE(auth::create_key(*store, "nope", {"admin"}, "admin-cli"));
        // The key itself is never stored: only its digest.
        auto row = store->find_api_key_by_prefix(key->key_id.substr(4));
        ASSERT_TRUE(row);
        EXPECT_EQ(row->hash.find(key->secret), std::string::npos);
    }
    std::filesystem::remove_all(dir);
}
