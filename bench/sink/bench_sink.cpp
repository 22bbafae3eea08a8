// bench_sink: a lean SMTP receiver with STARTTLS for the delivery benchmark.
//
// Owns: one listening socket on loopback, SMTP sessions (RFC 5321) with
//   STARTTLS (RFC 3207), one file per accepted message, a session log.
// Trust boundary: the MTA under test sends it bytes; lines and messages are
//   bounded, and nothing it receives is interpreted beyond the SMTP verbs.
// Why it exists: tests/support/smtp_sink.py spends about 1.3 ms of CPU per
//   message (it reads DATA line by line in asyncio); on a two-core machine
//   that is more than the MTA under test spends, so the benchmark would
//   measure the sink. This one reads DATA in bulk on one thread.
// Compatible with smtp_sink.py where the benchmark needs it: the same
//   options (--port, --dir, --tls-cert, --tls-key, --no-starttls,
//   --max-messages, --max-seconds), DIR/N.eml files with the dot-stuffing
//   removed, renamed into place before the 250, and DIR/sessions.log with
//   the same JSON events (listen, connect, starttls, message, close, exit).
// Logs: only to sessions.log (envelope addresses included: test data).
// Limits: no SIZE enforcement beyond max_message_octets, no AUTH, no BDAT;
//   replies are sent one by one (allowed with PIPELINING).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <signal.h>

namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using asio::ip::tcp;

constexpr std::size_t max_line_octets = 4096;
constexpr std::size_t max_message_octets = 64 * 1024 * 1024;
constexpr auto idle_timeout = std::chrono::seconds(120);

struct Options {
    unsigned short port = 0;
    std::string dir;
    std::string tls_cert;
    std::string tls_key;
    bool no_starttls = false;
    long max_messages = 0;
    double max_seconds = 0;
};

std::string json_string(std::string_view text)
{
    std::string out = "\"";
    for (unsigned char c : text) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20) {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
            out += escaped;
        } else {
            out += static_cast<char>(c);
        }
    }
    return out + "\"";
}

double unix_seconds()
{
    using namespace std::chrono;
    return duration<double>(system_clock::now().time_since_epoch()).count();
}

// State shared by all sessions; touched from the one io thread only.
class Sink {
public:
    Sink(Options options, asio::io_context& io) : options_(std::move(options)), io_(io)
    {
        log_.open(options_.dir + "/sessions.log", std::ios::app);
        if (!options_.tls_cert.empty() && !options_.no_starttls) {
            tls_.emplace(ssl::context::tls_server);
            tls_->use_certificate_chain_file(options_.tls_cert);
            tls_->use_private_key_file(options_.tls_key, ssl::context::pem);
        }
    }

    const Options& options() const { return options_; }
    ssl::context* tls() { return tls_ ? &*tls_ : nullptr; }
    int next_session() { return ++sessions_; }

    // One JSON object per line; `fields` is already JSON (",\"k\":v...").
    void log(std::string_view event, const std::string& fields)
    {
        char time[32];
        std::snprintf(time, sizeof time, "%.6f", unix_seconds());
        log_ << "{\"time\": " << time << ", \"event\": \"" << event << "\"" << fields << "}\n";
        log_.flush();
    }

    // Writes the message and returns its number; the file is whole once visible.
    long store(const std::string& data)
    {
        long number = ++stored_;
        std::string final_path = options_.dir + "/" + std::to_string(number) + ".eml";
        std::string temp_path = options_.dir + "/." + std::to_string(number) + ".tmp";
        {
            std::ofstream out(temp_path, std::ios::binary);
            out.write(data.data(), static_cast<std::streamsize>(data.size()));
        }
        std::rename(temp_path.c_str(), final_path.c_str());
        if (options_.max_messages > 0 && stored_ >= options_.max_messages) {
            // Let the session send its 250 first.
            asio::post(io_, [this] { finish(); });
        }
        return number;
    }

