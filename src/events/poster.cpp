// One keep-alive libcurl easy handle per endpoint.
#include "events/poster.hpp"

#include <memory>

#include <sys/socket.h>

#include "events/address_rules.hpp"

namespace carepost::events {
namespace {

constexpr std::size_t max_response_octets = 64 * 1024;

// Receivers' answers are not read; a huge one is cut off, not buffered.
std::size_t discard_response(char*, std::size_t size, std::size_t count, void* seen)
{
    auto* total = static_cast<std::size_t*>(seen);
    *total += size * count;
    return *total > max_response_octets ? 0 : size * count;
}

struct HeaderListDeleter {
    void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

bool is_redirect(long status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

}  // namespace

Poster::Poster(const Options& options, const std::atomic<bool>& stopping)
    : options_(options), stopping_(stopping), curl_(curl_easy_init())
{
    if (curl_ == nullptr) {
        return;
    }
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl_, CURLOPT_PROTOCOLS_STR, "http,https");

    // Redirects are followed by hand, so that each target URL passes the
    // endpoint rules; and no proxy from the environment may stand between
    // the address check and the receiver.
    curl_easy_setopt(curl_, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl_, CURLOPT_PROXY, "");
    curl_easy_setopt(curl_, CURLOPT_OPENSOCKETFUNCTION, &Poster::on_open_socket);
    curl_easy_setopt(curl_, CURLOPT_OPENSOCKETDATA, this);

    curl_easy_setopt(curl_, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl_, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!options_.ca_file.empty()) {
        // CAINFO replaces the bundle; the system CA path stays in use.
        curl_easy_setopt(curl_, CURLOPT_CAINFO, options_.ca_file.c_str());
    }

    curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, long(options_.request_timeout_ms));
    curl_easy_setopt(curl_, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(curl_, CURLOPT_USERAGENT, "carepost-webhooks/1");
    curl_easy_setopt(curl_, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl_, CURLOPT_XFERINFOFUNCTION, &Poster::on_progress);
    curl_easy_setopt(curl_, CURLOPT_XFERINFODATA, this);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, &discard_response);
}

Poster::~Poster()
{
    if (curl_ != nullptr) {
        curl_easy_cleanup(curl_);
    }
}

int Poster::on_progress(void* self, curl_off_t, curl_off_t, curl_off_t, curl_off_t)
{
    return static_cast<Poster*>(self)->stopping_.load() ? 1 : 0;
}

curl_socket_t Poster::on_open_socket(void* self, curlsocktype purpose, curl_sockaddr* address)
{
    // The SSRF check sits here, not at registration only: DNS answers change
    // and redirects lead elsewhere, but every connection passes this point
    // with the address it is about to reach.
    auto* poster = static_cast<Poster*>(self);
    if (purpose != CURLSOCKTYPE_IPCXN ||
        (!poster->is_host_allowed_ && is_refused_address(&address->addr, address->addrlen))) {
        poster->was_address_refused_ = true;
        return CURL_SOCKET_BAD;
    }
    return socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

PostOutcome
Poster::post(const std::string& url, const std::vector<std::string>& headers, std::string_view body)
{
    if (curl_ == nullptr) {
        return {false, 0, int(CURLE_FAILED_INIT), "network"};
    }
    if (auto parts = check_url_shape(url, options_); !parts) {
        return {false, 0, 0, "url_refused"};
    }

    std::string target = url;
    for (std::size_t redirects = 0;; ++redirects) {
        PostOutcome outcome = post_once(target, headers, body);
        if (outcome.is_delivered || !is_redirect(outcome.status)) {
            return outcome;
        }

        char* location = nullptr;
        curl_easy_getinfo(curl_, CURLINFO_REDIRECT_URL, &location);
        if (location == nullptr) {
            return outcome;
        }
        if (redirects >= options_.max_redirects) {
            outcome.reason = "too_many_redirects";
            return outcome;
        }
        // A redirect must meet the endpoint's own rules (https, or an
        // allowed host); its address is checked when its socket opens.
        std::string next(location);
        if (auto parts = check_url_shape(next, options_); !parts) {
            outcome.reason = "redirect_refused";
            return outcome;
        }
        target = std::move(next);
    }
}

PostOutcome Poster::post_once(
    const std::string& url, const std::vector<std::string>& headers, std::string_view body)
{
    auto parts = check_url_shape(url, options_);
    is_host_allowed_ = parts && is_allowed_host(parts->host, options_);
    was_address_refused_ = false;

    // "Expect:" turns off the 100-continue round trip for larger bodies.
    std::unique_ptr<curl_slist, HeaderListDeleter> list(
        curl_slist_append(nullptr, "Content-Type: application/json"));
    list.reset(curl_slist_append(list.release(), "Expect:"));
    for (const std::string& line : headers) {
        list.reset(curl_slist_append(list.release(), line.c_str()));
    }

    std::size_t response_octets = 0;
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, list.get());
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.size()));
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &response_octets);
    CURLcode code = curl_easy_perform(curl_);
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, nullptr);

    PostOutcome outcome;
    outcome.curl_code = int(code);
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &outcome.status);
    if (stopping_.load()) {
        outcome.reason = "stopped";
    } else if (code == CURLE_OK || code == CURLE_WRITE_ERROR) {
        // A cut-off oversized answer still carried its status line.
        outcome.is_delivered = outcome.status >= 200 && outcome.status < 300;
        outcome.reason = outcome.is_delivered ? "" : "http_status";
    } else {
        outcome.reason = was_address_refused_ ? "address_refused" : "network";
    }
    return outcome;
}

}  // namespace carepost::events
