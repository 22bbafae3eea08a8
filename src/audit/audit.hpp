// audit: the chained, append-only audit log, and its verification.
//
// Owns: audit records (who did what to which message or recipient, when,
//   with which outcome), each chained to the previous by SHA-256 so that a
//   changed, removed or inserted record breaks the chain.
// Trust boundary: records come from our own components; verification reads
//   the store, which an attacker with disk access may have altered.
// Records never hold subjects, bodies or attachment names. They do hold the
//   recipient address: the audit log is the protected place for it.
// Logs: nothing; verify() returns its findings.
// Limits:
//   LIMIT(#2): the chain proves order and integrity but has no external
//   anchor; someone who rewrites the whole table and every hash after a point
//   is not detected. The fix is periodic signed checkpoints exported off-host.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/error.hpp"
#include "store/store.hpp"

namespace carepost::audit {

struct Entry {
    std::string actor;   // key id, "system" or "admin-cli"
    std::string action;  // e.g. message.accepted, message.delivered, key.created
    std::string org_id;
    std::string message_id;
    std::string recipient;
    std::string outcome;  // e.g. ok, 250 2.0.0, tls_required
};

// Appends inside the caller's write transaction, so the record commits
// with the change it describes.
void append(store::Writer& w, const Entry& entry, std::int64_t time);

struct Verification {
    std::int64_t count = 0;
    std::optional<std::int64_t> first_broken_seq;
    std::string problem;
};

Verification verify(store::Store& store);

// The hash that chains a record: covers every field and the previous hash.
std::string chain_hash(const store::AuditRow& row);

}  // namespace carepost::audit
