#include <filesystem>

#include <gtest/gtest.h>

#include "audit/audit.hpp"
#include "crypto/crypto.hpp"

using namespace carepost;

namespace {

struct Fixture : ::testing::Test {
    std::filesystem::path dir =
        std::filesystem::temp_directory_path() / ("cp-audit-" + crypto::random_hex(6));
    std::unique_ptr<store::Store> store;
    void SetUp() override { store = std::move(store::Store::open({dir}).value()); }
    void TearDown() override
    {
        store.reset();
        std::filesystem::remove_all(dir);
    }
    void add(int n)
    {
        ASSERT_TRUE(store->write([n](store::Writer& w) -> Result<void> {
            for (int i = 0; i < n; ++i) {
                audit::append(
                    w,
                    {"key1", "message.accepted", "org1", "m" + std::to_string(i), "a@x.test", "ok"},
                    1000 + i);
            }
            return {};
        }));
    }
    int sql(const std::string& statement)
    {
        // Tampering from outside, as someone with the file would: drop the
        // append-only triggers first.
        std::string cmd = "sqlite3 " + store->path().string() +
                          " \"DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; " +
                          statement + "\"";
        return std::system(cmd.c_str());
    }
};

}  // namespace

TEST_F(Fixture, intact_chain_verifies_with_its_count)
{
    add(5);
    add(3);
    auto v = audit::verify(*store);
    EXPECT_EQ(v.count, 8);
    EXPECT_FALSE(v.first_broken_seq);
}

TEST_F(Fixture, changed_record_is_found)
{
    add(5);
    ASSERT_EQ(sql("UPDATE audit SET outcome='rejected' WHERE seq=3"), 0);
    auto v = audit::verify(*store);
    ASSERT_TRUE(v.first_broken_seq);
    EXPECT_EQ(*v.first_broken_seq, 3);
}

TEST_F(Fixture, removed_record_is_found)
{
    add(5);
    ASSERT_EQ(sql("DELETE FROM audit WHERE seq=2"), 0);
    auto v = audit::verify(*store);
    ASSERT_TRUE(v.first_broken_seq);
    EXPECT_EQ(*v.first_broken_seq, 3);
}
