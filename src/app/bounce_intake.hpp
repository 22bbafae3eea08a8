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
    // `feedback_peers`: addresses allowed to deliver complaints to the
    // plain feedback address (an ISP's feedback loop); anyone else can
    // reach only VERP addresses, whose tags they cannot make.
    BounceIntake(
        store::Store& store,
        std::vector<std::string> domains,
        std::string key,
        std::vector<std::string> feedback_peers,
        std::function<void()> on_event)
        : store_(store), domains_(std::move(domains)), key_(std::move(key)),
          feedback_peers_(std::move(feedback_peers)), on_event_(std::move(on_event))
    {}
    Result<void> handle(const inbound::Delivery& delivery);

private:
    store::Store& store_;
    std::vector<std::string> domains_;
    std::string key_;
    std::vector<std::string> feedback_peers_;
    std::function<void()> on_event_;
};

}  // namespace carepost::app
