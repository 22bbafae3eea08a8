// common: structured JSON-lines logging to stderr.
//
// Every line is one JSON object: time, level, component, event and
// allow-listed fields. Values are typed (numbers, strings, booleans); a
// Sensitive<T> cannot be a field, so PHI cannot be logged by mistake.
// Peer-supplied text must go through log::peer_text(), which cuts and escapes it.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

namespace carepost::log {

enum class Level { debug, info, warn, error };

struct Field {
    using Value = std::variant<std::int64_t, double, bool, std::string_view, std::string>;
    std::string_view key;
    Value value;

    Field(std::string_view k, std::string_view v) : key(k), value(v) {}
    Field(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
    Field(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
    Field(std::string_view k, std::string&& v) : key(k), value(std::move(v)) {}
    Field(std::string_view k, bool v) : key(k), value(v) {}
    Field(std::string_view k, double v) : key(k), value(v) {}
    template <class I>
    requires std::is_integral_v<I> Field(std::string_view k, I v)
        : key(k), value(static_cast<std::int64_t>(v))
    {}
};

void set_level(Level level);
bool is_enabled(Level level);
void write(
    Level level,
    std::string_view component,
    std::string_view event,
    std::initializer_list<Field> fields);

inline void debug(std::string_view c, std::string_view e, std::initializer_list<Field> f = {})
{
    if (is_enabled(Level::debug)) {
        write(Level::debug, c, e, f);
    }
}
inline void info(std::string_view c, std::string_view e, std::initializer_list<Field> f = {})
{
    write(Level::info, c, e, f);
}
inline void warn(std::string_view c, std::string_view e, std::initializer_list<Field> f = {})
{
    write(Level::warn, c, e, f);
}
inline void error(std::string_view c, std::string_view e, std::initializer_list<Field> f = {})
{
    write(Level::error, c, e, f);
}

// Cuts text a peer sent us to a fixed length and replaces control bytes, so
// that it can be logged without letting the peer forge log lines.
std::string peer_text(std::string_view text, std::size_t max_octets = 120);

}  // namespace carepost::log
