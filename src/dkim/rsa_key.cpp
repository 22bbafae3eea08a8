#include "dkim/rsa_key.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

namespace carepost::dkim {
namespace {

// Fetched once: an implicit fetch on every signature costs a provider lookup.
const EVP_MD* sha256()
{
    static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return md;
}

}  // namespace

struct RsaKey::Handles {
    EVP_PKEY* pkey = nullptr;
    ~Handles() { EVP_PKEY_free(pkey); }
};

RsaKey::RsaKey(std::unique_ptr<Handles> handles) : handles_(std::move(handles)) {}

RsaKey::~RsaKey() = default;

Result<std::shared_ptr<const RsaKey>> RsaKey::from_pem(std::string_view pem)
{
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(
        BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
    auto handles = std::make_unique<Handles>();
    if (bio) {
        handles->pkey = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
    }
    if (handles->pkey == nullptr || EVP_PKEY_get_base_id(handles->pkey) != EVP_PKEY_RSA) {
        return Error::permanent("bad_key", "not a PEM RSA private key");
    }

    // RFC 8301 §3.2: signers must use at least 1024 bits.
    if (EVP_PKEY_get_bits(handles->pkey) < 1024) {
        return Error::permanent("bad_key", "RSA key shorter than 1024 bits");
    }
    return std::shared_ptr<const RsaKey>(new RsaKey(std::move(handles)));
}

Result<std::string> RsaKey::sign_sha256_base64(std::string_view data) const
{
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, sha256(), nullptr, handles_->pkey) != 1) {
        return Error::internal("sign_failed", "EVP_DigestSignInit failed");
    }

    unsigned char sig[1024];
    std::size_t sig_size = 0;
    if (EVP_DigestSign(
            ctx.get(),
            nullptr,
            &sig_size,
            reinterpret_cast<const unsigned char*>(data.data()),
            data.size()) != 1 ||
        sig_size > sizeof sig) {
        return Error::internal("sign_failed", "signature size unknown or too large");
    }
    if (EVP_DigestSign(
            ctx.get(),
            sig,
            &sig_size,
            reinterpret_cast<const unsigned char*>(data.data()),
            data.size()) != 1) {
        return Error::internal("sign_failed", "EVP_DigestSign failed");
    }
    return encode_base64(sig, sig_size);
}

std::string RsaKey::public_key_base64() const
{
    unsigned char* der = nullptr;
    int size = i2d_PUBKEY(handles_->pkey, &der);
    if (size <= 0) {
        return {};
    }
    std::string out = encode_base64(der, static_cast<std::size_t>(size));
    OPENSSL_free(der);
    return out;
}

std::string sha256_base64(std::string_view data)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_Digest(data.data(), data.size(), digest, &size, sha256(), nullptr);
    return encode_base64(digest, size);
}

std::string encode_base64(const unsigned char* data, std::size_t size)
{
    std::string out(4 * ((size + 2) / 3), '\0');
    int written =
        EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
    out.resize(static_cast<std::size_t>(written));
    return out;
}

}  // namespace carepost::dkim
