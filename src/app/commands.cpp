#include "app/commands.hpp"

#include <algorithm>
#include <cstdio>
#include <iostream>

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include "accept/accept.hpp"
#include "accept/gate.hpp"
#include "api/api.hpp"
#include "app/bounce_intake.hpp"
#include "app/webhook_backend.hpp"
#include "audit/audit.hpp"
#include "auth/auth.hpp"
#include "bounce/bounce.hpp"
#include "common/log.hpp"
#include "crypto/crypto.hpp"
#include "crypto/key_ring.hpp"
#include "delivery/delivery.hpp"
#include "dkim/dkim.hpp"
#include "events/events.hpp"
#include "inbound/inbound.hpp"
#include "policy/policy.hpp"
#include "store/store.hpp"

namespace carepost::app {
namespace {

constexpr const char* admin_actor = "admin-cli";

// What every command needs: the store and the key hierarchy.
struct Context {
    std::unique_ptr<store::Store> store;
    std::unique_ptr<crypto::KeyRing> keys;
};

int report(const Error& e)
{
    std::fprintf(stderr, "carepost: %s (%s)\n", e.text.c_str(), e.code.c_str());
    return e.error_class == ErrorClass::permanent ? 2 : 1;
}

Result<Context> open_context(const Config& config)
{
    auto master = crypto::load_or_create_master_key(config.security_master_key_file);
    if (!master) {
        return master.error();
    }
    auto store = store::Store::open({config.storage_data_dir});
    if (!store) {
        return store.error();
    }
    Context ctx;
    ctx.store = std::move(*store);
    auto* raw = ctx.store.get();
    ctx.keys = std::make_unique<crypto::KeyRing>(
        *master, [raw](const std::string& org_id) -> std::optional<std::string> {
            auto org = raw->find_org(org_id);
            return org ? std::optional(org->wrapped_key) : std::nullopt;
        });

    // A master key from another installation or a wrong backup opens
    // nothing. Refuse to run rather than fail every stored message.
    for (const auto& org : ctx.store->list_orgs()) {
        if (!ctx.keys->org_key(org.id)) {
            return Error::internal(
                "master_key_mismatch",
                "the master key does not open this data directory's keys (wrong key file?)");
        }
    }
    return ctx;
}

delivery::Options delivery_options(const Config& c)
{
    delivery::Options o;
    o.routes = c.routes;
    o.ca_file = c.delivery_ca_file.string();
    o.tls_policy = c.delivery_tls_policy;
    o.helo_name = c.delivery_helo_name;
    o.threads = static_cast<std::size_t>(c.delivery_threads);
    o.connections_per_domain = static_cast<std::size_t>(c.delivery_connections_per_domain);
    o.backoff.clear();
    for (auto s : c.delivery_backoff_seconds) {
        o.backoff.emplace_back(s);
    }
    o.max_age = std::chrono::seconds(c.delivery_max_age_seconds);
    o.escalate_after = std::chrono::seconds(c.delivery_escalate_after_seconds);
    return o;
}

std::vector<std::string> split_list(const std::string& text)
{
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= text.size()) {
        auto comma = text.find(',', start);
        auto item =
            text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        while (!item.empty() && item.front() == ' ') {
            item.erase(0, 1);
        }
        while (!item.empty() && item.back() == ' ') {
            item.pop_back();
        }
        if (!item.empty()) {
            out.push_back(item);
        }
        if (comma == std::string::npos) {
            break;
        }
        start = comma + 1;
    }
    return out;
}

// Blocks until SIGINT or SIGTERM.
void wait_for_shutdown_signal()
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int sig = 0;
    sigwait(&set, &sig);
    log::info("app", "shutdown_requested", {{"signal", sig}});
}

// One server per data directory: a second one would take the first one's
// in-flight work for leftovers of a crash and deliver it again. The lock is
// held (by the open descriptor) until the process ends.
Result<void> lock_data_dir(const std::filesystem::path& data_dir)
{
    std::error_code ec;
    if (std::filesystem::create_directories(data_dir, ec)) {
        std::filesystem::permissions(
            data_dir,
            std::filesystem::perms::owner_all,
            std::filesystem::perm_options::replace,
            ec);
    }
    auto path = data_dir / "serve.lock";
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        return Error::internal(
            "data_dir_lock", "cannot create the lock file in the data directory");
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        ::close(fd);
        return Error::internal(
            "data_dir_in_use", "another carepost serve is using this data directory");
    }
    return {};
}

}  // namespace

