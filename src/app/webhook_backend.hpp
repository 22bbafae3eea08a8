// app: the store behind the webhook dispatcher.
#pragma once

#include "crypto/key_ring.hpp"
#include "events/events.hpp"
#include "store/store.hpp"

namespace carepost::app {

// Endpoints and events as the dispatcher wants them; secrets are opened
// with the organisation's key only when an endpoint is read.
class WebhookBackend : public events::Backend {
public:
    WebhookBackend(store::Store& store, crypto::KeyRing& keys) : store_(store), keys_(keys) {}
    std::vector<events::Endpoint> enabled_endpoints() override;
    std::vector<events::Event>
    events_after(const std::string& org_id, std::int64_t after_seq, std::size_t limit) override;
    void save_progress(const events::Endpoint& e) override;
    void disable(const events::Endpoint& e, const std::string& reason) override;

private:
    store::Store& store_;
    crypto::KeyRing& keys_;
};

}  // namespace carepost::app
