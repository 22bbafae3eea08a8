#include <chrono>
#include <cstdio>
#include <ctime>
#include <optional>

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

    std::vector<std::string> rules_allow, rules_deny;
    auto* org_rules = org->add_subcommand("rules", "set the recipient-domain rules of an org");
    org_rules->add_option("--org", org_name)->required();
    org_rules->add_option("--allow", rules_allow, "allowed domain or *.domain (repeatable)");
    org_rules->add_option("--deny", rules_deny, "denied domain or *.domain (repeatable)");

    auto* key = cli.add_subcommand("key", "API keys");
    key->require_subcommand(1);
    app::KeyArgs key_args;
    auto* key_create = key->add_subcommand("create", "create an API key; prints it once");
    key_create->add_option("--scope", key_args.scopes, "scope (repeatable)")->take_all();
    key_create->add_option("--name", key_args.name, "a label for people");
    key_create->add_option("--expires-in", key_args.expires_in_seconds, "seconds until it expires");
    key_create->add_option(
        "--template", key_args.templates, "template id (messages:send-template)");
    key_create->add_option("--allow-domain", key_args.allow_domains, "allowed recipient domain");
    key_create->add_option("--deny-domain", key_args.deny_domains, "denied recipient domain");
    key_create->add_option("--requests-per-second", key_args.requests_per_second);
    key_create->add_option("--recipients-per-hour", key_args.recipients_per_hour);
    auto* key_list = key->add_subcommand("list", "list an organisation's keys");
    auto* key_revoke = key->add_subcommand("revoke", "revoke a key and its tokens at once");
    auto* key_rotate =
        key->add_subcommand("rotate", "a new key with the same settings; prints it once");
    key_rotate->add_option("--grace", key_args.grace_seconds, "seconds the old key keeps working");
    auto* key_unsuspend = key->add_subcommand("unsuspend", "lift a suspension");
    for (auto* sub : {key_create, key_list, key_revoke, key_rotate, key_unsuspend}) {
        sub->add_option("--org", key_args.org)->required();
    }
    for (auto* sub : {key_revoke, key_rotate, key_unsuspend}) {
        sub->add_option("KEY_ID", key_args.key_id)->required();
    }

    auto* domain = cli.add_subcommand("domain", "sending domains");
    domain->require_subcommand(1);
    std::string domain_org, domain_name, selector = default_selector();
    auto* domain_add = domain->add_subcommand("add", "add a domain with a new DKIM key");
    domain_add->add_option("--org", domain_org)->required();
    domain_add->add_option("--selector", selector, "DKIM selector");
    domain_add->add_option("DOMAIN", domain_name)->required();

    std::optional<bool> allow_phi_tracking;
    std::vector<std::string> tracked_streams;
    auto* org_settings = org->add_subcommand("settings", "organisation settings");
    org_settings->add_option("--org", org_name)->required();
    org_settings->add_option(
        "--allow-phi-tracking", allow_phi_tracking, "track opens/clicks of mail carrying PHI");
    auto* tracked_option = org_settings->add_option(
        "--tracked-stream",
        tracked_streams,
        "streams tracked unless a message says not (repeatable; \"\" for none)");

    auto* bounce = cli.add_subcommand("bounce", "bounces and complaints");
    bounce->require_subcommand(1);
    std::vector<std::string> bounce_files;
    auto* bounce_classify = bounce->add_subcommand(
        "classify", "print one JSON line per recipient a bounce or complaint names");
    bounce_classify->add_option("FILE", bounce_files)->required();

    auto* audit = cli.add_subcommand("audit", "the audit log");
    audit->require_subcommand(1);
    auto* audit_verify = audit->add_subcommand("verify", "verify the audit chain");

    // --config may also come after the subcommand.
    for (auto* sub :
         {serve,
          migrate,
          org_create,
          org_rules,
          org_settings,
          key_create,
          key_list,
          key_revoke,
          key_rotate,
          key_unsuspend,
          domain_add,
          audit_verify}) {
        sub->add_option("--config", config_path, "configuration file (TOML)");
    }
    CLI11_PARSE(cli, argc, argv);
    if (bounce_classify->parsed()) {
        return app::run_bounce_classify(bounce_files);
    }

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
    if (org_settings->parsed()) {
        std::optional<std::vector<std::string>> streams;
        if (tracked_option->count() > 0) {
            std::erase(tracked_streams, "");
            streams = tracked_streams;
        }
        return app::run_org_settings(*config, org_name, allow_phi_tracking, streams);
    }
    if (org_rules->parsed()) {
        return app::run_org_rules(*config, org_name, rules_allow, rules_deny);
    }
    if (key_create->parsed()) {
        return app::run_key_create(*config, key_args);
    }
    if (key_list->parsed()) {
        return app::run_key_list(*config, key_args);
    }
    if (key_revoke->parsed()) {
        return app::run_key_revoke(*config, key_args);
    }
    if (key_rotate->parsed()) {
        return app::run_key_rotate(*config, key_args);
    }
    if (key_unsuspend->parsed()) {
        return app::run_key_unsuspend(*config, key_args);
    }
    if (domain_add->parsed()) {
        return app::run_domain_add(*config, domain_org, domain_name, selector);
    }
    if (audit_verify->parsed()) {
        return app::run_audit_verify(*config);
    }
    return 2;
}