    void finish()
    {
        log("exit", ", \"stored\": " + std::to_string(stored_));
        std::printf("bench_sink: exit after %ld messages\n", stored_);
        std::fflush(stdout);
        io_.stop();
    }

private:
    Options options_;
    asio::io_context& io_;
    std::optional<ssl::context> tls_;
    std::ofstream log_;
    int sessions_ = 0;
    long stored_ = 0;
};

// One connection. Reads go through `buffer_`; after STARTTLS, through TLS.
class Session : public std::enable_shared_from_this<Session> {
public:
    Session(Sink& sink, tcp::socket socket)
        : sink_(sink), socket_(std::move(socket)), timer_(socket_.get_executor()),
          id_(sink.next_session())
    {}

    asio::awaitable<void> run();

private:
    asio::awaitable<std::string> read_line();
    asio::awaitable<std::string> read_data();
    asio::awaitable<void> reply(std::string_view text);
    asio::awaitable<bool> handle(const std::string& line);
    asio::awaitable<void> start_tls();
    void arm_timer();

    template <typename Stream>
    asio::awaitable<std::size_t> read_until(Stream& stream, std::string_view delimiter)
    {
        co_return co_await asio::async_read_until(
            stream,
            asio::dynamic_buffer(buffer_, max_message_octets + 8),
            delimiter,
            asio::use_awaitable);
    }

    Sink& sink_;
    tcp::socket socket_;
    std::optional<ssl::stream<tcp::socket&>> tls_stream_;
    asio::steady_timer timer_;
    std::string buffer_;
    std::string tls_version_;
    std::string mail_from_;
    std::vector<std::string> rcpts_;
    bool has_mail_ = false;
    int id_;
};

void Session::arm_timer()
{
    timer_.expires_after(idle_timeout);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code e) {
        if (!e) {
            boost::system::error_code ignored;
            self->socket_.close(ignored);
        }
    });
}

asio::awaitable<std::string> Session::read_line()
{
    arm_timer();
    std::size_t n = tls_stream_ ? co_await read_until(*tls_stream_, "\r\n")
                                : co_await read_until(socket_, "\r\n");
    if (n > max_line_octets) {
        throw std::runtime_error("line too long");
    }
    std::string line = buffer_.substr(0, n - 2);
    buffer_.erase(0, n);
    co_return line;
}

// RFC 5321 §4.5.2: the message ends at CRLF.CRLF; a leading dot is removed.
asio::awaitable<std::string> Session::read_data()
{
    arm_timer();
    buffer_.insert(0, "\r\n");  // so that an empty message matches too
    std::size_t n = tls_stream_ ? co_await read_until(*tls_stream_, "\r\n.\r\n")
                                : co_await read_until(socket_, "\r\n.\r\n");
    std::string data;
    data.reserve(n);
    std::size_t pos = 2;
    std::size_t end = n - 3;  // keeps the CRLF of the last line
    while (pos < end) {
        if (buffer_[pos] == '.') {
            ++pos;
        }
        std::size_t eol = buffer_.find("\r\n", pos);
        eol = (eol == std::string::npos || eol + 2 > end) ? end : eol + 2;
        data.append(buffer_, pos, eol - pos);
        pos = eol;
    }
    buffer_.erase(0, n);
    co_return data;
}

asio::awaitable<void> Session::reply(std::string_view text)
{
    std::string out(text);
    out += "\r\n";
    if (tls_stream_) {
        co_await asio::async_write(*tls_stream_, asio::buffer(out), asio::use_awaitable);
    } else {
        co_await asio::async_write(socket_, asio::buffer(out), asio::use_awaitable);
    }
}

