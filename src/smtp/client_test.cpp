#include "smtp/smtp.hpp"

// The header under test comes first (it must compile alone); then the rest.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace carepost::smtp {
namespace {

namespace fs = std::filesystem;
using boost::asio::awaitable;

const fs::path kSinkScript = fs::path(CAREPOST_SOURCE_DIR) / "src/smtp/testdata/smtp_sink.py";

std::string read_file(const fs::path& path)
{
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::size_t count(std::string_view haystack, std::string_view needle)
{
    std::size_t n = 0;
    for (auto pos = haystack.find(needle); pos != std::string_view::npos;
         pos = haystack.find(needle, pos + 1)) {
        ++n;
    }
    return n;
}

fs::path make_temp_dir(std::string_view tag)
{
    static int counter = 0;
    fs::path dir = fs::temp_directory_path() / ("smtp_test_" + std::to_string(::getpid()) + "_" +
                                                std::string(tag) + std::to_string(counter++));
    fs::create_directories(dir);
    return dir;
}

// A test CA, a certificate for mx.clinic.test that it signed, and a
// self-signed one for the same name, made once with the openssl tool.
struct Certificates {
    fs::path dir = make_temp_dir("certs");
    fs::path ca = dir / "ca.pem";
    fs::path mx_cert = dir / "mx.pem";
    fs::path mx_key = dir / "mx.key";
    fs::path self_cert = dir / "self.pem";
    fs::path self_key = dir / "self.key";

    Certificates()
    {
        std::string d = dir.string();
        std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ";
        std::string script =
            "cd " + d + " && " + "openssl req -x509" + ec +
            "-keyout ca.key -out ca.pem -days 2 -subj /CN=carepost-test-ca && " +
            "openssl req -new" + ec + "-keyout mx.key -out mx.csr -subj /CN=mx.clinic.test && " +
            "printf 'subjectAltName=DNS:mx.clinic.test\\nextendedKeyUsage=serverAuth\\n' > ext "
            "&& " +
            "openssl x509 -req -in mx.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out mx.pem "
            "-days 2 -extfile ext && " +
            "openssl req -x509" + ec +
            "-keyout self.key -out self.pem -days 2 -subj /CN=mx.clinic.test "
            "-addext subjectAltName=DNS:mx.clinic.test";
        script = "(" + script + ") >" + d + "/openssl.log 2>&1";
        if (std::system(script.c_str()) != 0) {
            throw std::runtime_error("openssl could not make the test certificates");
        }
    }
    ~Certificates() { fs::remove_all(dir); }
};

const Certificates& certificates()
{
    static const Certificates certs;
    return certs;
}

// The Python capture server from testdata, one process per test.
class Sink {
public:
    explicit Sink(std::vector<std::string> options) : dir_(make_temp_dir("sink"))
    {
        std::vector<std::string> args = {
            "/usr/bin/python3",
            kSinkScript.string(),
            "--port-file",
            (dir_ / "port").string(),
            "--outdir",
            (dir_ / "out").string(),
            "--lifetime",
            "30"};
        args.insert(args.end(), options.begin(), options.end());
        std::vector<char*> argv;
        for (auto& arg : args) {
            argv.push_back(arg.data());
        }
        argv.push_back(nullptr);

        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        std::string log = (dir_ / "sink.log").string();
        posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT, 0600);
        posix_spawn_file_actions_adddup2(&actions, 1, 2);
        int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        if (rc != 0) {
            throw std::runtime_error("cannot start the sink");
        }

        for (int i = 0; i < 100 && !fs::exists(dir_ / "port"); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        port_ = static_cast<std::uint16_t>(std::stoi(read_file(dir_ / "port")));
    }

    ~Sink()
    {
        ::kill(pid_, SIGTERM);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        fs::remove_all(dir_);
    }

    std::uint16_t port() const { return port_; }
    std::string session_log() const { return read_file(dir_ / "out/session.log"); }
    std::string wire(int n) const
    {
        return read_file(dir_ / "out" / (std::to_string(n) + ".wire"));
    }
    std::string stored(int n) const
    {
        return read_file(dir_ / "out" / (std::to_string(n) + ".eml"));
    }
    int message_count() const
    {
        int n = 0;
        for (auto& entry : fs::directory_iterator(dir_ / "out")) {
            n += entry.path().extension() == ".wire" ? 1 : 0;
        }
        return n;
    }

private:
    fs::path dir_;
    pid_t pid_ = 0;
    std::uint16_t port_ = 0;
};

template <class F>
auto run(F make)
{
    boost::asio::io_context io;
    auto future = boost::asio::co_spawn(io, make(), boost::asio::use_future);
    io.run();
    return future.get();
}

ConnectOptions plain_options(const Sink& sink)
{
    ConnectOptions options;
    options.host = "127.0.0.1";
    options.port = sink.port();
    options.helo_name = "out.carepost.test";
    options.tls.require_tls = false;
    options.tls.verify = false;
    options.timeout = std::chrono::seconds(5);
    return options;
}

ConnectOptions verified_options(const Sink& sink, std::string tls_name = "mx.clinic.test")
{
    ConnectOptions options = plain_options(sink);
    options.tls_name = std::move(tls_name);
    options.tls = {certificates().ca.string(), true, true};
    return options;
}

std::vector<std::string> tls_sink_options(bool self_signed = false)
{
    const Certificates& certs = certificates();
    return {
        "--tls-cert",
        (self_signed ? certs.self_cert : certs.mx_cert).string(),
        "--tls-key",
        (self_signed ? certs.self_key : certs.mx_key).string()};
}

constexpr std::string_view kSimpleMessage =
    "From: noreply@clinic.example.org\r\nTo: a@example.org\r\nSubject: t\r\n\r\nhi\r\n";

Envelope envelope_for(std::vector<std::string> rcpt)
{
    return {"noreply@clinic.example.org", std::move(rcpt), false, 0};
}

struct SessionResult {
    Result<Outcome> outcome = Error::internal("unset", "");
    std::string tls_version;
    bool was_usable_after = false;
};

// Connects, sends one message, quits.
SessionResult deliver(ConnectOptions options, Envelope envelope, std::string_view message)
{
    return run([&]() -> awaitable<SessionResult> {
        SessionResult out;
        auto executor = co_await boost::asio::this_coro::executor;
        auto client = co_await Client::connect(executor, options);
        if (!client) {
            out.outcome = client.error();
            co_return out;
        }
        out.tls_version = (*client)->tls_version();
        out.outcome = co_await (*client)->send(envelope, message);
        out.was_usable_after = (*client)->is_usable();
        co_await (*client)->quit();
        co_return out;
    });
}

TEST(Client, pipelined_transaction_reports_each_recipient_in_order)
{
    Sink sink({"--rcpt-reply", "defer@=451 4.2.1 try later", "--rcpt-reply", "gone@=550 5.1.1 no"});
    auto result = deliver(
        plain_options(sink),
        envelope_for(
            {"ok1@example.org", "defer@example.org", "gone@example.org", "ok2@example.org"}),
        kSimpleMessage);
    ASSERT_TRUE(result.outcome.has_value()) << result.outcome.error().code;
    const Outcome& out = *result.outcome;
    EXPECT_EQ(out.mail.code, 250);
    ASSERT_EQ(out.rcpt.size(), 4u);
    EXPECT_EQ(out.rcpt[0].code, 250);
    EXPECT_EQ(out.rcpt[1].code, 451);
    EXPECT_EQ(out.rcpt[1].enhanced, "4.2.1");
    EXPECT_EQ(out.rcpt[2].code, 550);
    EXPECT_EQ(out.rcpt[3].code, 250);
    EXPECT_EQ(out.data.code, 250);
    EXPECT_EQ(out.result_for(1).code, 451);
    EXPECT_EQ(out.result_for(2).enhanced, "5.1.1");
    EXPECT_EQ(out.result_for(3).code, 250);
    EXPECT_TRUE(result.was_usable_after);
    EXPECT_EQ(sink.message_count(), 1);
    EXPECT_EQ(count(sink.session_log(), "RCPT TO:"), 4u);
}

TEST(Client, stepwise_transaction_without_pipelining_gives_the_same_replies)
{
    Sink sink({"--no-pipelining", "--rcpt-reply", "gone@=550 5.1.1 no"});
    auto result = deliver(
        plain_options(sink), envelope_for({"gone@example.org", "ok@example.org"}), kSimpleMessage);
    ASSERT_TRUE(result.outcome.has_value()) << result.outcome.error().code;
    EXPECT_EQ(result.outcome->rcpt[0].code, 550);
    EXPECT_EQ(result.outcome->rcpt[1].code, 250);
    EXPECT_EQ(result.outcome->data.code, 250);
    EXPECT_EQ(sink.message_count(), 1);
}

TEST(Client, all_recipients_refused_resets_and_sends_no_message)
{
    for (bool pipelining : {true, false}) {
        std::vector<std::string> options = {"--rcpt-reply", "@=550 5.1.1 no"};
        if (!pipelining) {
            options.push_back("--no-pipelining");
        }
        Sink sink(options);
        auto result =
            deliver(plain_options(sink), envelope_for({"a@x.org", "b@x.org"}), kSimpleMessage);
        ASSERT_TRUE(result.outcome.has_value()) << result.outcome.error().code;
        EXPECT_EQ(result.outcome->result_for(0).code, 550);
        EXPECT_EQ(result.outcome->result_for(1).code, 550);
        EXPECT_EQ(result.outcome->data.code, 0);
        EXPECT_TRUE(result.was_usable_after);
        EXPECT_EQ(sink.message_count(), 0);
        std::string log = sink.session_log();
        EXPECT_NE(log.find("RSET"), std::string::npos) << pipelining;
        EXPECT_EQ(log.find("DATA") != std::string::npos, pipelining);
    }
}

// Field case C03: exact wire bytes of the relay-path message.
TEST(Client, c03_dot_lines_are_stuffed_once_on_the_wire)
{
    std::string headers = "From: Clinic <noreply@clinic.example.org>\r\nTo: patient@example.org\r\n"
                          "Subject: C03 dots relay\r\nDate: Thu, 03 Dec 2026 10:00:00 +0000\r\n"
                          "Message-ID: <c03@clinic.example.org>\r\n\r\n";
    std::string message = headers + "hello\r\n.\r\nhello\r\n.hidden line\r\n..two dots\r\nend\r\n";
    Sink sink({});
    auto result = deliver(plain_options(sink), envelope_for({"patient@example.org"}), message);
    ASSERT_TRUE(result.outcome.has_value()) << result.outcome.error().code;
    EXPECT_EQ(sink.message_count(), 1);
    EXPECT_EQ(
        sink.wire(1),
        headers + "hello\r\n..\r\nhello\r\n..hidden line\r\n...two dots\r\nend\r\n.\r\n");
    EXPECT_EQ(sink.stored(1), message);
}

TEST(Client, smuggled_end_of_data_stays_inside_one_message)
{
    std::string message = "Subject: s\r\n\r\nx\n.\nMAIL FROM:<a@b.example>\r\n";
    Sink sink({});
    auto result = deliver(plain_options(sink), envelope_for({"p@example.org"}), message);
    ASSERT_TRUE(result.outcome.has_value()) << result.outcome.error().code;
    EXPECT_EQ(sink.message_count(), 1);
    EXPECT_EQ(sink.wire(1), "Subject: s\r\n\r\nx\r\n..\r\nMAIL FROM:<a@b.example>\r\n.\r\n");
    EXPECT_EQ(count(sink.session_log(), "MAIL FROM"), 1u);
}

TEST(Client, starttls_with_ca_file_trusted_certificate_delivers_over_tls)
{
    Sink sink(tls_sink_options());
    auto result = deliver(verified_options(sink), envelope_for({"p@example.org"}), kSimpleMessage);
    ASSERT_TRUE(result.outcome.has_value())
        << result.outcome.error().code << " " << result.outcome.error().text;
    EXPECT_TRUE(result.tls_version == "TLSv1.3" || result.tls_version == "TLSv1.2")
        << result.tls_version;
    EXPECT_EQ(result.outcome->data.code, 250);
    std::string log = sink.session_log();
    EXPECT_LT(log.find("STARTTLS"), log.find("MAIL FROM"));
    EXPECT_EQ(count(log, "EHLO"), 2u);
}

TEST(Client, shared_tls_context_serves_several_connections)
{
    Sink sink(tls_sink_options());
    auto context = make_tls_context({certificates().ca.string(), true, true});
    ASSERT_TRUE(context.has_value());
    for (int i = 0; i < 2; ++i) {
        ConnectOptions options = verified_options(sink);
        options.tls_context = *context;
        auto result = deliver(options, envelope_for({"p@example.org"}), kSimpleMessage);
        ASSERT_TRUE(result.outcome.has_value()) << result.outcome.error().code;
    }
    EXPECT_EQ(sink.message_count(), 2);
}

void expect_tls_required_and_no_mail(
    const SessionResult& result, const Sink& sink, std::string_view reason)
{
    ASSERT_FALSE(result.outcome.has_value());
    EXPECT_EQ(result.outcome.error().code, "tls_required") << result.outcome.error().text;
    EXPECT_NE(result.outcome.error().text.find(reason), std::string::npos)
        << result.outcome.error().text;
    EXPECT_TRUE(result.outcome.error().is_transient());
    EXPECT_EQ(sink.session_log().find("MAIL FROM"), std::string::npos);
    EXPECT_EQ(sink.message_count(), 0);
}

TEST(Client, required_tls_without_starttls_fails_before_mail)
{
    Sink sink({});
    auto result = deliver(verified_options(sink), envelope_for({"p@example.org"}), kSimpleMessage);
    expect_tls_required_and_no_mail(result, sink, "STARTTLS");
}

TEST(Client, certificate_for_another_host_name_is_refused)
{
    Sink sink(tls_sink_options());
    auto result = deliver(
        verified_options(sink, "other.clinic.test"),
        envelope_for({"p@example.org"}),
        kSimpleMessage);
    expect_tls_required_and_no_mail(result, sink, "hostname mismatch");
}

TEST(Client, untrusted_self_signed_certificate_is_refused)
{
    Sink sink(tls_sink_options(true));
    auto result = deliver(verified_options(sink), envelope_for({"p@example.org"}), kSimpleMessage);
    expect_tls_required_and_no_mail(result, sink, "self-signed certificate");
}

TEST(Client, encrypted_policy_accepts_an_unverified_certificate)
{
    Sink sink(tls_sink_options(true));
    ConnectOptions options = verified_options(sink, "other.clinic.test");
    options.tls.verify = false;
    auto result = deliver(options, envelope_for({"p@example.org"}), kSimpleMessage);
    ASSERT_TRUE(result.outcome.has_value()) << result.outcome.error().code;
    EXPECT_FALSE(result.tls_version.empty());
}

TEST(Client, opportunistic_policy_uses_starttls_when_offered)
{
    Sink sink(tls_sink_options(true));
    auto result = deliver(plain_options(sink), envelope_for({"p@example.org"}), kSimpleMessage);
    ASSERT_TRUE(result.outcome.has_value()) << result.outcome.error().code;
    EXPECT_FALSE(result.tls_version.empty());
}

// Field case C08: no SMTPUTF8 at the peer: permanent 5.6.7, no MAIL sent.
TEST(Client, c08_utf8_address_to_peer_without_smtputf8_fails_with_5_6_7)
{
    Sink sink({"--no-smtputf8"});
    Envelope envelope = envelope_for({"пациент@example.org", "patient@example.org"});
    envelope.needs_smtputf8 = true;
    auto result = deliver(plain_options(sink), envelope, kSimpleMessage);
    ASSERT_TRUE(result.outcome.has_value()) << result.outcome.error().code;
    for (std::size_t i = 0; i < 2; ++i) {
        EXPECT_EQ(result.outcome->result_for(i).code, 553);
        EXPECT_EQ(result.outcome->result_for(i).enhanced, "5.6.7");
    }
    EXPECT_TRUE(result.outcome->result_for(0).is_permanent());
    EXPECT_EQ(sink.session_log().find("MAIL FROM"), std::string::npos);
    EXPECT_TRUE(result.was_usable_after);
}

TEST(Client, c08_utf8_address_goes_raw_with_smtputf8_parameter)
{
    Sink sink({});
    Envelope envelope = envelope_for({"пациент@example.org"});
    envelope.needs_smtputf8 = true;
    auto result = deliver(plain_options(sink), envelope, "Subject: t\r\n\r\nJ\xc3\xb6rg\r\n");
    ASSERT_TRUE(result.outcome.has_value()) << result.outcome.error().code;
    EXPECT_EQ(result.outcome->data.code, 250);
    std::string log = sink.session_log();
    EXPECT_NE(log.find("RCPT TO:<пациент@example.org>\r\n"), std::string::npos);
    EXPECT_NE(log.find(" BODY=8BITMIME SMTPUTF8\r\n"), std::string::npos);
}

TEST(Client, utf8_address_without_the_flag_is_an_invalid_envelope)
{
    Sink sink({});
    auto result = deliver(plain_options(sink), envelope_for({"пациент@example.org"}), "x\r\n");
    ASSERT_FALSE(result.outcome.has_value());
    EXPECT_EQ(result.outcome.error().code, "invalid_envelope");
    EXPECT_EQ(sink.session_log().find("MAIL FROM"), std::string::npos);
}

TEST(Client, address_with_crlf_cannot_inject_commands)
{
    Sink sink({});
    auto result = deliver(
        plain_options(sink), envelope_for({"a@x.org>\r\nRCPT TO:<b@y.org"}), kSimpleMessage);
    ASSERT_FALSE(result.outcome.has_value());
    EXPECT_EQ(result.outcome.error().code, "invalid_envelope");
    EXPECT_EQ(result.outcome.error().error_class, ErrorClass::permanent);
}

TEST(Client, size_parameter_is_sent_and_oversize_fails_locally)
{
    Sink sink({"--size", "100"});
    auto small = deliver(plain_options(sink), envelope_for({"p@x.org"}), kSimpleMessage);
    ASSERT_TRUE(small.outcome.has_value()) << small.outcome.error().code;
    EXPECT_NE(
        sink.session_log().find(" SIZE=" + std::to_string(kSimpleMessage.size())),
        std::string::npos);

    std::string big = std::string(kSimpleMessage) + std::string(200, 'x') + "\r\n";
    auto large = deliver(plain_options(sink), envelope_for({"p@x.org"}), big);
    ASSERT_TRUE(large.outcome.has_value()) << large.outcome.error().code;
    EXPECT_EQ(large.outcome->result_for(0).code, 552);
    EXPECT_EQ(large.outcome->result_for(0).enhanced, "5.3.4");
    EXPECT_EQ(sink.message_count(), 1);
}

TEST(Client, connection_is_reused_for_two_transactions)
{
    Sink sink({});
    auto outcomes = run([&]() -> awaitable<std::vector<int>> {
        std::vector<int> codes;
        auto client = co_await Client::connect(
            co_await boost::asio::this_coro::executor, plain_options(sink));
        if (!client) {
            co_return codes;
        }
        Envelope envelope = envelope_for({"p@x.org"});
        for (int i = 0; i < 2; ++i) {
            auto out = co_await (*client)->send(envelope, kSimpleMessage);
            codes.push_back(out ? out->data.code : -1);
        }
        co_await (*client)->quit();
        codes.push_back((*client)->is_usable() ? 1 : 0);
        co_return codes;
    });
    EXPECT_EQ(outcomes, (std::vector<int>{250, 250, 0}));
    EXPECT_EQ(sink.message_count(), 2);
    EXPECT_EQ(count(sink.session_log(), "EHLO"), 1u);
    EXPECT_EQ(count(sink.session_log(), "QUIT"), 1u);
}

TEST(Client, peer_hanging_up_during_data_is_an_error_and_ends_the_session)
{
    Sink sink({"--hangup-in-data"});
    std::string message = std::string(kSimpleMessage) + std::string(300000, 'y') + "\r\n";
    auto result = deliver(plain_options(sink), envelope_for({"p@x.org"}), message);
    ASSERT_FALSE(result.outcome.has_value());
    EXPECT_EQ(result.outcome.error().code, "connection_lost");
    EXPECT_TRUE(result.outcome.error().is_transient());
    EXPECT_FALSE(result.was_usable_after);
}

TEST(Client, silent_peer_times_out)
{
    Sink sink({"--stall-greeting"});
    ConnectOptions options = plain_options(sink);
    options.timeout = std::chrono::seconds(1);
    auto started = std::chrono::steady_clock::now();
    auto result = deliver(options, envelope_for({"p@x.org"}), kSimpleMessage);
    ASSERT_FALSE(result.outcome.has_value());
    EXPECT_EQ(result.outcome.error().code, "timeout");
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(4));
}

TEST(Client, refused_connection_is_connect_failed)
{
    std::uint16_t port = 0;
    {
        Sink sink({});
        port = sink.port();
    }
    ConnectOptions options;
    options.host = "127.0.0.1";
    options.port = port;
    options.tls.require_tls = false;
    auto result = deliver(options, envelope_for({"p@x.org"}), kSimpleMessage);
    ASSERT_FALSE(result.outcome.has_value());
    EXPECT_EQ(result.outcome.error().code, "connect_failed");
}

TEST(Client, peer_without_ehlo_gets_helo_and_no_extensions)
{
    Sink sink({"--no-ehlo"});
    auto result = deliver(plain_options(sink), envelope_for({"p@x.org"}), kSimpleMessage);
    ASSERT_TRUE(result.outcome.has_value()) << result.outcome.error().code;
    EXPECT_EQ(result.outcome->data.code, 250);
    EXPECT_NE(sink.session_log().find("HELO out.carepost.test"), std::string::npos);
    EXPECT_EQ(sink.session_log().find("SIZE="), std::string::npos);
}

}  // namespace
}  // namespace carepost::smtp
