// dkim: DKIM signing (RFC 6376), RSA-SHA256, c=relaxed/relaxed.
//
// Owns: key generation for a sending domain, the relaxed canonicalisations
// and the DKIM-Signature header that delivery puts in front of a message.
// Trust boundary: messages come from our own composer or from authenticated
// submitters (already accepted and stored); private keys come from the
// crypto/key store. Nothing here reads the network.
// RFCs: 6376 (DKIM; §3.4.2 and §3.4.4 relaxed canonicalisation, §5.4.2
// multiple header instances, bottom-up), 8301 (RSA at least 1024 bits,
// SHA-256 only).
// Logs: nothing; errors are returned as values and carry no header values.
// Limits:
//   LIMIT(#2): only rsa-sha256 and relaxed/relaxed are produced; Ed25519 as a
//              second signature (DESIGN.md) is not built yet; add an Ed25519
//              Signer beside this one.
//   LIMIT(#2): no verifier yet (tests use python3-dkim as the oracle); add
//              one for inbound mail.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/error.hpp"

namespace carepost::dkim {

class RsaKey;

// private_pem: PKCS#8 PEM. public_record: the TXT record to publish at
// `selector._domainkey.domain`, "v=DKIM1; k=rsa; p=BASE64".
struct KeyPair {
    std::string private_pem;
    std::string public_record;
};

// Generates a new RSA key (2048 bits by default; 1024 is the floor of RFC 8301).
Result<KeyPair> generate_rsa_key(int bits = 2048);

// Signs messages for one domain and selector. Immutable after create();
// sign() is thread-safe and may run on many threads at once (the parsed key
// is shared read-only; each call has its own digest context).
class Signer {
public:
    static Result<Signer>
    create(std::string domain, std::string selector, std::string_view private_pem);

    // message: a full RFC 5322 message with CRLF line endings. Returns the
    // folded header "DKIM-Signature: ...\r\n" to put in front of the message.
    // Errors: permanent "no_from" when the message has no From header.
    Result<std::string> sign(std::string_view message, std::int64_t unix_time) const;

    const std::string& domain() const { return domain_; }
    const std::string& selector() const { return selector_; }

private:
    Signer(std::string domain, std::string selector, std::shared_ptr<const RsaKey> key);

    std::string domain_;
    std::string selector_;
    std::shared_ptr<const RsaKey> key_;
};

// RFC 6376 §3.4.4: WSP runs become one SP, WSP at line ends goes, empty
// lines at the end go, and a non-empty body ends in exactly one CRLF.
std::string canonicalize_body_relaxed(std::string_view body);

// RFC 6376 §3.4.2: returns "name:value\r\n" with the name in lower case, the
// value unfolded, WSP runs made one SP and WSP at both ends of the value
// removed. value: the raw text after the colon (may hold folding CRLFs).
std::string canonicalize_header_relaxed(std::string_view name, std::string_view value);

}  // namespace carepost::dkim
