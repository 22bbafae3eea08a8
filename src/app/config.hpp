// app: configuration — one TOML file, every key overridable from the environment.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "common/error.hpp"

namespace carepost::app {

struct Config {
    // [server]
    std::string server_listen = "127.0.0.1:8080";
    std::int64_t server_threads = 2;
    // [storage]
    std::filesystem::path storage_data_dir = "data";
    // [security]
    std::filesystem::path security_master_key_file;  // default: DATA_DIR/master.key
    // [delivery]
    bool delivery_enabled = true;  // false: accept and store only (maintenance, benchmarks)
    std::filesystem::path delivery_ca_file;
    std::string delivery_tls_policy = "verified";
    std::string delivery_helo_name = "localhost";
    std::int64_t delivery_threads = 2;
    std::int64_t delivery_connections_per_domain = 4;
    std::vector<std::int64_t> delivery_backoff_seconds = {60, 300, 900, 1800, 3600, 7200};
    std::int64_t delivery_max_age_seconds = 4 * 24 * 3600;
    std::int64_t delivery_escalate_after_seconds = 3600;
    // [limits]
    std::int64_t limits_max_message_bytes = 25 * 1024 * 1024;
    std::int64_t limits_max_recipients = 1000;
    // [auth]
    std::int64_t auth_token_ttl_seconds = 900;
    std::int64_t auth_signature_window_seconds = 300;
    std::int64_t auth_failures_per_minute = 30;  // per source address
    // [rate] defaults; a key may set its own
    std::int64_t rate_key_requests_per_second = 1000;
    std::int64_t rate_org_requests_per_second = 2000;
    std::int64_t rate_key_recipients_per_hour = 100000;
    std::int64_t rate_org_recipients_per_hour = 200000;
    // [anomaly] abnormal sending per key
    bool anomaly_enabled = true;
    std::int64_t anomaly_window_seconds = 600;
    std::int64_t anomaly_multiple = 10;
    std::int64_t anomaly_floor_recipients = 1000;
    std::int64_t anomaly_new_domain_percent = 80;
    std::int64_t anomaly_min_history_hours = 24;
    // [tracking] opens, clicks and one-click unsubscribe; off while empty
    std::string tracking_base_url;  // e.g. https://track.clinic.example.org
    std::string tracking_unsubscribe_mailto;
    // [bounce] VERP return paths and the inbound listener; off while empty
    std::string bounce_domain;  // e.g. bounces.clinic.example.org
    std::string bounce_listen;  // e.g. 0.0.0.0:25
    std::string bounce_hostname = "localhost";
    std::string bounce_feedback_peers;  // comma-separated IPs sending complaints to fbl@
    // [webhooks]
    std::string webhooks_allow_insecure_hosts;  // comma-separated: tests allow loopback
    std::filesystem::path webhooks_ca_file;
    // [log]
    std::string log_level = "info";
    // [routes] domain = "host:port"
    std::map<std::string, std::string> routes;
};

// Reads `path` (may be empty: defaults only), then applies environment
// overrides named CAREPOST_<SECTION>_<KEY> (e.g. CAREPOST_SERVER_LISTEN).
// Routes come from CAREPOST_ROUTES as "domain=host:port,domain=host:port".
// Relative paths in the file are taken relative to the file's folder.
Result<Config> load_config(const std::filesystem::path& path);

}  // namespace carepost::app
