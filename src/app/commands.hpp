// app: the carepost command line — main, subcommands and wiring.
//
// Owns: `serve` (wires store, key ring, accept, api and delivery), and the
//   admin commands `migrate`, `org create`, `key create`, `domain add`,
//   `audit verify`. Machine-readable results go to stdout; logs to stderr.
// Trust boundary: the operator running the command.
#pragma once

#include <string>
#include <vector>

#include "app/config.hpp"

namespace carepost::app {

int run_serve(const Config& config);
int run_migrate(const Config& config);
int run_org_create(const Config& config, const std::string& name);
int run_key_create(
    const Config& config, const std::string& org, const std::vector<std::string>& scopes);
int run_domain_add(
    const Config& config,
    const std::string& org,
    const std::string& domain,
    const std::string& selector);
int run_audit_verify(const Config& config);

}  // namespace carepost::app
