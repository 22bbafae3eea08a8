#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include <arpa/inet.h>
#include <boost/json/parse.hpp>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "inbound/inbound.hpp"

namespace carepost::inbound {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const fs::path kTestData = fs::path(CAREPOST_SOURCE_DIR) / "src/inbound/testdata";
const fs::path kCorpus = fs::path(CAREPOST_SHARED_DIR) / "corpus/bounces/messages";
const std::string kKey = "inbound-test-verp-key";
const std::string kDomain = "bounces.clinic.test";
const std::string kId = "rcp_00112233445566778899aabb";

std::string read_file(const fs::path& path)
{
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// LF line ends made CRLF, with a final line end: what a client puts on the wire.
std::string to_crlf(std::string text)
{
    std::string out;
    for (char c : text) {
        if (c == '\n' && (out.empty() || out.back() != '\r')) {
            out += '\r';
        }
        out += c;
    }
    if (!out.ends_with("\r\n")) {
        out += "\r\n";
    }
    return out;
}

// The message swaks puts on the wire for `--data @file` (its documented
// fix-ups): LF made CRLF, then CRLF "." CRLF appended, so the message gains
// one empty line. The files have no swaks tokens or literal "\\n".
std::string as_swaks_sends(const std::string& file_text)
{
    return to_crlf(file_text) + "\r\n";
}

// Runs a shell command with a time bound; returns its stdout.
std::string run(const std::string& command, int* status = nullptr)
{
    fs::path out = fs::temp_directory_path() /
                   ("inbound_test_" + std::to_string(::getpid()) + "_" +
                    std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    int rc = std::system(("timeout 60 " + command + " >" + out.string() + " 2>&1").c_str());
    if (status) {
        *status = rc;
    }
    std::string text = read_file(out);
    fs::remove(out);
    return text;
}

// A blocking SMTP client over a plain socket, every read bounded.
class Client {
public:
    explicit Client(std::uint16_t port, std::chrono::milliseconds read_timeout = 5000ms)
    {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        timeval tv{};
        tv.tv_sec = read_timeout.count() / 1000;
        tv.tv_usec = (read_timeout.count() % 1000) * 1000;
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(port);
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
            throw std::runtime_error("connect failed");
        }
    }
    ~Client() { ::close(fd_); }

    void send(std::string_view bytes)
    {
        while (!bytes.empty()) {
            auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n <= 0) {
                return;
            }
            bytes.remove_prefix(static_cast<std::size_t>(n));
        }
    }

    // One whole reply (all its lines); "" on timeout or end of stream.
    std::string reply()
    {
        std::string text;
        while (true) {
            auto end = buffer_.find("\r\n");
            if (end != std::string::npos) {
                std::string line = buffer_.substr(0, end + 2);
                buffer_.erase(0, end + 2);
                text += line;
                if (line.size() < 4 || line[3] != '-') {
                    return text;
                }
                continue;
            }
            char chunk[4096];
            auto n = ::recv(fd_, chunk, sizeof chunk, 0);
            if (n <= 0) {
                return text;
            }
            buffer_.append(chunk, static_cast<std::size_t>(n));
        }
    }

    int code() { return code_of(reply()); }
    std::string command(std::string_view line)
    {
        send(std::string(line) + "\r\n");
        return reply();
    }

    static int code_of(const std::string& reply)
    {
        return reply.size() >= 3 ? std::stoi(reply.substr(0, 3)) : 0;
    }

    // True when the server closed the connection (read returns 0).
    bool is_closed_by_peer()
    {
        char c;
        return ::recv(fd_, &c, 1, 0) == 0;
    }

private:
    int fd_ = -1;
    std::string buffer_;
};

// A listener on a free loopback port that records what its handler saw.
class ListenerTest : public ::testing::Test {
protected:
    void start(std::function<void(Options&)> tune = {})
    {
        Options options;
        options.listen = "127.0.0.1:0";
        options.hostname = "mx.inbound.test";
        options.domains = {kDomain};
        options.extra_addresses = {"fbl@" + kDomain};
        options.key = kKey;
        options.idle_timeout = 10s;
        if (tune) {
            tune(options);
        }
        listener_ = std::make_unique<Listener>(options, [this](const Delivery& delivery) {
            {
                std::unique_lock lock(mutex_);
                deliveries_.push_back(delivery);
                changed_.notify_all();
            }
            return verdict_ ? verdict_(delivery) : Result<void>{};
        });
        auto started = listener_->start();
        ASSERT_TRUE(started) << started.error().text;
        ASSERT_NE(listener_->port(), 0);
    }

