// dkim: a parsed RSA private key that signs SHA-256 digests (internal).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/error.hpp"

namespace carepost::dkim {

// Parsed once, then shared read-only by every signing thread. OpenSSL 3
// keys and fetched digests may be used from many threads at once as long as
// each operation has its own EVP_MD_CTX, which sign_sha256() creates.
class RsaKey {
public:
    // Errors: permanent "bad_key" (not a PEM RSA private key, or under 1024 bits).
    static Result<std::shared_ptr<const RsaKey>> from_pem(std::string_view pem);
    ~RsaKey();
    RsaKey(const RsaKey&) = delete;
    RsaKey& operator=(const RsaKey&) = delete;

    // RSASSA-PKCS1-v1_5 over SHA-256(data), base64 without line breaks.
    Result<std::string> sign_sha256_base64(std::string_view data) const;

    // Base64 of the DER SubjectPublicKeyInfo, as DKIM's p= tag wants it.
    std::string public_key_base64() const;

private:
    struct Handles;
    explicit RsaKey(std::unique_ptr<Handles> handles);
    std::unique_ptr<Handles> handles_;
};

// Base64 of SHA-256(data): the bh= value.
std::string sha256_base64(std::string_view data);

// Standard base64 with padding, no line breaks.
std::string encode_base64(const unsigned char* data, std::size_t size);

}  // namespace carepost::dkim
