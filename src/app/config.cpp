#include "app/config.hpp"

#include <algorithm>
#include <cstdlib>
#include <sstream>

#include <toml++/toml.h>

namespace carepost::app {
namespace {

Error config_error(const std::string& key, const std::string& text)
{
    return Error::invalid("invalid_config", key, text);
}

std::string env_name(std::string_view section, std::string_view key)
{
    std::string out = "CAREPOST_";
    for (char c : std::string(section) + "_" + std::string(key)) {
        out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    }
    return out;
}

// Binds one setting to its TOML key and its environment variable.
class Binder {
public:
    Binder(const toml::table& t, std::filesystem::path base) : table_(t), base_(std::move(base)) {}

    Result<void> text(std::string_view section, std::string_view key, std::string& out)
    {
        if (auto v = table_[section][key].value<std::string>()) {
            out = *v;
        }
        if (const char* e = std::getenv(env_name(section, key).c_str())) {
            out = e;
        }
        return {};
    }

    Result<void> path(std::string_view section, std::string_view key, std::filesystem::path& out)
    {
        bool from_file = false;
        if (auto v = table_[section][key].value<std::string>()) {
            out = *v;
            from_file = true;
        }
        if (const char* e = std::getenv(env_name(section, key).c_str())) {
            out = e;
            from_file = false;
        }
        if (from_file && !out.empty() && out.is_relative()) {
            out = base_ / out;
        }
        return {};
    }

    Result<void> integer(std::string_view section, std::string_view key, std::int64_t& out)
    {
        auto node = table_[section][key];
        if (node && !node.is_integer()) {
            return config_error(
                std::string(section) + "." + std::string(key), "must be an integer");
        }
        if (auto v = node.value<std::int64_t>()) {
            out = *v;
        }
        if (const char* e = std::getenv(env_name(section, key).c_str())) {
            try {
                out = std::stoll(e);
            } catch (...) {
                return config_error(env_name(section, key), "must be an integer");
            }
        }
        return {};
    }

    Result<void> boolean(std::string_view section, std::string_view key, bool& out)
    {
        auto node = table_[section][key];
        if (node && !node.is_boolean()) {
            return config_error(
                std::string(section) + "." + std::string(key), "must be true or false");
        }
        if (auto v = node.value<bool>()) {
            out = *v;
        }
        if (const char* e = std::getenv(env_name(section, key).c_str())) {
            std::string v = e;
            if (v != "true" && v != "false") {
                return config_error(env_name(section, key), "must be true or false");
            }
            out = v == "true";
        }
        return {};
    }