    std::vector<Delivery> deliveries()
    {
        std::unique_lock lock(mutex_);
        return deliveries_;
    }

    std::uint16_t port() const { return listener_->port(); }
    std::string verp() const { return make_return_path(kId, kDomain, kKey); }

    // EHLO and an envelope to the VERP address; leaves the client before DATA.
    void open_transaction(Client& client)
    {
        ASSERT_EQ(client.code(), 220);
        ASSERT_EQ(Client::code_of(client.command("EHLO peer.test")), 250);
        ASSERT_EQ(Client::code_of(client.command("MAIL FROM:<>")), 250);
        ASSERT_EQ(Client::code_of(client.command("RCPT TO:<" + verp() + ">")), 250);
    }

    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<Delivery> deliveries_;
    std::function<Result<void>(const Delivery&)> verdict_;
    std::unique_ptr<Listener> listener_;
};

TEST_F(ListenerTest, SwaksDeliversCorpusDsnsAndTheHandlerSeesTheExactBytes)
{
    start();
    std::vector<fs::path> files = {
        kTestData / "dsn-with-dots.eml",
        kCorpus / "lhost-gmail-03.eml",  // has a line that starts with a dot
        kCorpus / "rfc3464-01.eml"};
    for (const auto& file : files) {
        ASSERT_TRUE(fs::exists(file)) << file;
        int status = 0;
        std::string transcript =
            run("swaks --server 127.0.0.1:" + std::to_string(port()) + " --from '<>' --to '" +
                    verp() + "' --helo peer.test --data @" + file.string(),
                &status);
        EXPECT_EQ(status, 0) << transcript;
        EXPECT_NE(transcript.find("<-  250 2.0.0"), std::string::npos) << transcript;
    }

    auto seen = deliveries();
    ASSERT_EQ(seen.size(), files.size());
    for (std::size_t i = 0; i < files.size(); ++i) {
        EXPECT_EQ(seen[i].data, as_swaks_sends(read_file(files[i]))) << files[i];
        EXPECT_EQ(seen[i].mail_from, "");
        EXPECT_EQ(seen[i].recipients, std::vector<std::string>{verp()});
        EXPECT_EQ(seen[i].peer_address, "127.0.0.1");
        EXPECT_EQ(parse_return_path(seen[i].recipients[0], {kDomain}, kKey).value(), kId);
    }
}

TEST_F(ListenerTest, PythonSmtplibPipelinesAGroupAndGetsRepliesInOrder)
{
    start();
    fs::path message = kTestData / "dsn-with-dots.eml";
    std::string bad = "bounce+rcp_00112233445566778899aabb-0000000000000000@" + kDomain;
    std::string out =
        run("/usr/bin/python3 " + (kTestData / "smtplib_peer.py").string() + " " +
            std::to_string(port()) + " '" + verp() + "' '" + bad + "' " + message.string());
    boost::system::error_code ec;
    auto json = boost::json::parse(out, ec);
    ASSERT_FALSE(ec) << out;
    auto& o = json.as_object();

    EXPECT_EQ(o["ehlo"].as_int64(), 250);
    EXPECT_TRUE(o["pipelining"].as_bool());
    EXPECT_EQ(o["size"].as_string(), std::to_string(10 * 1024 * 1024));
    auto& group = o["group"].as_array();
    ASSERT_EQ(group.size(), 4u);
    EXPECT_EQ(group[0].as_int64(), 250);
    EXPECT_EQ(group[1].as_int64(), 250);
    EXPECT_EQ(group[2].as_int64(), 550);
    EXPECT_EQ(group[3].as_int64(), 354);
    EXPECT_EQ(o["data"].as_int64(), 250);
    EXPECT_EQ(o["sendmail_refused"].as_object()[bad].as_int64(), 550) << out;
    EXPECT_EQ(o["quit"].as_int64(), 221);

    auto seen = deliveries();
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[0].data, to_crlf(read_file(message)));
    EXPECT_EQ(seen[0].recipients, std::vector<std::string>{verp()});
    EXPECT_EQ(seen[1].data, "Subject: second\r\n\r\nsecond message\r\n");
}