asio::awaitable<void> Session::start_tls()
{
    if (!sink_.tls() || tls_stream_) {
        co_await reply("502 5.5.1 STARTTLS not available");
        co_return;
    }
    co_await reply("220 2.0.0 Ready to start TLS");
    // RFC 3207 §4.2: anything pipelined before the handshake is discarded.
    buffer_.clear();
    tls_stream_.emplace(socket_, *sink_.tls());
    co_await tls_stream_->async_handshake(ssl::stream_base::server, asio::use_awaitable);
    tls_version_ = SSL_get_version(tls_stream_->native_handle());
    has_mail_ = false;
    rcpts_.clear();
    sink_.log(
        "starttls",
        ", \"session\": " + std::to_string(id_) + ", \"version\": " + json_string(tls_version_));
}

std::string upper(std::string_view text)
{
    std::string out(text);
    for (auto& c : out) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    return out;
}

// The address between < and > of "FROM:<a>" or "TO:<a>"; nullopt if malformed.
std::optional<std::string> angle_address(std::string_view argument, std::string_view keyword)
{
    if (upper(argument.substr(0, keyword.size())) != keyword) {
        return std::nullopt;
    }
    auto open = argument.find('<');
    auto close = argument.find('>', open == std::string_view::npos ? 0 : open);
    if (open == std::string_view::npos || close == std::string_view::npos) {
        return std::nullopt;
    }
    return std::string(argument.substr(open + 1, close - open - 1));
}

// Answers one command; true when the session must end.
asio::awaitable<bool> Session::handle(const std::string& line)
{
    auto space = line.find(' ');
    std::string verb = upper(line.substr(0, space));
    std::string_view argument =
        space == std::string::npos ? std::string_view() : std::string_view(line).substr(space + 1);

    if (verb == "EHLO") {
        has_mail_ = false;
        rcpts_.clear();
        std::string text = "250-localhost\r\n250-PIPELINING\r\n250-SIZE 67108864\r\n"
                           "250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n";
        text += (sink_.tls() && !tls_stream_) ? "250-SMTPUTF8\r\n250 STARTTLS" : "250 SMTPUTF8";
        co_await reply(text);
    } else if (verb == "HELO") {
        co_await reply("250 localhost");
    } else if (verb == "STARTTLS") {
        co_await start_tls();
    } else if (verb == "MAIL") {
        auto from = angle_address(argument, "FROM:");
        if (!from) {
            co_await reply("501 5.5.4 Syntax: MAIL FROM:<address>");
        } else {
            mail_from_ = *from;
            has_mail_ = true;
            rcpts_.clear();
            co_await reply("250 2.1.0 Ok");
        }
    } else if (verb == "RCPT") {
        auto to = angle_address(argument, "TO:");
        if (!has_mail_) {
            co_await reply("503 5.5.1 Need MAIL first");
        } else if (!to || to->empty()) {
            co_await reply("501 5.5.4 Syntax: RCPT TO:<address>");
        } else {
            rcpts_.push_back(*to);
            co_await reply("250 2.1.5 Ok");
        }
    } else if (verb == "DATA") {
        if (!has_mail_ || rcpts_.empty()) {
            co_await reply("503 5.5.1 Need MAIL and RCPT first");
            co_return false;
        }
        co_await reply("354 End data with <CR><LF>.<CR><LF>");
        std::string data = co_await read_data();
        long number = sink_.store(data);
        std::string rcpts;
        for (const auto& r : rcpts_) {
            rcpts += (rcpts.empty() ? "" : ", ") + json_string(r);
        }
        sink_.log(
            "message",
            ", \"session\": " + std::to_string(id_) + ", \"number\": " + std::to_string(number) +
                ", \"mail_from\": " + json_string(mail_from_) + ", \"rcpts\": [" + rcpts +
                "], \"size\": " + std::to_string(data.size()) + ", \"tls\": " +
                (tls_version_.empty() ? std::string("null") : json_string(tls_version_)));
        has_mail_ = false;
        rcpts_.clear();
        co_await reply("250 2.0.0 Ok: stored as " + std::to_string(number));
    } else if (verb == "RSET") {
        has_mail_ = false;
        rcpts_.clear();
        co_await reply("250 2.0.0 Ok");
    } else if (verb == "NOOP") {
        co_await reply("250 2.0.0 Ok");
    } else if (verb == "QUIT") {
        co_await reply("221 2.0.0 Bye");
        co_return true;
    } else {
        co_await reply("502 5.5.2 Command not recognized");
    }
    co_return false;
}

