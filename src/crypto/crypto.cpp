#include "crypto/crypto.hpp"

#include <algorithm>
#include <fstream>
#include <memory>
#include <stdexcept>

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

namespace carepost::crypto {
namespace {

constexpr std::size_t nonce_octets = 12;
constexpr std::size_t tag_octets = 16;

struct CipherCtxFree {
    void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

const unsigned char* u8(std::string_view s)
{
    return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

std::string random_bytes(std::size_t n)
{
    std::string out(n, '\0');
    // A failing CSPRNG leaves nothing safe to do: stop.
    if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
        std::abort();
    }
    return out;
}

Key random_key()
{
    Key k{};
    if (RAND_bytes(k.data(), static_cast<int>(k.size())) != 1) {
        std::abort();
    }
    return k;
}

std::string to_hex(std::string_view bytes)
{
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char c : bytes) {
        out.push_back(digits[c >> 4]);
        out.push_back(digits[c & 15]);
    }
    return out;
}

std::string random_hex(std::size_t octets)
{
    return to_hex(random_bytes(octets));
}

std::string random_token(std::size_t octets)
{
    std::string b64 = base64_encode(random_bytes(octets));
    std::string out;
    for (char c : b64) {
        if (c == '+') {
            out.push_back('-');
        } else if (c == '/') {
            out.push_back('_');
        } else if (c != '=') {
            out.push_back(c);
        }
    }
    return out;
}

std::string sha256(std::string_view data)
{
    std::string out(SHA256_DIGEST_LENGTH, '\0');
    SHA256(u8(data), data.size(), reinterpret_cast<unsigned char*>(out.data()));
    return out;
}

std::string sha256_hex(std::string_view data)
{
    return to_hex(sha256(data));
}

std::string hmac_sha256(std::string_view key, std::string_view data)
{
    std::string out(32, '\0');
    unsigned int len = 32;
    HMAC(
        EVP_sha256(),
        key.data(),
        static_cast<int>(key.size()),
        u8(data),
        data.size(),
        reinterpret_cast<unsigned char*>(out.data()),
        &len);
    return out;
}

bool constant_time_equal(std::string_view a, std::string_view b)
{
    if (a.size() != b.size()) {
        return false;
    }
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string base64_encode(std::string_view bytes)
{
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(
        reinterpret_cast<unsigned char*>(out.data()), u8(bytes), static_cast<int>(bytes.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

Result<std::string> base64_decode(std::string_view text)
{
    std::string clean;
    clean.reserve(text.size());
    for (char c : text) {
        if (c == '\r' || c == '\n' || c == ' ' || c == '\t') {
            continue;
        }
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '+' || c == '/' || c == '=';
        if (!ok) {
            return Error::invalid("invalid_base64", "", "not valid base64");
        }
        clean.push_back(c);
    }
    if (clean.size() % 4 != 0) {
        return Error::invalid("invalid_base64", "", "base64 length is not a multiple of 4");
    }
    // Padding: at most two '=', only at the very end ("====" or "A=B=" are
    // not base64, and would make the length arithmetic below underflow).
    auto first_pad = clean.find('=');
    if (first_pad != std::string::npos &&
        (first_pad + 2 < clean.size() ||
         clean.find_first_not_of('=', first_pad) != std::string::npos)) {
        return Error::invalid("invalid_base64", "", "misplaced base64 padding");
    }
    std::string out(clean.size() / 4 * 3, '\0');
    int n = EVP_DecodeBlock(
        reinterpret_cast<unsigned char*>(out.data()), u8(clean), static_cast<int>(clean.size()));
    if (n < 0) {
        return Error::invalid("invalid_base64", "", "not valid base64");
    }
    // EVP_DecodeBlock counts padding as data: drop one byte per '='.
    std::size_t pad = 0;
    for (auto it = clean.rbegin(); it != clean.rend() && *it == '='; ++it) {
        ++pad;
    }
    out.resize(static_cast<std::size_t>(n) - pad);
    return out;
}

std::string seal(const Key& key, std::string_view plaintext, std::string_view context)
{
    std::string out = random_bytes(nonce_octets);
    out.resize(nonce_octets + plaintext.size() + tag_octets);
    auto* dst = reinterpret_cast<unsigned char*>(out.data());

    CipherCtx ctx(EVP_CIPHER_CTX_new());
    int len = 0;
    bool ok =
        ctx && EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), dst) == 1;
    ok = ok && EVP_EncryptUpdate(ctx.get(), nullptr, &len, u8(context), int(context.size())) == 1;
    ok = ok && EVP_EncryptUpdate(
                   ctx.get(), dst + nonce_octets, &len, u8(plaintext), int(plaintext.size())) == 1;
    ok = ok && EVP_EncryptFinal_ex(ctx.get(), dst + nonce_octets + len, &len) == 1;
    ok = ok &&
         EVP_CIPHER_CTX_ctrl(
             ctx.get(), EVP_CTRL_GCM_GET_TAG, tag_octets, dst + nonce_octets + plaintext.size()) ==
             1;
    // Encryption with a valid key cannot fail short of a broken library.
    if (!ok) {
        std::abort();
    }
    return out;
}

Result<std::string> open(const Key& key, std::string_view sealed, std::string_view context)
{
    if (sealed.size() < nonce_octets + tag_octets) {
        return Error::internal("sealed_corrupt", "sealed blob too short");
    }
    std::size_t n = sealed.size() - nonce_octets - tag_octets;
    std::string out(n, '\0');
    auto* src = u8(sealed);

    CipherCtx ctx(EVP_CIPHER_CTX_new());
    int len = 0;
    bool ok =
        ctx && EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), src) == 1;
    ok = ok && EVP_DecryptUpdate(ctx.get(), nullptr, &len, u8(context), int(context.size())) == 1;
    ok = ok && EVP_DecryptUpdate(
                   ctx.get(),
                   reinterpret_cast<unsigned char*>(out.data()),
                   &len,
                   src + nonce_octets,
                   int(n)) == 1;
    ok = ok && EVP_CIPHER_CTX_ctrl(
                   ctx.get(),
                   EVP_CTRL_GCM_SET_TAG,
                   tag_octets,
                   const_cast<unsigned char*>(src + nonce_octets + n)) == 1;
    ok = ok && EVP_DecryptFinal_ex(
                   ctx.get(), reinterpret_cast<unsigned char*>(out.data()) + len, &len) == 1;
    if (!ok) {
        return Error::internal("sealed_corrupt", "authentication of sealed data failed");
    }
    return out;
}

std::string wrap_key(const Key& kek, const Key& key, std::string_view context)
{
    return seal(
        kek, std::string_view(reinterpret_cast<const char*>(key.data()), key.size()), context);
}

Result<Key> unwrap_key(const Key& kek, std::string_view wrapped, std::string_view context)
{
    auto plain = open(kek, wrapped, context);
    if (!plain) {
        return plain.error();
    }
    if (plain->size() != key_octets) {
        return Error::internal("sealed_corrupt", "wrapped key has the wrong size");
    }
    Key k{};
    std::copy(plain->begin(), plain->end(), k.begin());
    OPENSSL_cleanse(plain->data(), plain->size());
    return k;
}

Result<Key> load_or_create_master_key(const std::filesystem::path& path)
{
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::exists(path, ec)) {
        // A folder made for the key is the owner's alone.
        if (path.has_parent_path() && fs::create_directories(path.parent_path(), ec)) {
            fs::permissions(
                path.parent_path(), fs::perms::owner_all, fs::perm_options::replace, ec);
        }
        int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
        if (fd < 0) {
            return Error::internal("master_key_create", "cannot create the master key file");
        }
        std::string hex = to_hex(random_bytes(key_octets)) + "\n";
        bool ok = ::write(fd, hex.data(), hex.size()) == static_cast<ssize_t>(hex.size());
        ok = ::fsync(fd) == 0 && ok;
        ::close(fd);
        if (!ok) {
            return Error::internal("master_key_create", "cannot write the master key file");
        }
    }

    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        return Error::internal("master_key_read", "cannot stat the master key file");
    }
    // A key others can read is no longer a secret: refuse rather than run on.
    if ((st.st_mode & 077) != 0) {
        return Error::internal("master_key_mode", "master key file must be mode 0600");
    }
    std::ifstream in(path);
    std::string hex;
    in >> hex;
    bool is_hex = std::all_of(hex.begin(), hex.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    });
    if (hex.size() != key_octets * 2 || !is_hex) {
        return Error::internal("master_key_read", "master key file must hold 64 hex digits");
    }
    Key k{};
    for (std::size_t i = 0; i < key_octets; ++i) {
        k[i] = static_cast<std::uint8_t>(std::stoi(hex.substr(i * 2, 2), nullptr, 16));
    }
    return k;
}

}  // namespace carepost::crypto