TEST_F(ListenerTest, RefusesRecipientsThatAreNotOurs)
{
    start();
    Client client(port());
    ASSERT_EQ(client.code(), 220);
    client.command("EHLO peer.test");
    client.command("MAIL FROM:<>");
    std::string forged = make_return_path(kId, kDomain, "a guessed key");
    EXPECT_EQ(client.command("RCPT TO:<" + forged + ">").substr(0, 9), "550 5.1.1");
    EXPECT_EQ(client.command("RCPT TO:<someone@" + kDomain + ">").substr(0, 9), "550 5.1.1");
    EXPECT_EQ(client.command("RCPT TO:<" + verp() + "> NOTIFY=NEVER").substr(0, 9), "555 5.5.4");
    EXPECT_EQ(client.command("DATA").substr(0, 9), "554 5.5.1");
    EXPECT_EQ(client.command("RCPT TO:<FBL@BOUNCES.clinic.test>").substr(0, 9), "250 2.1.5");
    EXPECT_EQ(client.command("DATA").substr(0, 3), "354");
    EXPECT_EQ(client.command("Subject: complaint\r\n\r\nbody\r\n.").substr(0, 9), "250 2.0.0");
    ASSERT_EQ(deliveries().size(), 1u);
    EXPECT_EQ(deliveries()[0].recipients, std::vector<std::string>{"FBL@BOUNCES.clinic.test"});
}

TEST_F(ListenerTest, RefusesOversizeMessagesAndStaysInStep)
{
    start([](Options& o) { o.max_message_octets = 1000; });
    Client client(port());
    ASSERT_EQ(client.code(), 220);
    EXPECT_NE(client.command("EHLO peer.test").find("250-SIZE 1000\r\n"), std::string::npos);
    EXPECT_EQ(client.command("MAIL FROM:<> SIZE=1001").substr(0, 9), "552 5.3.4");
    EXPECT_EQ(
        client.command("MAIL FROM:<> SIZE=99999999999999999999999").substr(0, 9), "552 5.3.4");
    EXPECT_EQ(client.command("MAIL FROM:<> SIZE=1000").substr(0, 9), "250 2.1.0");
    client.command("RCPT TO:<" + verp() + ">");
    EXPECT_EQ(client.command("DATA").substr(0, 3), "354");

    // 3000 octets: more than allowed, so the data is read to its end and refused.
    std::string line(98, 'x');
    std::string body;
    for (int i = 0; i < 30; ++i) {
        body += line + "\r\n";
    }
    EXPECT_EQ(client.command(body + ".").substr(0, 9), "552 5.3.4");
    EXPECT_EQ(client.command("NOOP").substr(0, 3), "250");
    EXPECT_TRUE(deliveries().empty());

    // The same session can still deliver a message within the limit.
    client.command("MAIL FROM:<>");
    client.command("RCPT TO:<" + verp() + ">");
    client.command("DATA");
    EXPECT_EQ(client.command(line + "\r\n.").substr(0, 9), "250 2.0.0");
    ASSERT_EQ(deliveries().size(), 1u);
    EXPECT_EQ(deliveries()[0].data, line + "\r\n");
}

TEST_F(ListenerTest, CutsOffAPeerThatStreamsFarBeyondTheLimit)
{
    start([](Options& o) { o.max_message_octets = 1000; });
    Client client(port());
    open_transaction(client);
    client.command("DATA");
    std::string chunk(64 * 1024, 'z');
    for (int i = 0; i < 40; ++i) {  // 2.5 MiB, no end in sight
        client.send(chunk);
    }
    EXPECT_EQ(client.reply().substr(0, 9), "552 5.3.4");
    EXPECT_TRUE(deliveries().empty());
}

