// app: the carepost command line — main, subcommands and wiring.
//
// Owns: `serve` (wires store, key ring, accept, api and delivery), and the
//   admin commands `migrate`, `org create|rules`, `key
//   create|list|revoke|rotate|unsuspend`, `domain add`, `audit verify`. Machine-readable results go
//   to stdout; logs to stderr.
// Trust boundary: the operator running the command.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "app/config.hpp"

namespace carepost::app {

int run_serve(const Config& config);
int run_migrate(const Config& config);
int run_org_create(const Config& config, const std::string& name);
struct KeyArgs {
    std::string org, key_id, name;
    std::vector<std::string> scopes, templates, allow_domains, deny_domains;
    std::int64_t expires_in_seconds = 0;  // 0: never
    std::int64_t requests_per_second = 0, recipients_per_hour = 0;
    std::int64_t grace_seconds = 86400;
};
int run_key_create(const Config& config, const KeyArgs& args);
int run_key_list(const Config& config, const KeyArgs& args);
int run_key_revoke(const Config& config, const KeyArgs& args);
int run_key_rotate(const Config& config, const KeyArgs& args);
int run_key_unsuspend(const Config& config, const KeyArgs& args);
int run_org_rules(
    const Config& config,
    const std::string& org,
    const std::vector<std::string>& allow,
    const std::vector<std::string>& deny);
int run_domain_add(
    const Config& config,
    const std::string& org,
    const std::string& domain,
    const std::string& selector);
int run_audit_verify(const Config& config);
// `carepost bounce classify FILE...`: no server, no configuration needed.
int run_bounce_classify(const std::vector<std::string>& files);
// Changes only what is given.
int run_org_settings(
    const Config& config,
    const std::string& org,
    std::optional<bool> allow_phi_tracking,
    std::optional<std::vector<std::string>> tracked_streams);

}  // namespace carepost::app