    Result<void>
    integers(std::string_view section, std::string_view key, std::vector<std::int64_t>& out)
    {
        if (auto* arr = table_[section][key].as_array()) {
            out.clear();
            for (auto& n : *arr) {
                auto v = n.value<std::int64_t>();
                if (!v) {
                    return config_error(
                        std::string(section) + "." + std::string(key), "must be integers");
                }
                out.push_back(*v);
            }
        }
        if (const char* e = std::getenv(env_name(section, key).c_str())) {
            out.clear();
            std::stringstream in(e);
            for (std::string item; std::getline(in, item, ',');) {
                try {
                    out.push_back(std::stoll(item));
                } catch (...) {
                    return config_error(env_name(section, key), "must be integers");
                }
            }
        }
        return {};
    }

private:
    const toml::table& table_;
    std::filesystem::path base_;
};

// Every setting this version knows; anything else in the file is refused,
// so that a misspelt key cannot silently leave a default in force.
std::string find_unknown_key(const toml::table& t)
{
    static const std::map<std::string, std::vector<std::string>> known = {
        {"server", {"listen", "threads"}},
        {"storage", {"data_dir"}},
        {"security", {"master_key_file"}},
        {"delivery",
         {"enabled",
          "ca_file",
          "tls_policy",
          "helo_name",
          "threads",
          "connections_per_domain",
          "backoff_seconds",
          "max_age_seconds",
          "escalate_after_seconds"}},
        {"limits", {"max_message_bytes", "max_recipients"}},
        {"auth", {"token_ttl_seconds", "signature_window_seconds", "failures_per_minute"}},
        {"rate",
         {"key_requests_per_second",
          "org_requests_per_second",
          "key_recipients_per_hour",
          "org_recipients_per_hour"}},
        {"anomaly",
         {"enabled",
          "window_seconds",
          "multiple",
          "floor_recipients",
          "new_domain_percent",
          "min_history_hours"}},
        {"tracking", {"base_url", "unsubscribe_mailto"}},
        {"bounce", {"domain", "listen", "hostname", "feedback_peers"}},
        {"webhooks", {"allow_insecure_hosts", "ca_file"}},
        {"log", {"level"}},
    };
    for (const auto& [section, node] : t) {
        std::string name(section.str());
        if (name == "routes") {
            continue;
        }
        auto it = known.find(name);
        if (it == known.end() || !node.is_table()) {
            return name;
        }
        for (const auto& [key, value] : *node.as_table()) {
            const auto& keys = it->second;
            if (std::find(keys.begin(), keys.end(), std::string(key.str())) == keys.end()) {
                return name + "." + std::string(key.str());
            }
        }
    }
    return "";
}

Result<void> read_routes(const toml::table& t, Config& c)
{
    if (auto* routes = t["routes"].as_table()) {
        for (auto& [domain, target] : *routes) {
            auto v = target.value<std::string>();
            if (!v) {
                return config_error("routes." + std::string(domain.str()), "must be \"host:port\"");
            }
            c.routes[std::string(domain.str())] = *v;
        }
    }
    if (const char* e = std::getenv("CAREPOST_ROUTES")) {
        std::stringstream in(e);
        for (std::string item; std::getline(in, item, ',');) {
            auto eq = item.find('=');
            if (eq == std::string::npos) {
                return config_error("CAREPOST_ROUTES", "expected domain=host:port,...");
            }
            c.routes[item.substr(0, eq)] = item.substr(eq + 1);
        }
    }
    return {};
}

}  // namespace

Result<Config> load_config(const std::filesystem::path& path)
{
    toml::table table;
    std::filesystem::path base = std::filesystem::current_path();
    if (!path.empty()) {
        try {
            table = toml::parse_file(path.string());
        } catch (const toml::parse_error& e) {
            std::ostringstream text;
            text << "cannot parse the configuration file: " << e.description() << " (line "
                 << e.source().begin.line << ")";
            return config_error("", text.str());
        }
        base = std::filesystem::absolute(path).parent_path();
    }

    Config c;
    Binder b(table, base);
    Result<void> steps[] = {
        b.text("server", "listen", c.server_listen),
        b.integer("server", "threads", c.server_threads),
        b.path("storage", "data_dir", c.storage_data_dir),
        b.path("security", "master_key_file", c.security_master_key_file),
        b.boolean("delivery", "enabled", c.delivery_enabled),
        b.path("delivery", "ca_file", c.delivery_ca_file),
        b.text("delivery", "tls_policy", c.delivery_tls_policy),
        b.text("delivery", "helo_name", c.delivery_helo_name),
        b.integer("delivery", "threads", c.delivery_threads),
        b.integer("delivery", "connections_per_domain", c.delivery_connections_per_domain),
        b.integers("delivery", "backoff_seconds", c.delivery_backoff_seconds),
        b.integer("delivery", "max_age_seconds", c.delivery_max_age_seconds),
        b.integer("delivery", "escalate_after_seconds", c.delivery_escalate_after_seconds),
        b.integer("limits", "max_message_bytes", c.limits_max_message_bytes),
        b.integer("limits", "max_recipients", c.limits_max_recipients),
        b.integer("auth", "token_ttl_seconds", c.auth_token_ttl_seconds),
        b.integer("auth", "signature_window_seconds", c.auth_signature_window_seconds),
        b.integer("auth", "failures_per_minute", c.auth_failures_per_minute),
        b.integer("rate", "key_requests_per_second", c.rate_key_requests_per_second),
        b.integer("rate", "org_requests_per_second", c.rate_org_requests_per_second),
        b.integer("rate", "key_recipients_per_hour", c.rate_key_recipients_per_hour),
        b.integer("rate", "org_recipients_per_hour", c.rate_org_recipients_per_hour),
        b.boolean("anomaly", "enabled", c.anomaly_enabled),
        b.integer("anomaly", "window_seconds", c.anomaly_window_seconds),
        b.integer("anomaly", "multiple", c.anomaly_multiple),
        b.integer("anomaly", "floor_recipients", c.anomaly_floor_recipients),
        b.integer("anomaly", "new_domain_percent", c.anomaly_new_domain_percent),
        b.integer("anomaly", "min_history_hours", c.anomaly_min_history_hours),
        b.text("tracking", "base_url", c.tracking_base_url),
        b.text("tracking", "unsubscribe_mailto", c.tracking_unsubscribe_mailto),
        b.text("bounce", "domain", c.bounce_domain),
        b.text("bounce", "listen", c.bounce_listen),
        b.text("bounce", "hostname", c.bounce_hostname),
        b.text("bounce", "feedback_peers", c.bounce_feedback_peers),
        b.text("webhooks", "allow_insecure_hosts", c.webhooks_allow_insecure_hosts),
        b.path("webhooks", "ca_file", c.webhooks_ca_file),
        b.text("log", "level", c.log_level),
        read_routes(table, c),
    };
    for (auto& step : steps) {
        if (!step) {
            return step.error();
        }
    }
    if (auto unknown = find_unknown_key(table); !unknown.empty()) {
        return config_error(unknown, "unknown setting (a typo?)");
    }
    bool is_negative = c.limits_max_message_bytes < 1 || c.limits_max_recipients < 1 ||
                       c.delivery_max_age_seconds < 1 || c.delivery_escalate_after_seconds < 1 ||
                       std::any_of(
                           c.delivery_backoff_seconds.begin(),
                           c.delivery_backoff_seconds.end(),
                           [](std::int64_t s) { return s < 1; });
    if (c.log_level != "debug" && c.log_level != "info" && c.log_level != "warn" &&
        c.log_level != "error") {
        return config_error("log.level", "one of debug, info, warn, error");
    }
    if (is_negative) {
        return config_error("limits", "sizes, counts, ages and backoff steps must be positive");
    }
    if (c.security_master_key_file.empty()) {
        c.security_master_key_file = c.storage_data_dir / "master.key";
    }
    if (c.server_threads < 1 || c.delivery_threads < 1 || c.delivery_connections_per_domain < 1) {
        return config_error("threads", "thread and connection counts must be at least 1");
    }
    bool is_rate_bad = c.auth_token_ttl_seconds < 1 || c.auth_signature_window_seconds < 1 ||
                       c.auth_failures_per_minute < 1 || c.rate_key_requests_per_second < 1 ||
                       c.rate_org_requests_per_second < 1 || c.rate_key_recipients_per_hour < 1 ||
                       c.rate_org_recipients_per_hour < 1 || c.anomaly_window_seconds < 60 ||
                       c.anomaly_multiple < 1 || c.anomaly_floor_recipients < 1 ||
                       c.anomaly_new_domain_percent < 1 || c.anomaly_new_domain_percent > 100 ||
                       c.anomaly_min_history_hours < 0;
    if (is_rate_bad) {
        return config_error(
            "auth/rate/anomaly", "times and rates must be positive; windows at least 60 s");
    }
    bool is_base_url_bad =
        !c.tracking_base_url.empty() &&
        (!c.tracking_base_url.starts_with("https://") || c.tracking_base_url.back() == '/');
    if (!c.bounce_listen.empty() && c.bounce_domain.empty()) {
        return config_error("bounce.domain", "the bounce listener needs bounce.domain");
    }
    if (is_base_url_bad) {
        return config_error("tracking.base_url", "an https:// URL without a trailing slash");
    }
    if (c.delivery_backoff_seconds.empty()) {
        return config_error("delivery.backoff_seconds", "needs at least one step");
    }
    return c;
}

}  // namespace carepost::app