TEST_F(ListenerTest, AnswersHandlerErrorsWith451Or554)
{
    start();
    std::vector<std::string> classes;
    verdict_ = [&](const Delivery& d) -> Result<void> {
        if (d.data.starts_with("transient")) {
            return Error::transient("store_busy", "store busy");
        }
        if (d.data.starts_with("permanent")) {
            return Error::permanent("unreadable", "bad message");
        }
        if (d.data.starts_with("internal")) {
            return Error::internal("bug", "bug");
        }
        throw std::runtime_error("handler bug");
    };
    Client client(port());
    ASSERT_EQ(client.code(), 220);
    client.command("EHLO peer.test");
    std::vector<std::pair<std::string, std::string>> cases = {
        {"transient", "451 4.3.0"},
        {"permanent", "554 5.6.0"},
        {"internal", "451 4.3.0"},
        {"throws", "451 4.3.0"}};
    for (const auto& [body, expected] : cases) {
        client.command("MAIL FROM:<>");
        client.command("RCPT TO:<" + verp() + ">");
        client.command("DATA");
        EXPECT_EQ(client.command(body + "\r\n.").substr(0, 9), expected) << body;
    }
    EXPECT_EQ(deliveries().size(), cases.size());
}

TEST_F(ListenerTest, ServesTwoSessionsAtOnce)
{
    start();
    // The first message's handler waits for the second: if sessions or
    // handler calls were serial this would time out.
    verdict_ = [this](const Delivery& d) -> Result<void> {
        if (d.data.starts_with("first")) {
            std::unique_lock lock(mutex_);
            bool ok = changed_.wait_for(lock, 5s, [this] { return deliveries_.size() == 2; });
            return ok ? Result<void>{} : Error::transient("alone", "second never came");
        }
        return {};
    };
    Client first(port());
    Client second(port());
    open_transaction(first);
    open_transaction(second);
    first.command("DATA");
    first.send("first\r\n.\r\n");
    second.command("DATA");
    EXPECT_EQ(second.command("second\r\n.").substr(0, 9), "250 2.0.0");
    EXPECT_EQ(first.reply().substr(0, 9), "250 2.0.0");
    EXPECT_EQ(deliveries().size(), 2u);
}

TEST_F(ListenerTest, ClosesAnIdleSessionWith421)
{
    start([](Options& o) { o.idle_timeout = 1s; });
    Client client(port());
    ASSERT_EQ(client.code(), 220);
    auto began = std::chrono::steady_clock::now();
    EXPECT_EQ(client.reply().substr(0, 9), "421 4.4.2");
    EXPECT_TRUE(client.is_closed_by_peer());
    auto waited = std::chrono::steady_clock::now() - began;
    EXPECT_GE(waited, 900ms);
    EXPECT_LT(waited, 4s);

    // A peer that stalls in the middle of DATA is cut off too, undelivered.
    Client stalled(port());
    open_transaction(stalled);
    stalled.command("DATA");
    stalled.send("half a message\r\n");
    EXPECT_EQ(stalled.reply().substr(0, 9), "421 4.4.2");
    EXPECT_TRUE(deliveries().empty());
}

TEST_F(ListenerTest, RefusesConnectionsBeyondTheLimitAtTheGreeting)
{
    start([](Options& o) { o.max_connections = 2; });
    Client a(port());
    Client b(port());
    ASSERT_EQ(a.code(), 220);
    ASSERT_EQ(b.code(), 220);
    {
        Client c(port());
        EXPECT_EQ(c.reply().substr(0, 9), "421 4.3.2");
    }
    a.command("QUIT");
    EXPECT_TRUE(a.is_closed_by_peer());
    // The slot is given back once the session has ended.
    for (int attempt = 0; attempt < 50; ++attempt) {
        Client d(port());
        if (d.code() == 220) {
            SUCCEED();
            return;
        }
        std::this_thread::sleep_for(20ms);
    }
    FAIL() << "the connection slot was never given back";
}

