#include <memory>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "dkim/dkim.hpp"
#include "dkim/rsa_key.hpp"

namespace carepost::dkim {

Result<KeyPair> generate_rsa_key(int bits)
{
    // RFC 8301 §3.2: below 1024 bits verifiers must fail the signature.
    if (bits < 1024 || bits > 8192) {
        return Error::permanent("bad_key_size", "RSA key size must be 1024..8192 bits");
    }
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(
        EVP_RSA_gen(static_cast<unsigned>(bits)), &EVP_PKEY_free);
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
    if (!pkey || !bio ||
        PEM_write_bio_PrivateKey(bio.get(), pkey.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
            1) {
        return Error::internal("keygen_failed", "RSA key generation failed");
    }

    char* data = nullptr;
    long size = BIO_get_mem_data(bio.get(), &data);
    KeyPair pair;
    pair.private_pem.assign(data, static_cast<std::size_t>(size));

    auto key = RsaKey::from_pem(pair.private_pem);
    if (!key) {
        return key.error();
    }
    pair.public_record = "v=DKIM1; k=rsa; p=" + (*key)->public_key_base64();
    return pair;
}

}  // namespace carepost::dkim
