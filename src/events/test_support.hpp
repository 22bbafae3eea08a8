// events tests: a loopback webhook receiver process and an in-memory backend.
#pragma once

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "events/events.hpp"

namespace carepost::events::testing {

// Polls `condition` every 20 ms until it holds or `limit` passes.
inline bool wait_until(std::function<bool()> condition, std::chrono::milliseconds limit)
{
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (condition()) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return condition();
}

// testdata/receiver.py in a child process; killed when this goes away.
class Receiver {
public:
    explicit Receiver(std::vector<std::string> extra_args)
    {
        static int counter = 0;
        log_path_ = std::filesystem::temp_directory_path() /
                    ("events-receiver-" + std::to_string(getpid()) + "-" +
                     std::to_string(++counter) + ".jsonl");
        std::filesystem::remove(log_path_);

        std::vector<std::string> args{
            "/usr/bin/python3",
            std::string(CAREPOST_SOURCE_DIR) + "/src/events/testdata/receiver.py",
            "--log",
            log_path_.string(),
            "--deadline",
            "90"};
        args.insert(args.end(), extra_args.begin(), extra_args.end());

        // argv is built before fork: the child of a threaded process may
        // not allocate.
        std::vector<char*> argv;
        for (auto& a : args) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        int out[2];
        if (pipe(out) != 0) {
            return;
        }
        pid_ = fork();
        if (pid_ == 0) {
            dup2(out[1], STDOUT_FILENO);
            close(out[0]);
            close(out[1]);
            execv(argv[0], argv.data());
            _exit(127);
        }
        close(out[1]);
        std::string line;
        char c = 0;
        while (read(out[0], &c, 1) == 1 && c != '\n') {
            line += c;
        }
        close(out[0]);
        port_ = line.empty() ? 0 : std::stoi(line);
    }
    ~Receiver()
    {
        if (pid_ > 0) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
        std::filesystem::remove(log_path_);
    }
    Receiver(const Receiver&) = delete;
    Receiver& operator=(const Receiver&) = delete;

    int port() const { return port_; }
    std::string url(const std::string& host = "127.0.0.1") const
    {
        return "http://" + host + ":" + std::to_string(port_) + "/hook";
    }

    // One JSON object per request received so far.
    std::vector<boost::json::object> requests() const
    {
        std::vector<boost::json::object> out;
        std::ifstream in(log_path_);
        std::string line;
        while (std::getline(in, line)) {
            if (!line.empty()) {
                out.push_back(boost::json::parse(line).as_object());
            }
        }
        return out;
    }

private:
    pid_t pid_ = -1;
    int port_ = 0;
    std::filesystem::path log_path_;
};

// The store, as the dispatcher sees it, in memory.
class MemoryBackend : public Backend {
public:
    void add_endpoint(Endpoint endpoint)
    {
        std::lock_guard lock(mutex_);
        endpoints_[endpoint.id] = std::move(endpoint);
    }
    void append(Event event)
    {
        std::lock_guard lock(mutex_);
        event.seq = static_cast<std::int64_t>(events_[event.org_id].size()) + 1;
        events_[event.org_id].push_back(std::move(event));
    }
    // What an administrator disabling the endpoint through the API does.
    void disable_now(const std::string& id)
    {
        std::lock_guard lock(mutex_);
        disabled_[id] = "disabled by an administrator";
    }
    Endpoint endpoint(const std::string& id)
    {
        std::lock_guard lock(mutex_);
        return endpoints_.at(id);
    }
    std::vector<std::int64_t> saved_cursors(const std::string& id)
    {
        std::lock_guard lock(mutex_);
        return saved_cursors_[id];
    }
    std::string disabled_reason(const std::string& id)
    {
        std::lock_guard lock(mutex_);
        return disabled_.contains(id) ? disabled_.at(id) : std::string();
    }

    std::vector<Endpoint> enabled_endpoints() override
    {
        std::lock_guard lock(mutex_);
        std::vector<Endpoint> out;
        for (const auto& [id, endpoint] : endpoints_) {
            if (!disabled_.contains(id)) {
                out.push_back(endpoint);
            }
        }
        return out;
    }
    std::vector<Event>
    events_after(const std::string& org_id, std::int64_t after_seq, std::size_t limit) override
    {
        std::lock_guard lock(mutex_);
        std::vector<Event> out;
        for (const Event& event : events_[org_id]) {
            if (event.seq > after_seq && out.size() < limit) {
                out.push_back(event);
            }
        }
        return out;
    }
    void save_progress(const Endpoint& e) override
    {
        std::lock_guard lock(mutex_);
        Endpoint& kept = endpoints_.at(e.id);
        kept.cursor_seq = e.cursor_seq;
        kept.attempts = e.attempts;
        kept.failing_since = e.failing_since;
        kept.next_attempt_at = e.next_attempt_at;
        saved_cursors_[e.id].push_back(e.cursor_seq);
    }
    void disable(const Endpoint& e, const std::string& reason) override
    {
        std::lock_guard lock(mutex_);
        disabled_[e.id] = reason;
    }

private:
    std::mutex mutex_;
    std::map<std::string, Endpoint> endpoints_;
    std::map<std::string, std::vector<Event>> events_;
    std::map<std::string, std::vector<std::int64_t>> saved_cursors_;
    std::map<std::string, std::string> disabled_;
};

inline Event make_event(const std::string& org_id, const std::string& type, int n)
{
    Event e;
    e.id = "evt_" + type + "_" + std::to_string(n);
    e.org_id = org_id;
    e.type = type;
    e.time = 1700000000 + n;
    e.message_id = "msg_" + std::to_string(n / 3);
    e.recipient_id = "rcp_" + std::to_string(n);
    e.email = "patient" + std::to_string(n) + "@clinic.test";
    e.reply_code = type == "bounced" ? 550 : 250;
    e.enhanced_status = type == "bounced" ? "5.1.1" : "2.0.0";
    e.reason = "reason \"" + std::to_string(n) + "\"";
    e.bounce_class = type == "bounced" ? "hard" : "";
    return e;
}

}  // namespace carepost::events::testing