TEST_F(ListenerTest, EnforcesCommandSequenceAndSyntax)
{
    start();
    Client client(port());
    ASSERT_EQ(client.code(), 220);
    EXPECT_EQ(client.command("MAIL FROM:<>").substr(0, 9), "503 5.5.1");
    EXPECT_EQ(client.command("EHLO").substr(0, 9), "501 5.5.4");
    EXPECT_EQ(client.command("HELO peer.test"), "250 mx.inbound.test\r\n");
    EXPECT_EQ(client.command("RCPT TO:<" + verp() + ">").substr(0, 9), "503 5.5.1");
    EXPECT_EQ(client.command("DATA").substr(0, 9), "503 5.5.1");
    EXPECT_EQ(client.command("MAIL FROM:bare@address").substr(0, 9), "501 5.5.4");
    EXPECT_EQ(client.command("MAIL FROM:<a@b.test> RET=HDRS").substr(0, 9), "555 5.5.4");
    EXPECT_EQ(client.command("MAIL FROM:<a@b.test>").substr(0, 9), "250 2.1.0");
    EXPECT_EQ(client.command("MAIL FROM:<a@b.test>").substr(0, 9), "503 5.5.1");
    EXPECT_EQ(client.command("RSET").substr(0, 9), "250 2.0.0");
    EXPECT_EQ(client.command("RCPT TO:<" + verp() + ">").substr(0, 9), "503 5.5.1");
    EXPECT_EQ(client.command("VRFY someone").substr(0, 9), "252 2.5.0");
    EXPECT_EQ(client.command("NOOP").substr(0, 9), "250 2.0.0");
    EXPECT_EQ(client.command("STARTTLS").substr(0, 9), "502 5.5.1");
    EXPECT_EQ(client.command("XYZZY").substr(0, 9), "500 5.5.2");
    EXPECT_EQ(client.command("QUIT").substr(0, 9), "221 2.0.0");
    EXPECT_TRUE(client.is_closed_by_peer());
}

TEST_F(ListenerTest, AnswersAnOverlongCommandLineAndReadsOnInStep)
{
    start();
    Client client(port());
    ASSERT_EQ(client.code(), 220);
    // Both replies come back in order although the lines went in one write.
    client.send("NOOP " + std::string(5000, 'a') + "\r\nNOOP\r\n");
    EXPECT_EQ(client.reply().substr(0, 9), "500 5.5.6");
    EXPECT_EQ(client.reply().substr(0, 9), "250 2.0.0");
    client.send("NOOP " + std::string(994, 'a') + "\r\n");  // 1001 octets with CRLF
    EXPECT_EQ(client.reply().substr(0, 9), "500 5.5.6");
    client.send("NOOP " + std::string(993, 'a') + "\r\n");  // exactly 1000
    EXPECT_EQ(client.reply().substr(0, 9), "250 2.0.0");
}

TEST_F(ListenerTest, BoundsRecipientsAndErrorsPerSession)
{
    start([](Options& o) {
        o.max_recipients = 3;
        o.extra_addresses = {"fbl1@x.test", "fbl2@x.test", "fbl3@x.test", "fbl4@x.test"};
    });
    Client client(port());
    ASSERT_EQ(client.code(), 220);
    client.command("EHLO peer.test");
    client.command("MAIL FROM:<>");
    for (int i = 1; i <= 3; ++i) {
        EXPECT_EQ(
            client.command("RCPT TO:<fbl" + std::to_string(i) + "@x.test>").substr(0, 3), "250");
    }
    EXPECT_EQ(client.command("RCPT TO:<fbl4@x.test>").substr(0, 9), "452 4.5.3");

    std::string last;
    for (int i = 0; i < 25; ++i) {
        last = client.command("BOGUS");
        if (last.find("421") != std::string::npos) {
            break;
        }
    }
    EXPECT_NE(last.find("421 4.7.0"), std::string::npos) << last;
    EXPECT_TRUE(client.is_closed_by_peer());
}

TEST_F(ListenerTest, NeverEndsDataAtABareLineFeedDot)
{
    start();
    Client client(port());
    open_transaction(client);
    client.command("DATA");
    // A smuggling attempt: "\n.\n" is not the end, the next MAIL is text.
    std::string body = "a\n.\nMAIL FROM:<x@evil.test>\r\nRCPT TO:<v@evil.test>\r\n";
    EXPECT_EQ(client.command(body + ".").substr(0, 9), "250 2.0.0");
    ASSERT_EQ(deliveries().size(), 1u);
    EXPECT_EQ(deliveries()[0].data, body);
}

TEST_F(ListenerTest, StopsPromptlyWithSessionsOpen)
{
    start();
    Client idle(port());
    Client mid_data(port());
    ASSERT_EQ(idle.code(), 220);
    open_transaction(mid_data);
    mid_data.command("DATA");
    mid_data.send("part of a message\r\n");
    auto began = std::chrono::steady_clock::now();
    listener_->stop();
    EXPECT_LT(std::chrono::steady_clock::now() - began, 2s);
    EXPECT_TRUE(idle.is_closed_by_peer());
    EXPECT_TRUE(deliveries().empty());
}

