#include <chrono>
#include <cstdio>
#include <ctime>

#include <CLI/CLI.hpp>
#include <sys/stat.h>

#include "app/commands.hpp"
#include "common/log.hpp"

namespace {

std::string default_selector()
{
    // cpYYYYMM: a new selector per month of creation makes rotation easy.
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::snprintf(buf, sizeof buf, "cp%04d%02d", tm.tm_year + 1900, tm.tm_mon + 1);
    return buf;
}

}  // namespace

int main(int argc, char** argv)
{
    using namespace carepost;
    // Everything carepost creates (database, WAL, keys) holds sealed PHI or
    // secrets: owner-only, whatever the folder it lands in allows.
    ::umask(077);
    CLI::App cli{"carepost: secure email for healthcare"};
    cli.require_subcommand(1);
    std::string config_path;
    cli.add_option("--config", config_path, "configuration file (TOML)");

    auto* serve = cli.add_subcommand("serve", "run the API server and delivery");
    auto* migrate = cli.add_subcommand("migrate", "create or upgrade the database");

    auto* org = cli.add_subcommand("org", "organisations");
    org->require_subcommand(1);
    std::string org_name;
    auto* org_create = org->add_subcommand("create", "create an organisation; prints its id");
    org_create->add_option("NAME", org_name)->required();

    auto* key = cli.add_subcommand("key", "API keys");
    key->require_subcommand(1);
    std::string key_org;
    std::vector<std::string> scopes;
    auto* key_create = key->add_subcommand("create", "create an API key; prints it once");
    key_create->add_option("--org", key_org)->required();
    key_create->add_option("--scope", scopes, "scope (repeatable)")->take_all();

    auto* domain = cli.add_subcommand("domain", "sending domains");
    domain->require_subcommand(1);
    std::string domain_org, domain_name, selector = default_selector();
    auto* domain_add = domain->add_subcommand("add", "add a domain with a new DKIM key");
    domain_add->add_option("--org", domain_org)->required();
    domain_add->add_option("--selector", selector, "DKIM selector");
    domain_add->add_option("DOMAIN", domain_name)->required();

    auto* audit = cli.add_subcommand("audit", "the audit log");
    audit->require_subcommand(1);
    auto* audit_verify = audit->add_subcommand("verify", "verify the audit chain");

    // --config may also come after the subcommand.
    for (auto* sub : {serve, migrate, org_create, key_create, domain_add, audit_verify}) {
        sub->add_option("--config", config_path, "configuration file (TOML)");
    }
    CLI11_PARSE(cli, argc, argv);

    auto config = app::load_config(config_path);
    if (!config) {
        std::fprintf(
            stderr, "carepost: %s %s\n", config.error().field.c_str(), config.error().text.c_str());
        return 2;
    }
    log::set_level(
        config->log_level == "debug"   ? log::Level::debug
        : config->log_level == "warn"  ? log::Level::warn
        : config->log_level == "error" ? log::Level::error
                                       : log::Level::info);

    if (serve->parsed()) {
        return app::run_serve(*config);
    }
    if (migrate->parsed()) {
        return app::run_migrate(*config);
    }
    if (org_create->parsed()) {
        return app::run_org_create(*config, org_name);
    }
    if (key_create->parsed()) {
        return app::run_key_create(*config, key_org, scopes);
    }
    if (domain_add->parsed()) {
        return app::run_domain_add(*config, domain_org, domain_name, selector);
    }
    if (audit_verify->parsed()) {
        return app::run_audit_verify(*config);
    }
    return 2;
}
