// app: what the inbound listener does with a bounce or a complaint.
#pragma once

#include <functional>
#include <string>

#include "inbound/inbound.hpp"
#include "store/store.hpp"

namespace carepost::app {

// Matches each report to the recipient it is about — by the VERP address it
// came to, else by the Message-ID it quotes and the address it names — and
// records it: a hard bounce or a complaint suppresses the address; a soft
// bounce or a block only fails this recipient (C09); a delay is an event.
// Reports that match nothing are accepted and dropped (a forger learns
// nothing), and counted in the log.
class BounceIntake {
public:
    BounceIntake(
        store::Store& store,
        std::vector<std::string> domains,
        std::string key,
        std::function<void()> on_event)
        : store_(store), domains_(std::move(domains)), key_(std::move(key)),
          on_event_(std::move(on_event))
    {}
    Result<void> handle(const inbound::Delivery& delivery);

private:
    store::Store& store_;
    std::vector<std::string> domains_;
    std::string key_;
    std::function<void()> on_event_;
};

}  // namespace carepost::app