asio::awaitable<void> Session::run()
{
    auto self = shared_from_this();
    std::string reason = "quit";
    boost::system::error_code ignored;
    auto peer = socket_.remote_endpoint(ignored).address().to_string();
    sink_.log(
        "connect", ", \"session\": " + std::to_string(id_) + ", \"peer\": " + json_string(peer));
    try {
        co_await reply("220 localhost ESMTP bench_sink");
        while (!co_await handle(co_await read_line())) {
        }
    } catch (const std::exception& e) {
        reason = "error";
    }
    timer_.cancel();
    sink_.log(
        "close", ", \"session\": " + std::to_string(id_) + ", \"reason\": " + json_string(reason));
    socket_.close(ignored);
}

asio::awaitable<void> listen(Sink& sink, tcp::acceptor& acceptor)
{
    for (;;) {
        auto socket = co_await acceptor.async_accept(asio::use_awaitable);
        socket.set_option(tcp::no_delay(true));
        auto session = std::make_shared<Session>(sink, std::move(socket));
        asio::co_spawn(acceptor.get_executor(), session->run(), asio::detached);
    }
}

Options parse_options(int argc, char** argv)
{
    Options o;
    auto usage = [] {
        std::cerr << "usage: bench_sink --port P --dir DIR [--tls-cert C --tls-key K]"
                     " [--no-starttls] [--max-messages N] [--max-seconds S]\n";
        std::exit(2);
    };
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                usage();
            }
            return argv[++i];
        };
        if (a == "--port") {
            o.port = static_cast<unsigned short>(std::stoi(value()));
        } else if (a == "--dir") {
            o.dir = value();
        } else if (a == "--tls-cert") {
            o.tls_cert = value();
        } else if (a == "--tls-key") {
            o.tls_key = value();
        } else if (a == "--no-starttls") {
            o.no_starttls = true;
        } else if (a == "--max-messages") {
            o.max_messages = std::stol(value());
        } else if (a == "--max-seconds") {
            o.max_seconds = std::stod(value());
        } else {
            usage();
        }
    }
    if (o.port == 0 || o.dir.empty() || o.tls_cert.empty() != o.tls_key.empty()) {
        usage();
    }
    return o;
}

}  // namespace

int main(int argc, char** argv)
{
    Options options = parse_options(argc, argv);
    std::string mkdir = "mkdir -p '" + options.dir + "'";
    if (options.dir.find('\'') != std::string::npos || std::system(mkdir.c_str()) != 0) {
        std::cerr << "bench_sink: cannot create " << options.dir << "\n";
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);

    asio::io_context io(1);
    Sink sink(options, io);
    // Loopback only.
    tcp::acceptor acceptor(io);
    tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), options.port);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(512);
    asio::co_spawn(io, listen(sink, acceptor), asio::detached);

    asio::signal_set signals(io, SIGTERM, SIGINT);
    signals.async_wait([&](boost::system::error_code e, int) {
        if (!e) {
            sink.finish();
        }
    });
    asio::steady_timer deadline(io);
    if (options.max_seconds > 0) {
        deadline.expires_after(
            std::chrono::milliseconds(static_cast<long>(options.max_seconds * 1000)));
        deadline.async_wait([&](boost::system::error_code e) {
            if (!e) {
                sink.finish();
            }
        });
    }
    sink.log(
        "listen",
        ", \"port\": " + std::to_string(options.port) +
            ", \"starttls\": " + (sink.tls() ? "true" : "false"));
    std::printf("bench_sink: listening 127.0.0.1:%u\n", options.port);
    std::fflush(stdout);
    io.run();
    return 0;
}
