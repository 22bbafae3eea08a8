#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "crypto/crypto.hpp"

using namespace carepost;

TEST(Crypto, seal_round_trips_and_binds_context)
{
    auto key = crypto::random_key();
    std::string sealed = crypto::seal(key, "lab result: negative", "msg-1");
    EXPECT_EQ(sealed.find("negative"), std::string::npos);
    auto opened = crypto::open(key, sealed, "msg-1");
    ASSERT_TRUE(opened);
    EXPECT_EQ(*opened, "lab result: negative");
    EXPECT_FALSE(crypto::open(key, sealed, "msg-2"));
}

TEST(Crypto, open_refuses_a_flipped_bit)
{
    auto key = crypto::random_key();
    std::string sealed = crypto::seal(key, "payload", "ctx");
    sealed[14] ^= 1;
    EXPECT_FALSE(crypto::open(key, sealed, "ctx"));
    EXPECT_FALSE(crypto::open(key, "short", "ctx"));
}

TEST(Crypto, wrapped_key_unwraps_only_with_its_kek)
{
    auto kek = crypto::random_key();
    auto other = crypto::random_key();
    auto key = crypto::random_key();
    std::string wrapped = crypto::wrap_key(kek, key, "org:1");
    auto back = crypto::unwrap_key(kek, wrapped, "org:1");
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, key);
    EXPECT_FALSE(crypto::unwrap_key(other, wrapped, "org:1"));
}

TEST(Crypto, base64_matches_rfc4648_vectors)
{
    EXPECT_EQ(crypto::base64_encode(""), "");
    EXPECT_EQ(crypto::base64_encode("f"), "Zg==");
    EXPECT_EQ(crypto::base64_encode("foobar"), "Zm9vYmFy");
    EXPECT_EQ(*crypto::base64_decode("Zm9vYg=="), "foob");
    EXPECT_EQ(*crypto::base64_decode("Zm9v\r\nYmE="), "fooba");
    EXPECT_FALSE(crypto::base64_decode("Zm9v!"));
    EXPECT_FALSE(crypto::base64_decode("Zm9"));
    // Found by the send-request fuzzer: padding anywhere but the end.
    EXPECT_FALSE(crypto::base64_decode("===="));
    EXPECT_FALSE(crypto::base64_decode("A==="));
    EXPECT_FALSE(crypto::base64_decode("A=B="));
    EXPECT_FALSE(crypto::base64_decode("Zg==Zg=="));
    EXPECT_EQ(*crypto::base64_decode("Zm8="), "fo");
}

TEST(Crypto, sha256_and_hmac_match_known_vectors)
{
    EXPECT_EQ(
        crypto::sha256_hex("abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    // RFC 4231 test case 2.
    EXPECT_EQ(
        crypto::to_hex(crypto::hmac_sha256("Jefe", "what do ya want for nothing?")),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Crypto, master_key_is_created_0600_and_reloaded)
{
    auto dir = std::filesystem::temp_directory_path() / ("cp-key-" + crypto::random_hex(6));
    auto path = dir / "master.key";
    auto first = crypto::load_or_create_master_key(path);
    ASSERT_TRUE(first);
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    auto second = crypto::load_or_create_master_key(path);
    ASSERT_TRUE(second);
    EXPECT_EQ(*first, *second);

    ::chmod(path.c_str(), 0644);
    EXPECT_FALSE(crypto::load_or_create_master_key(path));
    std::filesystem::remove_all(dir);
}

#include "crypto/key_ring.hpp"

TEST(KeyRing, message_sealed_for_one_org_opens_only_there)
{
    auto master = crypto::random_key();
    std::map<std::string, std::string> wrapped;
    crypto::KeyRing ring(master, [&](const std::string& org) -> std::optional<std::string> {
        auto it = wrapped.find(org);
        return it == wrapped.end() ? std::nullopt : std::optional(it->second);
    });
    wrapped["a"] = ring.new_wrapped_org_key("a");
    wrapped["b"] = ring.new_wrapped_org_key("b");
    auto sealed = ring.seal_message("a", "m1", "canary-body");
    ASSERT_TRUE(sealed);
    EXPECT_EQ(sealed->body.find("canary"), std::string::npos);
    auto back = ring.open_message("a", "m1", sealed->wrapped_key, sealed->body);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, "canary-body");
    EXPECT_FALSE(ring.open_message("b", "m1", sealed->wrapped_key, sealed->body));
    EXPECT_FALSE(ring.open_message("a", "m2", sealed->wrapped_key, sealed->body));
    EXPECT_FALSE(ring.seal_message("nobody", "m1", "x"));
}

TEST(Crypto, master_key_file_must_be_64_hex_digits)
{
    auto dir = std::filesystem::temp_directory_path() / ("cp-key-" + crypto::random_hex(6));
    std::filesystem::create_directories(dir);
    for (std::string text :
         {std::string(64, 'z'),
          std::string(32, '1') + std::string(32, 'g'),
          std::string("-1") + std::string(62, '1'),
          std::string(63, 'a')}) {
        auto path = dir / "master.key";
        std::filesystem::remove(path);
        {
            std::ofstream out(path);
            out << text << "\n";
        }
        std::filesystem::permissions(
            path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
        EXPECT_FALSE(crypto::load_or_create_master_key(path)) << text;
    }
    std::filesystem::remove_all(dir);
}
