// events: one keep-alive HTTP client per endpoint, with the SSRF checks.
#pragma once

#include <atomic>
#include <string>
#include <string_view>
#include <vector>

#include <curl/curl.h>

#include "events/events.hpp"

namespace carepost::events {

// What became of one POST (after any redirects).
struct PostOutcome {
    bool is_delivered = false;
    long status = 0;     // last HTTP status, 0 when none arrived
    int curl_code = 0;   // CURLcode of the last transfer
    std::string reason;  // "", "http_status", "network", "address_refused",
                         // "url_refused", "redirect_refused", "too_many_redirects", "stopped"
};

// Sends POSTs to one endpoint over a reused connection. Each socket curl
// opens, for the first request or after a redirect, is refused when its
// address is not public unicast and the request's host is not allowed.
// Not thread-safe: one user at a time. Aborts when `stopping` turns true.
class Poster {
public:
    Poster(const Options& options, const std::atomic<bool>& stopping);
    ~Poster();
    Poster(const Poster&) = delete;
    Poster& operator=(const Poster&) = delete;

    // POSTs `body` as application/json with the extra header lines
    // ("Name: value"); follows at most Options::max_redirects redirects,
    // each to a URL that passes the same shape rules as the endpoint.
    PostOutcome
    post(const std::string& url, const std::vector<std::string>& headers, std::string_view body);

private:
    PostOutcome post_once(
        const std::string& url, const std::vector<std::string>& headers, std::string_view body);
    static int on_progress(void* self, curl_off_t, curl_off_t, curl_off_t, curl_off_t);
    static curl_socket_t on_open_socket(void* self, curlsocktype purpose, curl_sockaddr* address);

    const Options& options_;
    const std::atomic<bool>& stopping_;
    CURL* curl_ = nullptr;
    bool is_host_allowed_ = false;  // for the request in progress
    bool was_address_refused_ = false;
};

}  // namespace carepost::events
