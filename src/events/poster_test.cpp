#include <atomic>
#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>

#include "events/poster.hpp"
#include "events/test_support.hpp"

namespace carepost::events {
namespace {

// A name that is not allowed but resolves to loopback stands for a DNS
// answer that changed after registration: the socket must not open.
TEST(Poster, refuses_to_connect_when_a_host_resolves_to_loopback)
{
    testing::Receiver receiver({});
    Options o;
    o.allow_insecure_hosts = {"127.0.0.1"};
    std::atomic<bool> stopping{false};
    Poster poster(o, stopping);

    auto outcome =
        poster.post("https://localhost:" + std::to_string(receiver.port()) + "/hook", {}, "{}");
    EXPECT_FALSE(outcome.is_delivered);
    EXPECT_EQ(outcome.reason, "address_refused");
    EXPECT_TRUE(receiver.requests().empty());

    // The same receiver by its allowed name is reached: the refusal above
    // came from the address rule, not from the receiver.
    auto allowed = poster.post(receiver.url(), {}, "{}");
    EXPECT_TRUE(allowed.is_delivered) << allowed.reason << " " << allowed.curl_code;
}

TEST(Poster, refuses_plain_http_to_a_host_not_allowed)
{
    Options o;
    std::atomic<bool> stopping{false};
    Poster poster(o, stopping);
    EXPECT_EQ(poster.post("http://127.0.0.1:9/hook", {}, "{}").reason, "url_refused");
}

TEST(Poster, reports_a_refused_redirect)
{
    testing::Receiver receiver({"--redirect-to", "http://169.254.169.254/latest/meta-data/"});
    Options o;
    o.allow_insecure_hosts = {"127.0.0.1"};
    std::atomic<bool> stopping{false};
    Poster poster(o, stopping);
    auto outcome = poster.post(receiver.url(), {}, "{}");
    EXPECT_FALSE(outcome.is_delivered);
    EXPECT_EQ(outcome.status, 302);
    EXPECT_EQ(outcome.reason, "redirect_refused");
    EXPECT_EQ(receiver.requests().size(), 1u);
}

TEST(Poster, stops_after_max_redirects)
{
    testing::Receiver receiver({"--redirect-self"});
    Options o;
    o.allow_insecure_hosts = {"127.0.0.1"};
    o.max_redirects = 2;
    std::atomic<bool> stopping{false};
    Poster poster(o, stopping);
    auto outcome = poster.post(receiver.url(), {}, "{}");
    EXPECT_FALSE(outcome.is_delivered);
    EXPECT_EQ(outcome.reason, "too_many_redirects");
    EXPECT_EQ(receiver.requests().size(), 3u);
}

TEST(Poster, refuses_https_to_a_private_address_even_after_registration)
{
    Options o;
    std::atomic<bool> stopping{false};
    Poster poster(o, stopping);
    auto outcome = poster.post("https://127.0.0.1:9/hook", {}, "{}");
    EXPECT_EQ(outcome.reason, "address_refused");
}

}  // namespace
}  // namespace carepost::events

namespace carepost::events {
namespace {

// A test CA and a leaf for 127.0.0.1, made with the openssl command line.
struct TestPki {
    std::filesystem::path folder;
    TestPki()
    {
        folder =
            std::filesystem::temp_directory_path() / ("events-pki-" + std::to_string(getpid()));
        std::filesystem::create_directories(folder);
        std::string f = folder.string();
        std::string script =
            "cd '" + f +
            "' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
            "-keyout ca.key -out ca.pem -days 2 -subj /CN=events-test-ca "
            "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign "
            ">/dev/null 2>&1"
            " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
            "-keyout leaf.key -out leaf.csr -subj /CN=127.0.0.1 >/dev/null 2>&1"
            " && printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > leaf.ext"
            " && openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
            "-out leaf.pem -days 2 -extfile leaf.ext >/dev/null 2>&1";
        is_ready = std::system(script.c_str()) == 0;
    }
    ~TestPki() { std::filesystem::remove_all(folder); }
    bool is_ready = false;
};

TEST(Poster, verifies_tls_against_the_extra_ca_file)
{
    TestPki pki;
    ASSERT_TRUE(pki.is_ready);
    testing::Receiver receiver(
        {"--tls-cert",
         (pki.folder / "leaf.pem").string(),
         "--tls-key",
         (pki.folder / "leaf.key").string()});
    ASSERT_NE(receiver.port(), 0);
    std::string url = "https://127.0.0.1:" + std::to_string(receiver.port()) + "/hook";
    std::atomic<bool> stopping{false};

    Options trusting;
    trusting.allow_insecure_hosts = {"127.0.0.1"};
    trusting.ca_file = (pki.folder / "ca.pem").string();
    Poster good(trusting, stopping);
    auto outcome = good.post(url, {}, "{}");
    EXPECT_TRUE(outcome.is_delivered) << outcome.reason << " curl " << outcome.curl_code;

    // Without the test CA the same receiver is not trusted.
    Options system_only;
    system_only.allow_insecure_hosts = {"127.0.0.1"};
    Poster strict(system_only, stopping);
    auto refused = strict.post(url, {}, "{}");
    EXPECT_FALSE(refused.is_delivered);
    EXPECT_EQ(refused.curl_code, int(CURLE_PEER_FAILED_VERIFICATION));
    EXPECT_EQ(receiver.requests().size(), 1u);
}

}  // namespace
}  // namespace carepost::events
