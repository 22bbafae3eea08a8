// Shared by the store's translation units only: the writer's connection
// and the pool of reader connections.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "store/sqlite_db.hpp"
#include "store/store.hpp"

namespace carepost::store {

// Space-separated word lists (scopes, domain rules, template ids).
inline std::string join_words(const std::vector<std::string>& scopes)
{
    std::string out;
    for (const auto& s : scopes) {
        out += out.empty() ? s : " " + s;
    }
    return out;
}

inline std::vector<std::string> split_words(const std::string& text)
{
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string s; in >> s;) {
        out.push_back(s);
    }
    return out;
}

// The columns every recipient read selects, and the row they make.
#define CAREPOST_RECIPIENT_COLUMNS                                                                 \
    "SELECT id, message_id, org_id, email, domain, kind, status, attempts, next_attempt_at, "      \
    "last_code, last_enhanced, reason, created_at, updated_at, delivered_at FROM recipients "

inline RecipientRow read_recipient(const Statement& st)
{
    RecipientRow r;
    r.id = st.text(0);
    r.message_id = st.text(1);
    r.org_id = st.text(2);
    r.email = st.text(3);
    r.domain = st.text(4);
    r.kind = st.text(5);
    r.status = st.text(6);
    r.attempts = st.integer(7);
    r.next_attempt_at = st.integer(8);
    r.last_code = st.integer(9);
    r.last_enhanced = st.text(10);
    r.reason = st.text(11);
    r.created_at = st.integer(12);
    r.updated_at = st.integer(13);
    if (!st.is_null(14)) {
        r.delivered_at = st.integer(14);
    }
    return r;
}

// WAL, synchronous=FULL: settings every connection of the store shares.
void configure(Database& db);

class WriterImpl {
public:
    explicit WriterImpl(const std::string& path) : db(path, false) { configure(db); }
    Database db;
    // False while the suppression list is empty: accept then skips the
    // look-up (set by every write that adds one; never reset).
    std::atomic<bool> has_suppressions{false};
};

class Store::Readers {
public:
    explicit Readers(std::string path) : path_(std::move(path)) {}

    // Borrows a connection for the duration of one read.
    class Lease {
    public:
        Lease(Readers& r, std::unique_ptr<Database> db) : readers_(r), db_(std::move(db)) {}
        ~Lease()
        {
            std::lock_guard lock(readers_.mutex_);
            readers_.idle_.push_back(std::move(db_));
        }
        Database& operator*() { return *db_; }
        Database* operator->() { return db_.get(); }

    private:
        Readers& readers_;
        std::unique_ptr<Database> db_;
    };

    Lease acquire()
    {
        {
            std::lock_guard lock(mutex_);
            if (!idle_.empty()) {
                auto db = std::move(idle_.back());
                idle_.pop_back();
                return Lease(*this, std::move(db));
            }
        }
        return Lease(*this, std::make_unique<Database>(path_, false));
    }

private:
    std::string path_;
    std::mutex mutex_;
    std::vector<std::unique_ptr<Database>> idle_;
};

}  // namespace carepost::store
