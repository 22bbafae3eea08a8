#include <chrono>
#include <set>

#include <gtest/gtest.h>

#include "events/events.hpp"
#include "events/test_support.hpp"

namespace carepost::events {
namespace {

using namespace std::chrono_literals;
using testing::make_event;
using testing::MemoryBackend;
using testing::Receiver;
using testing::wait_until;

constexpr const char* secret = "whsec_dispatcher_test";

Options loopback_options()
{
    Options o;
    o.allow_insecure_hosts = {"127.0.0.1", "::1", "localhost"};
    o.max_backoff_seconds = 1;
    o.request_timeout_ms = 5000;
    return o;
}

Endpoint endpoint_for(const std::string& url, std::vector<std::string> types = {})
{
    Endpoint e;
    e.id = "we_1";
    e.org_id = "org_1";
    e.url = url;
    e.secret = secret;
    e.types = std::move(types);
    return e;
}

TEST(Dispatcher, delivers_events_in_seq_order_with_valid_signatures_over_one_connection)
{
    Receiver receiver({"--secret", secret});
    ASSERT_NE(receiver.port(), 0);
    MemoryBackend backend;
    backend.add_endpoint(endpoint_for(receiver.url()));
    std::vector<Event> sent;
    const char* types[] = {"accepted", "queued", "delivered", "opened", "clicked"};
    for (int n = 0; n < 60; ++n) {
        Event e = make_event("org_1", types[n % 5], n);
        backend.append(e);
        e.seq = n + 1;
        sent.push_back(e);
    }
    backend.append(make_event("org_other", "delivered", 99));

    Dispatcher dispatcher(backend, loopback_options());
    dispatcher.start();
    ASSERT_TRUE(wait_until([&] { return backend.endpoint("we_1").cursor_seq == 60; }, 20s));
    dispatcher.stop();

    auto requests = receiver.requests();
    ASSERT_EQ(requests.size(), 60u);
    std::set<std::int64_t> client_ports;
    for (std::size_t i = 0; i < requests.size(); ++i) {
        const auto& r = requests[i];
        EXPECT_EQ(r.at("event_id").as_string(), sent[i].id);
        EXPECT_EQ(r.at("body").as_string(), payload_json(sent[i]));
        EXPECT_TRUE(r.at("signature_ok").as_bool()) << r.at("signature").as_string();
        EXPECT_EQ(r.at("content_type").as_string(), "application/json");
        EXPECT_EQ(r.at("path").as_string(), "/hook");
        client_ports.insert(r.at("client_port").as_int64());
    }
    EXPECT_EQ(client_ports.size(), 1u) << "the connection was not reused";
    EXPECT_EQ(dispatcher.stats().delivered, 60u);
    EXPECT_EQ(dispatcher.stats().failed_attempts, 0u);
}

TEST(Dispatcher, signature_fails_verification_with_another_secret)
{
    // The receiver's own check must be able to fail, or the test above
    // proves nothing.
    Receiver receiver({"--secret", "some_other_secret"});
    MemoryBackend backend;
    backend.add_endpoint(endpoint_for(receiver.url()));
    backend.append(make_event("org_1", "delivered", 1));
    Dispatcher dispatcher(backend, loopback_options());
    dispatcher.start();
    ASSERT_TRUE(wait_until([&] { return backend.endpoint("we_1").cursor_seq == 1; }, 10s));
    dispatcher.stop();
    ASSERT_EQ(receiver.requests().size(), 1u);
    EXPECT_FALSE(receiver.requests()[0].at("signature_ok").as_bool());
}

TEST(Dispatcher, retries_after_server_errors_and_advances_the_cursor_once)
{
    Receiver receiver({"--secret", secret, "--fail-first", "2"});
    MemoryBackend backend;
    backend.add_endpoint(endpoint_for(receiver.url()));
    backend.append(make_event("org_1", "bounced", 1));
    backend.append(make_event("org_1", "delivered", 2));

    Dispatcher dispatcher(backend, loopback_options());
    dispatcher.start();
    ASSERT_TRUE(wait_until([&] { return backend.endpoint("we_1").cursor_seq == 2; }, 20s));
    dispatcher.stop();

    auto requests = receiver.requests();
    ASSERT_EQ(requests.size(), 4u);
    EXPECT_EQ(requests[0].at("event_id").as_string(), "evt_bounced_1");
    EXPECT_EQ(requests[1].at("event_id").as_string(), "evt_bounced_1");
    EXPECT_EQ(requests[2].at("event_id").as_string(), "evt_bounced_1");
    EXPECT_EQ(requests[3].at("event_id").as_string(), "evt_delivered_2");

    // Saved cursors never go back and never pass the failing head early.
    auto cursors = backend.saved_cursors("we_1");
    ASSERT_GE(cursors.size(), 3u);
    EXPECT_EQ(cursors[0], 0);
    EXPECT_EQ(cursors[1], 0);
    EXPECT_TRUE(std::is_sorted(cursors.begin(), cursors.end()));
    Endpoint after = backend.endpoint("we_1");
    EXPECT_EQ(after.attempts, 0);
    EXPECT_EQ(after.failing_since, 0);
    EXPECT_EQ(dispatcher.stats().failed_attempts, 2u);
    EXPECT_EQ(dispatcher.stats().delivered, 2u);
}

TEST(Dispatcher, disables_the_endpoint_after_give_up_seconds_of_failure)
{
    Receiver receiver({"--secret", secret, "--fail-first", "1000000", "--fail-status", "503"});
    MemoryBackend backend;
    backend.add_endpoint(endpoint_for(receiver.url()));
    backend.append(make_event("org_1", "delivered", 1));
    Options o = loopback_options();
    o.give_up_after_seconds = 2;

    Dispatcher dispatcher(backend, o);
    dispatcher.start();
    ASSERT_TRUE(wait_until([&] { return !backend.disabled_reason("we_1").empty(); }, 20s));
    dispatcher.stop();

    Endpoint after = backend.endpoint("we_1");
    EXPECT_EQ(after.cursor_seq, 0);
    EXPECT_GE(after.attempts, 2);
    EXPECT_GT(after.failing_since, 0);
    EXPECT_EQ(dispatcher.stats().disabled, 1u);
    EXPECT_EQ(dispatcher.stats().delivered, 0u);
    EXPECT_GE(receiver.requests().size(), 2u);
}

TEST(Dispatcher, logs_no_address_secret_url_or_payload)
{
    Receiver receiver({"--secret", secret, "--fail-first", "1"});
    MemoryBackend backend;
    backend.add_endpoint(endpoint_for(receiver.url() + "?token=canary_token_value"));
    Event e = make_event("org_1", "bounced", 1);
    e.email = "canary.patient@clinic.test";
    e.reason = "canary_reason_text";
    backend.append(e);

    ::testing::internal::CaptureStderr();
    {
        Dispatcher dispatcher(backend, loopback_options());
        dispatcher.start();
        wait_until([&] { return backend.endpoint("we_1").cursor_seq == 1; }, 10s);
        dispatcher.stop();
    }
    std::string logged = ::testing::internal::GetCapturedStderr();

    EXPECT_EQ(backend.endpoint("we_1").cursor_seq, 1);
    EXPECT_NE(logged.find("webhook_attempt_failed"), std::string::npos);
    for (const char* canary :
         {"canary.patient", "canary_reason_text", "canary_token_value", secret, "127.0.0.1"}) {
        EXPECT_EQ(logged.find(canary), std::string::npos) << canary;
    }
}

TEST(Dispatcher, skips_types_the_endpoint_does_not_want)
{
    Receiver receiver({"--secret", secret});
    MemoryBackend backend;
    backend.add_endpoint(endpoint_for(receiver.url(), {"bounced", "delivered"}));
    for (const char* type : {"queued", "delivered", "opened", "bounced", "clicked"}) {
        static int n = 0;
        backend.append(make_event("org_1", type, ++n));
    }

    Dispatcher dispatcher(backend, loopback_options());
    dispatcher.start();
    ASSERT_TRUE(wait_until([&] { return backend.endpoint("we_1").cursor_seq == 5; }, 10s));
    dispatcher.stop();

    auto requests = receiver.requests();
    ASSERT_EQ(requests.size(), 2u);
    EXPECT_EQ(requests[0].at("event_id").as_string(), "evt_delivered_2");
    EXPECT_EQ(requests[1].at("event_id").as_string(), "evt_bounced_4");
}

TEST(Dispatcher, wake_delivers_new_events_without_waiting_for_the_poll)
{
    Receiver receiver({"--secret", secret});
    MemoryBackend backend;
    backend.add_endpoint(endpoint_for(receiver.url()));
    Dispatcher dispatcher(backend, loopback_options());
    dispatcher.start();
    std::this_thread::sleep_for(300ms);

    int woken_quickly = 0;
    for (int n = 1; n <= 5; ++n) {
        backend.append(make_event("org_1", "delivered", n));
        dispatcher.wake();
        if (wait_until([&] { return backend.endpoint("we_1").cursor_seq == n; }, 500ms)) {
            ++woken_quickly;
        }
        ASSERT_TRUE(wait_until([&] { return backend.endpoint("we_1").cursor_seq == n; }, 5s));
    }
    dispatcher.stop();
    EXPECT_GE(woken_quickly, 4);
}

TEST(Dispatcher, stops_sending_a_long_backlog_soon_after_the_endpoint_is_disabled)
{
    Receiver receiver({"--secret", secret});
    MemoryBackend backend;
    backend.add_endpoint(endpoint_for(receiver.url()));
    constexpr int backlog = 40000;
    for (int n = 1; n <= backlog; ++n) {
        backend.append(make_event("org_1", "delivered", n));
    }

    Dispatcher dispatcher(backend, loopback_options());
    dispatcher.start();
    ASSERT_TRUE(wait_until([&] { return receiver.requests().size() >= 50; }, 10s));
    backend.disable_now("we_1");
    std::this_thread::sleep_for(3s);
    auto settled = dispatcher.stats().delivered;
    std::this_thread::sleep_for(1s);
    dispatcher.stop();

    EXPECT_EQ(dispatcher.stats().delivered, settled);
    EXPECT_LT(backend.endpoint("we_1").cursor_seq, backlog);
}

TEST(Dispatcher, does_not_follow_a_redirect_to_a_refused_address)
{
    Receiver receiver({"--secret", secret, "--redirect-to", "http://169.254.169.254/latest"});
    MemoryBackend backend;
    backend.add_endpoint(endpoint_for(receiver.url()));
    backend.append(make_event("org_1", "delivered", 1));

    Dispatcher dispatcher(backend, loopback_options());
    dispatcher.start();
    ASSERT_TRUE(wait_until([&] { return dispatcher.stats().failed_attempts >= 1; }, 10s));
    dispatcher.stop();
    EXPECT_EQ(backend.endpoint("we_1").cursor_seq, 0);
    EXPECT_EQ(dispatcher.stats().delivered, 0u);
}

TEST(Dispatcher, follows_a_redirect_to_an_allowed_host_and_posts_again)
{
    Receiver target({"--secret", secret});
    Receiver first({"--secret", secret, "--redirect-to", target.url() + "?moved=1"});
    MemoryBackend backend;
    backend.add_endpoint(endpoint_for(first.url()));
    backend.append(make_event("org_1", "delivered", 1));

    Dispatcher dispatcher(backend, loopback_options());
    dispatcher.start();
    ASSERT_TRUE(wait_until([&] { return backend.endpoint("we_1").cursor_seq == 1; }, 10s));
    dispatcher.stop();
    ASSERT_EQ(target.requests().size(), 1u);
    EXPECT_EQ(target.requests()[0].at("path").as_string(), "/hook?moved=1");
    EXPECT_TRUE(target.requests()[0].at("signature_ok").as_bool());
}

TEST(Dispatcher, stop_aborts_a_hanging_request_within_about_a_second)
{
    Receiver receiver({"--secret", secret, "--hang"});
    MemoryBackend backend;
    backend.add_endpoint(endpoint_for(receiver.url()));
    backend.append(make_event("org_1", "delivered", 1));
    Options o = loopback_options();
    o.request_timeout_ms = 60000;

    Dispatcher dispatcher(backend, o);
    dispatcher.start();
    ASSERT_TRUE(wait_until([&] { return receiver.requests().size() == 1; }, 10s));
    auto began = std::chrono::steady_clock::now();
    dispatcher.stop();
    EXPECT_LT(std::chrono::steady_clock::now() - began, 2500ms);
    EXPECT_EQ(backend.endpoint("we_1").cursor_seq, 0);
    EXPECT_EQ(dispatcher.stats().failed_attempts, 0u);
}

TEST(Dispatcher, serves_ipv6_loopback_when_allowed)
{
    Receiver receiver({"--secret", secret, "--bind", "::1"});
    ASSERT_NE(receiver.port(), 0);
    MemoryBackend backend;
    backend.add_endpoint(endpoint_for("http://[::1]:" + std::to_string(receiver.port()) + "/hook"));
    backend.append(make_event("org_1", "delivered", 1));
    Dispatcher dispatcher(backend, loopback_options());
    dispatcher.start();
    ASSERT_TRUE(wait_until([&] { return backend.endpoint("we_1").cursor_seq == 1; }, 10s));
    dispatcher.stop();
    EXPECT_EQ(receiver.requests().size(), 1u);
}

}  // namespace
}  // namespace carepost::events
