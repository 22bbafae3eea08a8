#include "audit/audit.hpp"

#include "crypto/crypto.hpp"

namespace carepost::audit {
namespace {

// Length-prefixing each field makes the encoding unambiguous: no two
// different records serialise to the same bytes.
void put(std::string& out, std::string_view field)
{
    out += std::to_string(field.size());
    out += ':';
    out += field;
}

}  // namespace

std::string chain_hash(const store::AuditRow& row)
{
    std::string data;
    put(data, std::to_string(row.seq));
    put(data, std::to_string(row.time));
    put(data, row.actor);
    put(data, row.action);
    put(data, row.org_id);
    put(data, row.message_id);
    put(data, row.recipient);
    put(data, row.outcome);
    put(data, row.prev_hash);
    return crypto::sha256_hex(data);
}

void append(store::Writer& w, const Entry& e, std::int64_t time)
{
    auto last = w.last_audit();
    store::AuditRow row;
    row.seq = last.seq + 1;
    row.time = time;
    row.actor = e.actor;
    row.action = e.action;
    row.org_id = e.org_id;
    row.message_id = e.message_id;
    row.recipient = e.recipient;
    row.outcome = e.outcome;
    row.prev_hash = last.hash;
    row.hash = chain_hash(row);
    w.insert_audit(row);
}

Verification verify(store::Store& store)
{
    Verification v;
    std::string prev;
    std::int64_t expected_seq = 1;
    for (std::int64_t after = 0;;) {
        auto rows = store.audit_range(after, 1000);
        if (rows.empty()) {
            break;
        }
        for (const auto& row : rows) {
            std::string problem;
            if (row.seq != expected_seq) {
                problem = "sequence gap";
            } else if (row.prev_hash != prev) {
                problem = "previous hash does not match";
            } else if (row.hash != chain_hash(row)) {
                problem = "record hash does not match its content";
            }
            if (!problem.empty()) {
                v.first_broken_seq = row.seq;
                v.problem = problem;
                return v;
            }
            prev = row.hash;
            ++expected_seq;
            ++v.count;
            after = row.seq;
        }
    }
    return v;
}

}  // namespace carepost::audit