int run_serve(const Config& config)
{
    // Block the shutdown signals in every thread we start; only
    // wait_for_shutdown_signal() takes them.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    signal(SIGPIPE, SIG_IGN);

    if (auto locked = lock_data_dir(config.storage_data_dir); !locked) {
        return report(locked.error());
    }
    auto ctx = open_context(config);
    if (!ctx) {
        return report(ctx.error());
    }
    accept::Limits limits{
        static_cast<std::size_t>(config.limits_max_message_bytes),
        static_cast<std::size_t>(config.limits_max_recipients)};
    accept::Pipeline pipeline(*ctx->store, *ctx->keys, limits);
    // VERP: every recipient's reverse-path names it, with a tag only this
    // installation can make, so that a later bounce finds it.
    crypto::Key verp_raw = ctx->keys->derived_key("verp");
    std::string verp_key(reinterpret_cast<const char*>(verp_raw.data()), verp_raw.size());
    auto engine_options = delivery_options(config);
    if (!config.bounce_domain.empty()) {
        engine_options.return_path = [domain = config.bounce_domain,
                                      verp_key](const std::string& recipient_id) {
            return inbound::make_return_path(recipient_id, domain, verp_key);
        };
    }
    delivery::Engine engine(*ctx->store, *ctx->keys, engine_options);

    // Access control: credentials, rate buckets, recipient rules and the
    // abnormal-sending detector, with the state that survives a restart.
    std::int64_t now = store::unix_now();
    auth::Authenticator authenticator(
        *ctx->store,
        *ctx->keys,
        {config.auth_token_ttl_seconds, config.auth_signature_window_seconds});
    authenticator.load_nonces(now);
    policy::RateLimiter limiter;
    policy::AnomalyOptions anomaly;
    anomaly.enabled = config.anomaly_enabled;
    anomaly.window_seconds = config.anomaly_window_seconds;
    anomaly.multiple = static_cast<double>(config.anomaly_multiple);
    anomaly.floor_recipients = config.anomaly_floor_recipients;
    anomaly.new_domain_share = static_cast<double>(config.anomaly_new_domain_percent) / 100.0;
    anomaly.min_history_hours = config.anomaly_min_history_hours;
    policy::AnomalyDetector detector(anomaly);
    accept::Gate gate(
        *ctx->store,
        limiter,
        detector,
        {config.rate_key_recipients_per_hour, config.rate_org_recipients_per_hour});
    gate.load_history(now);
    // Tracking and unsubscribe tokens, and the webhook dispatcher.
    crypto::Key tracking_key = ctx->keys->derived_key("tracking");
    pipeline.set_tracking(
        {config.tracking_base_url, config.tracking_unsubscribe_mailto, tracking_key});
    events::Options webhook_options;
    webhook_options.allow_insecure_hosts = split_list(config.webhooks_allow_insecure_hosts);
    webhook_options.ca_file = config.webhooks_ca_file.string();
    WebhookBackend webhook_backend(*ctx->store, *ctx->keys);
    events::Dispatcher dispatcher(webhook_backend, webhook_options);
    pipeline.on_accepted([&engine, &dispatcher] {
        engine.wake();
        dispatcher.wake();
    });

    api::RouterOptions router_options;
    router_options.key_requests_per_second = config.rate_key_requests_per_second;
    router_options.org_requests_per_second = config.rate_org_requests_per_second;
    router_options.auth_failures_per_minute = config.auth_failures_per_minute;
    router_options.tracking_key = tracking_key;
    router_options.webhooks = webhook_options;
    router_options.on_event = [&dispatcher] { dispatcher.wake(); };
    api::Router router(
        *ctx->store, *ctx->keys, pipeline, authenticator, gate, limiter, router_options);

    // The body limit leaves room for base64 (4/3) and the JSON around it.
    api::ServerOptions server_options;
    server_options.listen = config.server_listen;
    server_options.threads = static_cast<std::size_t>(config.server_threads);
    server_options.max_body_octets =
        static_cast<std::size_t>(config.limits_max_message_bytes) / 3 * 4 + 1024 * 1024;
    api::Server server(server_options, router);

    if (auto checked = delivery::check_options(delivery_options(config)); !checked) {
        return report(checked.error());
    }
    if (!config.delivery_enabled) {
        log::warn("app", "delivery_disabled");
    } else if (auto r = engine.start(); !r) {
        return report(r.error());
    }
    if (auto r = server.start(); !r) {
        return report(r.error());
    }
    dispatcher.start();

    // The inbound listener for bounces and complaints (RFC 3464, RFC 5965).
    BounceIntake intake(
        *ctx->store,
        {config.bounce_domain},
        verp_key,
        split_list(config.bounce_feedback_peers),
        [&dispatcher] { dispatcher.wake(); });
    std::unique_ptr<inbound::Listener> listener;
    if (!config.bounce_listen.empty()) {
        inbound::Options o;
        o.listen = config.bounce_listen;
        o.hostname = config.bounce_hostname;
        o.domains = {config.bounce_domain};
        o.extra_addresses = {"fbl@" + config.bounce_domain};
        o.key = verp_key;
        listener = std::make_unique<inbound::Listener>(
            o, [&intake](const inbound::Delivery& d) { return intake.handle(d); });
        if (auto r = listener->start(); !r) {
            return report(r.error());
        }
    }
    log::info("app", "serving", {{"listen", config.server_listen}});
    wait_for_shutdown_signal();
    if (listener) {
        listener->stop();
    }
    server.stop();
    dispatcher.stop();
    engine.stop();
    log::info("app", "stopped");
    return 0;
}

