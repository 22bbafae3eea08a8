#include "store/sqlite_db.hpp"

#include <mutex>

namespace carepost::store {
namespace {

[[noreturn]] void fail(sqlite3* db, int rc)
{
    // The SQLite message names the statement's problem, never bound values.
    throw DatabaseError(rc, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

}  // namespace

Statement& Statement::bind(int i, std::string_view text)
{
    sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    return *this;
}

Statement& Statement::bind_blob(int i, std::string_view bytes)
{
    sqlite3_bind_blob(stmt_, i, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
    return *this;
}

Statement& Statement::bind(int i, std::int64_t v)
{
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
}

Statement& Statement::bind_null(int i)
{
    sqlite3_bind_null(stmt_, i);
    return *this;
}

bool Statement::step()
{
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) {
        return true;
    }
    if (rc == SQLITE_DONE) {
        return false;
    }
    fail(sqlite3_db_handle(stmt_), rc);
}

void Statement::run()
{
    while (step()) {
    }
}

std::string Statement::text(int col) const
{
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))) : "";
}

std::string Statement::blob(int col) const
{
    auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))) : "";
}

std::int64_t Statement::integer(int col) const
{
    return sqlite3_column_int64(stmt_, col);
}

bool Statement::is_null(int col) const
{
    return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

Database::Database(const std::string& path, bool read_only)
{
    // Memory statistics take one process-wide mutex on every SQLite
    // allocation: with readers on several threads and the writer, it was
    // the most contended lock of the accept path. Nothing reads them.
    static std::once_flag configured;
    std::call_once(configured, [] {
        sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
        sqlite3_initialize();
    });
    int flags = read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    flags |= SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
    if (rc != SQLITE_OK) {
        sqlite3_close(db_);
        db_ = nullptr;
        fail(nullptr, rc);
    }
    sqlite3_busy_timeout(db_, 10000);
}

Database::~Database()
{
    for (auto& [sql, stmt] : cache_) {
        sqlite3_finalize(stmt);
    }
    sqlite3_close(db_);
}

void Database::exec(const char* sql)
{
    char* message = nullptr;
    int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &message);
    if (rc != SQLITE_OK) {
        std::string text = message ? message : sqlite3_errstr(rc);
        sqlite3_free(message);
        throw DatabaseError(rc, text);
    }
}

Statement Database::prepare(const char* sql)
{
    auto it = cache_.find(sql);
    if (it == cache_.end()) {
        sqlite3_stmt* stmt = nullptr;
        int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
        if (rc != SQLITE_OK) {
            fail(db_, rc);
        }
        it = cache_.emplace(sql, stmt).first;
    }
    return Statement(it->second);
}

}  // namespace carepost::store
