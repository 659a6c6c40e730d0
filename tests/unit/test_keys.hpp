#pragma once
// Keys and signatures for the trust tests, made by OpenSSL at run time so that no key material is
// checked in. Failures are Boost.Test requirements of the calling test.

#include <openssl/evp.h>

#include <memory>
#include <string>
#include <string_view>

#include "nodes/trust/public_key.hpp"
#include "tests/unit/openssl_write.hpp"

namespace pp::test {

using Pkey = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

// "P-256", "P-384", "secp256k1", "RSA2048", "RSA1024" or "ED25519".
Pkey keygen(const std::string& what);

std::string public_pem(EVP_PKEY* k);
std::string private_pem(EVP_PKEY* k);
// PKCS#1 / SEC 1 ("RSA PRIVATE KEY", "EC PRIVATE KEY"): what older tools write.
std::string traditional_pem(EVP_PKEY* k);
// PKCS#8, encrypted with the passphrase "pw".
std::string encrypted_pem(EVP_PKEY* k);
// A self-signed certificate for `k`, as PEM and as the DER a Sigstore bundle carries.
std::string certificate_pem(EVP_PKEY* k);
std::string certificate_der(EVP_PKEY* k);

// `md` nullptr for Ed25519; `pss` for an RSA-PSS signature.
std::string sign(EVP_PKEY* k, const EVP_MD* md, std::string_view message, bool pss = false);
trust::PublicKey load_public(EVP_PKEY* k);

// A key pair and the hash cosign signs with for it (SHA-256; none for Ed25519).
struct Signer {
  Pkey pkey;
  trust::PublicKey key;
  const EVP_MD* md;
  std::string sign(std::string_view message) const;
};
// `what` as for keygen().
Signer make_signer(const std::string& what);

// The 32 raw bytes.
std::string sha256_raw(std::string_view bytes);

}  // namespace pp::test