TEST_F(ListenerTest, StopWaitsForARunningHandlerCall)
{
    start();
    std::atomic<bool> has_returned = false;
    verdict_ = [&](const Delivery&) -> Result<void> {
        std::this_thread::sleep_for(300ms);
        has_returned = true;
        return {};
    };
    Client client(port());
    open_transaction(client);
    client.command("DATA");
    client.send("body\r\n.\r\n");
    for (int i = 0; i < 200 && deliveries().empty(); ++i) {
        std::this_thread::sleep_for(5ms);
    }
    ASSERT_EQ(deliveries().size(), 1u);
    listener_->stop();
    EXPECT_TRUE(has_returned);
    // The handler finished, but the session was gone: no 250 was promised.
    EXPECT_EQ(client.reply(), "");
}

TEST_F(ListenerTest, ServesManySessionsAndGivesEverySlotBack)
{
    start([](Options& o) { o.max_connections = 8; });
    std::vector<std::thread> peers;
    std::atomic<int> accepted = 0;
    for (int round = 0; round < 4; ++round) {
        for (int i = 0; i < 8; ++i) {
            peers.emplace_back([&] {
                // A slot is given back just after the peer sees the close,
                // so a quick next round may meet a 421 once: try again.
                std::unique_ptr<Client> connection;
                for (int attempt = 0; attempt < 50 && !connection; ++attempt) {
                    connection = std::make_unique<Client>(port());
                    if (connection->code() != 220) {
                        connection.reset();
                        std::this_thread::sleep_for(10ms);
                    }
                }
                if (!connection) {
                    return;
                }
                Client& client = *connection;
                client.command("EHLO peer.test");
                client.command("MAIL FROM:<>");
                client.command("RCPT TO:<" + verp() + ">");
                client.command("DATA");
                if (client.command("x\r\n.").starts_with("250")) {
                    ++accepted;
                }
                client.command("QUIT");
                client.is_closed_by_peer();
            });
        }
        for (auto& peer : peers) {
            peer.join();
        }
        peers.clear();
    }
    EXPECT_EQ(accepted.load(), 32);
    EXPECT_EQ(deliveries().size(), 32u);
}

TEST_F(ListenerTest, LogsNoAddressesIdsOrMessageBytes)
{
    ::testing::internal::CaptureStderr();
    start();
    {
        Client client(port());
        open_transaction(client);
        client.command("RCPT TO:<patient@clinic.example>");
        client.command("VRFY patient@clinic.example");
        client.command("DATA");
        client.command("Subject: lab results for patient\r\n\r\nsecret body\r\n.");
        client.command("MAIL FROM:<sender@clinic.example>");
        client.command("QUIT");
        client.is_closed_by_peer();
    }
    listener_->stop();
    std::string log = ::testing::internal::GetCapturedStderr();
    ASSERT_EQ(deliveries().size(), 1u);
    EXPECT_NE(log.find("\"message_received\""), std::string::npos) << log;
    for (std::string secret :
         {verp(),
          kId,
          std::string("patient@"),
          std::string("sender@"),
          std::string("lab results"),
          std::string("secret body"),
          kKey}) {
        EXPECT_EQ(log.find(secret), std::string::npos) << secret << " in " << log;
    }
}

TEST(ListenerConfig, RefusesBadSettings)
{
    auto handler = [](const Delivery&) -> Result<void> { return {}; };
    Options options;
    options.domains = {kDomain};
    options.listen = "127.0.0.1:0";
    EXPECT_EQ(Listener(options, handler).start().error().code, "invalid_config");  // no key
    options.key = kKey;
    options.listen = "not an address:25";
    EXPECT_EQ(Listener(options, handler).start().error().code, "invalid_config");
    options.listen = "127.0.0.1:0";
    Listener listener(options, handler);
    ASSERT_TRUE(listener.start());
    EXPECT_EQ(listener.start().error().code, "already_started");

    Options taken = options;
    taken.listen = "127.0.0.1:" + std::to_string(listener.port());
    Listener second(taken, handler);
    auto started = second.start();
    ASSERT_FALSE(started);
    EXPECT_EQ(started.error().code, "listen_failed");
}

}  // namespace
}  // namespace carepost::inbound
