#include "common/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>

#include <boost/json.hpp>

#include "common/error.hpp"

namespace carepost {

void throw_exception_from_error(const Error& e, const boost::source_location&)
{
    throw std::runtime_error("carepost error: " + e.code);
}

}  // namespace carepost

namespace carepost::log {
namespace {

std::atomic<Level> g_level{Level::info};
std::mutex g_write_mutex;

const char* level_name(Level level)
{
    switch (level) {
    case Level::debug:
        return "debug";
    case Level::info:
        return "info";
    case Level::warn:
        return "warn";
    case Level::error:
        return "error";
    }
    return "info";
}

std::string utc_now()
{
    auto now = std::chrono::system_clock::now();
    auto secs = std::chrono::time_point_cast<std::chrono::seconds>(now);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - secs).count();
    std::time_t t = std::chrono::system_clock::to_time_t(now);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    std::snprintf(
        buf,
        sizeof buf,
        "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        static_cast<int>(ms));
    return buf;
}

}  // namespace

void set_level(Level level)
{
    g_level = level;
}
bool is_enabled(Level level)
{
    return level >= g_level.load();
}

void write(
    Level level,
    std::string_view component,
    std::string_view event,
    std::initializer_list<Field> fields)
{
    if (!is_enabled(level)) {
        return;
    }
    boost::json::object line;
    line["time"] = utc_now();
    line["level"] = level_name(level);
    line["component"] = component;
    line["event"] = event;
    for (const auto& f : fields) {
        std::visit([&](const auto& v) { line[f.key] = boost::json::value(v); }, f.value);
    }
    std::string text = boost::json::serialize(line);
    text.push_back('\n');

    std::lock_guard lock(g_write_mutex);
    std::fwrite(text.data(), 1, text.size(), stderr);
    std::fflush(stderr);
}

std::string peer_text(std::string_view text, std::size_t max_octets)
{
    std::string out;
    for (char c : text.substr(0, max_octets)) {
        auto u = static_cast<unsigned char>(c);
        out.push_back(u < 0x20 || u == 0x7f ? '?' : c);
    }
    return out;
}

}  // namespace carepost::log
