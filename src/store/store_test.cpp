#include <atomic>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "store/store.hpp"

using namespace carepost;

namespace {

struct TempDir {
    std::filesystem::path path;
    TempDir()
    {
        path = std::filesystem::temp_directory_path() /
               ("cp-store-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        std::filesystem::remove_all(path);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    static inline int counter = 0;
};

store::MessageRow message(const std::string& id)
{
    store::MessageRow m;
    m.id = id;
    m.org_id = "org1";
    m.key_id = "key1";
    m.created_at = 100;
    m.mail_from = "noreply@clinic.example.org";
    m.sign_domain = "clinic.example.org";
    m.wrapped_key = "wk";
    m.body = "sealed";
    m.size = 6;
    return m;
}

store::RecipientRow recipient(const std::string& id, const std::string& email)
{
    store::RecipientRow r;
    r.id = id;
    r.email = email;
    r.domain = email.substr(email.find('@') + 1);
    r.kind = "to";
    r.created_at = 100;
    r.next_attempt_at = 100;
    return r;
}

}  // namespace

TEST(Store, message_and_recipients_round_trip)
{
    TempDir dir;
    auto s = store::Store::open({dir.path});
    ASSERT_TRUE(s);
    auto& store = **s;
    auto r = store.write([](store::Writer& w) -> Result<void> {
        w.insert_message(message("m1"), {recipient("r1", "a@x.test"), recipient("r2", "b@y.test")});
        return {};
    });
    ASSERT_TRUE(r);
    auto m = store.find_message("org1", "m1");
    ASSERT_TRUE(m);
    EXPECT_EQ(m->body, "sealed");
    EXPECT_FALSE(store.find_message("org2", "m1"));
    auto rs = store.recipients_of("m1");
    ASSERT_EQ(rs.size(), 2u);
    EXPECT_EQ(rs[1].domain, "y.test");
    EXPECT_EQ(store.due_recipients(100, 10).size(), 2u);
    EXPECT_EQ(store.due_recipients(99, 10).size(), 0u);
}

TEST(Store, failing_write_rolls_back_only_itself)
{
    TempDir dir;
    auto s = store::Store::open({dir.path});
    ASSERT_TRUE(s);
    auto& store = **s;
    std::atomic<int> done{0};
    std::vector<Result<void>> results(3, Result<void>{});
    for (int i = 0; i < 3; ++i) {
        store.submit(
            [i](store::Writer& w) -> Result<void> {
                w.insert_message(message("m" + std::to_string(i)), {});
                if (i == 1) {
                    return Error::permanent("test", "refused");
                }
                return {};
            },
            [&, i](Result<void> r) {
                results[i] = r;
                ++done;
            });
    }
    while (done < 3) {
        std::this_thread::yield();
    }
    EXPECT_TRUE(results[0]);
    EXPECT_FALSE(results[1]);
    EXPECT_TRUE(results[2]);
    EXPECT_TRUE(store.find_message("org1", "m0"));
    EXPECT_FALSE(store.find_message("org1", "m1"));
    EXPECT_TRUE(store.find_message("org1", "m2"));
}

TEST(Store, duplicate_primary_key_is_an_error_not_a_crash)
{
    TempDir dir;
    auto s = store::Store::open({dir.path});
    ASSERT_TRUE(s);
    auto insert = [](store::Writer& w) -> Result<void> {
        w.insert_message(message("dup"), {});
        return {};
    };
    EXPECT_TRUE((*s)->write(insert));
    EXPECT_FALSE((*s)->write(insert));
}

TEST(Store, data_survives_reopen_and_sending_is_requeued)
{
    TempDir dir;
    {
        auto s = store::Store::open({dir.path});
        ASSERT_TRUE(s);
        ASSERT_TRUE((*s)->write([](store::Writer& w) -> Result<void> {
            w.insert_message(message("m1"), {recipient("r1", "a@x.test")});
            w.mark_claimed({"r1"}, 101);
            return {};
        }));
        EXPECT_EQ((*s)->count_recipients_with_status("sending"), 1);
    }
    auto s = store::Store::open({dir.path});
    ASSERT_TRUE(s);
    (*s)->requeue_interrupted();
    EXPECT_EQ((*s)->count_recipients_with_status("queued"), 1);
}

TEST(Store, audit_rows_cannot_be_changed)
{
    TempDir dir;
    auto s = store::Store::open({dir.path});
    ASSERT_TRUE(s);
    ASSERT_TRUE((*s)->write([](store::Writer& w) -> Result<void> {
        w.insert_audit({1, 1, "key1", "message.accepted", "org1", "m1", "a@x.test", "ok", "", "h"});
        return {};
    }));
    EXPECT_EQ((*s)->audit_range(0, 10).size(), 1u);
    // A direct UPDATE through sqlite3 is refused by the trigger.
    std::string cmd =
        "sqlite3 " + ((*s)->path()).string() + " \"UPDATE audit SET outcome='x'\" 2>/dev/null";
    EXPECT_NE(std::system(cmd.c_str()), 0);
}

TEST(Store, due_recipients_leave_out_skipped_domains)
{
    TempDir dir;
    auto s = store::Store::open({dir.path});
    ASSERT_TRUE(s);
    ASSERT_TRUE((*s)->write([](store::Writer& w) -> Result<void> {
        w.insert_message(
            message("m1"),
            {recipient("r1", "a@slow.test"),
             recipient("r2", "b@ok.test"),
             recipient("r3", "c@we\"ird.test")});
        return {};
    }));
    auto due = (*s)->due_recipients(100, 10, {"slow.test", "we\"ird.test"});
    ASSERT_EQ(due.size(), 1u);
    EXPECT_EQ(due[0].domain, "ok.test");
    EXPECT_EQ((*s)->due_recipients(100, 10, {}).size(), 3u);
}