int run_migrate(const Config& config)
{
    auto ctx = open_context(config);
    if (!ctx) {
        return report(ctx.error());
    }
    std::puts("ok");
    return 0;
}

int run_org_create(const Config& config, const std::string& name)
{
    auto ctx = open_context(config);
    if (!ctx) {
        return report(ctx.error());
    }
    store::OrgRow org;
    org.id = "org_" + crypto::random_hex(8);
    org.name = name;
    org.wrapped_key = ctx->keys->new_wrapped_org_key(org.id);
    org.created_at = store::unix_now();
    auto r = ctx->store->write([&](store::Writer& w) -> Result<void> {
        w.insert_org(org);
        audit::append(w, {admin_actor, "org.created", org.id, "", "", "ok"}, org.created_at);
        return {};
    });
    if (!r) {
        return report(r.error());
    }
    std::printf("%s\n", org.id.c_str());
    return 0;
}

int run_key_create(const Config& config, const KeyArgs& args)
{
    auto ctx = open_context(config);
    if (!ctx) {
        return report(ctx.error());
    }
    if (auto r = policy::check_domain_rules({args.allow_domains, args.deny_domains}); !r) {
        return report(r.error());
    }
    auth::KeySettings settings{
        args.name,
        args.scopes,
        std::nullopt,
        args.templates,
        args.allow_domains,
        args.deny_domains,
        args.requests_per_second,
        args.recipients_per_hour};
    if (args.expires_in_seconds > 0) {
        settings.expires_at = store::unix_now() + args.expires_in_seconds;
    }
    auth::Authenticator authenticator(*ctx->store, *ctx->keys);
    auto key = authenticator.create_key(args.org, std::move(settings), admin_actor);
    if (!key) {
        return report(key.error());
    }
    std::printf("%s\n", key->secret.c_str());
    return 0;
}

int run_key_list(const Config& config, const KeyArgs& args)
{
    auto ctx = open_context(config);
    if (!ctx) {
        return report(ctx.error());
    }
    if (!ctx->store->find_org(args.org)) {
        return report(Error::permanent("not_found", "no such organisation"));
    }
    // One line a key: id, state, scopes, name. Never the key or its digest.
    std::int64_t now = store::unix_now();
    for (const auto& k : ctx->store->list_api_keys(args.org)) {
        const char* state = k.revoked_at                           ? "revoked"
                            : k.expires_at && *k.expires_at <= now ? "expired"
                            : k.suspended_at                       ? "suspended"
                            : k.expires_at                         ? "expiring"
                                                                   : "active";
        std::string scopes;
        for (const auto& s : k.scopes) {
            scopes += scopes.empty() ? s : "," + s;
        }
        std::printf("%s\t%s\t%s\t%s\n", k.id.c_str(), state, scopes.c_str(), k.name.c_str());
    }
    return 0;
}

int run_key_revoke(const Config& config, const KeyArgs& args)
{
    auto ctx = open_context(config);
    if (!ctx) {
        return report(ctx.error());
    }
    auth::Authenticator authenticator(*ctx->store, *ctx->keys);
    if (auto r = authenticator.revoke_key(args.org, args.key_id, admin_actor); !r) {
        return report(r.error());
    }
    std::printf("revoked %s\n", args.key_id.c_str());
    return 0;
}

int run_key_rotate(const Config& config, const KeyArgs& args)
{
    auto ctx = open_context(config);
    if (!ctx) {
        return report(ctx.error());
    }
    auth::Authenticator authenticator(*ctx->store, *ctx->keys);
    auto key = authenticator.rotate_key(args.org, args.key_id, args.grace_seconds, admin_actor);
    if (!key) {
        return report(key.error());
    }
    std::printf("%s\n", key->secret.c_str());
    return 0;
}

int run_key_unsuspend(const Config& config, const KeyArgs& args)
{
    auto ctx = open_context(config);
    if (!ctx) {
        return report(ctx.error());
    }
    auth::Authenticator authenticator(*ctx->store, *ctx->keys);
    if (auto r = authenticator.lift_suspension(args.org, args.key_id, admin_actor); !r) {
        return report(r.error());
    }
    std::printf("unsuspended %s\n", args.key_id.c_str());
    return 0;
}

