// crypto: at-rest sealing, the key hierarchy, hashing and secrets.
//
// Owns: AES-256-GCM sealing of message bodies and stored keys; the key
//   hierarchy master key -> organisation key -> per-message data key;
//   SHA-256, HMAC-SHA256, random tokens, constant-time comparison, base64.
// Trust boundary: callers are other components; sealed blobs come from our
//   own store, but are still authenticated (GCM tag) before use.
// Follows: NIST SP 800-38D (GCM, 96-bit random nonces).
// Logs: nothing.
// Limits:
//   LIMIT(#2): the master key lives in a file (0600) or the environment, not
//   in an HSM or KMS; enough for a single-node default; the fix is a key
//   provider interface with a KMS back end.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/error.hpp"

namespace carepost::crypto {

inline constexpr std::size_t key_octets = 32;
using Key = std::array<std::uint8_t, key_octets>;

std::string random_bytes(std::size_t n);
Key random_key();
// A random identifier of `octets` random bytes, as lower-case hex.
std::string random_hex(std::size_t octets);
// A random token of `octets` random bytes in URL-safe base64 without padding.
std::string random_token(std::size_t octets);

std::string to_hex(std::string_view bytes);
std::string sha256(std::string_view data);  // raw 32 bytes
std::string sha256_hex(std::string_view data);
std::string hmac_sha256(std::string_view key, std::string_view data);  // raw 32 bytes
bool constant_time_equal(std::string_view a, std::string_view b);

std::string base64_encode(std::string_view bytes);
Result<std::string> base64_decode(std::string_view text);

// Seals plaintext with AES-256-GCM: nonce (12) | ciphertext | tag (16).
// `context` is bound as associated data: a blob sealed for one message id
// cannot be opened as another's.
std::string seal(const Key& key, std::string_view plaintext, std::string_view context);
Result<std::string> open(const Key& key, std::string_view sealed, std::string_view context);

// Wraps a key under another key (a seal of its 32 bytes).
std::string wrap_key(const Key& kek, const Key& key, std::string_view context);
Result<Key> unwrap_key(const Key& kek, std::string_view wrapped, std::string_view context);

// Reads the master key from `path`; creates it (0600, 32 random bytes as
// hex) when missing. Refuses a file readable by group or others.
Result<Key> load_or_create_master_key(const std::filesystem::path& path);

}  // namespace carepost::crypto
