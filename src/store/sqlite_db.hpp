// store: a thin RAII layer over SQLite; private to the store component.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <sqlite3.h>

namespace carepost::store {

class Statement {
public:
    explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
    Statement(const Statement&) = delete;
    ~Statement() { sqlite3_reset(stmt_); }

    Statement& bind(int i, std::string_view text);
    Statement& bind_blob(int i, std::string_view bytes);
    Statement& bind(int i, std::int64_t v);
    Statement& bind(int i, int v) { return bind(i, static_cast<std::int64_t>(v)); }
    Statement& bind_null(int i);
    Statement& bind(int i, const std::string& text) { return bind(i, std::string_view(text)); }
    Statement& bind(int i, const char* text) { return bind(i, std::string_view(text)); }

    // Steps once: true when a row is ready, false when done. Throws on error.
    bool step();
    void run();  // steps to completion

    std::string text(int col) const;
    std::string blob(int col) const;
    std::int64_t integer(int col) const;
    bool is_null(int col) const;

private:
    sqlite3_stmt* stmt_;
};

// One connection. Not thread-safe: each thread or role owns its own.
class Database {
public:
    Database(const std::string& path, bool read_only);
    Database(const Database&) = delete;
    ~Database();

    void exec(const char* sql);
    // A cached prepared statement, reset when the returned Statement dies.
    Statement prepare(const char* sql);
    std::int64_t changes() const { return sqlite3_changes64(db_); }

private:
    sqlite3* db_ = nullptr;
    std::map<const char*, sqlite3_stmt*> cache_;
};

struct DatabaseError : std::runtime_error {
    int code;
    DatabaseError(int c, const std::string& what) : std::runtime_error(what), code(c) {}
};

}  // namespace carepost::store