int run_org_rules(
    const Config& config,
    const std::string& org,
    const std::vector<std::string>& allow,
    const std::vector<std::string>& deny)
{
    auto ctx = open_context(config);
    if (!ctx) {
        return report(ctx.error());
    }
    if (!ctx->store->find_org(org)) {
        return report(Error::permanent("not_found", "no such organisation"));
    }
    if (auto r = policy::check_domain_rules({allow, deny}); !r) {
        return report(r.error());
    }
    std::int64_t now = store::unix_now();
    auto r = ctx->store->write([&](store::Writer& w) -> Result<void> {
        w.set_org_rules(org, allow, deny);
        audit::append(w, {admin_actor, "rules.updated", org, "", "", "ok"}, now);
        return {};
    });
    if (!r) {
        return report(r.error());
    }
    std::puts("ok");
    return 0;
}

int run_domain_add(
    const Config& config,
    const std::string& org,
    const std::string& domain,
    const std::string& selector)
{
    auto ctx = open_context(config);
    if (!ctx) {
        return report(ctx.error());
    }
    if (!ctx->store->find_org(org)) {
        return report(Error::permanent("not_found", "no such organisation"));
    }
    std::string name;
    for (char c : domain) {
        name.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
    // A new key under a published selector would break every signature
    // until DNS caught up: rotation takes a new selector.
    if (auto existing = ctx->store->find_domain(org, name);
        existing && existing->selector == selector) {
        return report(Error::permanent(
            "selector_in_use",
            "this domain already has a key under selector " + selector +
                "; pass --selector NEW to rotate"));
    }
    auto pair = dkim::generate_rsa_key(2048);
    if (!pair) {
        return report(pair.error());
    }
    // The private key is sealed with the org key; delivery opens it with the
    // same context string.
    auto sealed = ctx->keys->seal_for_org(org, "dkim:" + name, pair->private_pem);
    if (!sealed) {
        return report(sealed.error());
    }
    store::DomainRow row{org, name, selector, *sealed, pair->public_record, store::unix_now()};
    auto r = ctx->store->write([&](store::Writer& w) -> Result<void> {
        w.insert_domain(row);
        audit::append(w, {admin_actor, "domain.added", org, "", "", name}, row.created_at);
        return {};
    });
    if (!r) {
        return report(r.error());
    }
    std::printf(
        "%s._domainkey.%s TXT \"%s\"\n",
        selector.c_str(),
        name.c_str(),
        pair->public_record.c_str());
    return 0;
}

int run_bounce_classify(const std::vector<std::string>& files)
{
    return bounce::classify_files(files, std::cout, std::cerr);
}

int run_org_settings(
    const Config& config,
    const std::string& org,
    std::optional<bool> allow_phi_tracking,
    std::optional<std::vector<std::string>> tracked_streams)
{
    auto ctx = open_context(config);
    if (!ctx) {
        return report(ctx.error());
    }
    if (!ctx->store->find_org(org)) {
        return report(Error::permanent("not_found", "no such organisation"));
    }
    for (const auto& stream : tracked_streams.value_or(std::vector<std::string>{})) {
        bool is_name =
            !stream.empty() && stream.size() <= 64 &&
            std::all_of(stream.begin(), stream.end(), [](char c) {
                return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
            });
        if (!is_name || stream == "transactional") {
            return report(Error::invalid(
                "invalid_value", "stream", "stream names: a-z, 0-9, - and _; not transactional"));
        }
    }
    std::int64_t now = store::unix_now();
    auto r = ctx->store->write([&](store::Writer& w) -> Result<void> {
        if (allow_phi_tracking) {
            w.set_org_track_phi(org, *allow_phi_tracking);
            audit::append(
                w,
                {admin_actor,
                 "org.settings",
                 org,
                 "",
                 "",
                 *allow_phi_tracking ? "phi tracking allowed" : "phi tracking refused"},
                now);
        }
        if (tracked_streams) {
            w.set_org_tracked_streams(org, *tracked_streams);
            audit::append(
                w, {admin_actor, "org.settings", org, "", "", "tracked streams set"}, now);
        }
        return {};
    });
    if (!r) {
        return report(r.error());
    }
    std::puts("ok");
    return 0;
}

int run_audit_verify(const Config& config)
{
    auto ctx = open_context(config);
    if (!ctx) {
        return report(ctx.error());
    }
    auto v = audit::verify(*ctx->store);
    if (v.first_broken_seq) {
        std::printf(
            "broken at record %lld: %s (%lld records verified before it)\n",
            static_cast<long long>(*v.first_broken_seq),
            v.problem.c_str(),
            static_cast<long long>(v.count));
        return 1;
    }
    std::printf("ok: %lld records, chain intact\n", static_cast<long long>(v.count));
    return 0;
}

}  // namespace carepost::app
