#pragma once
// Keys for the trust unit tests, made with OpenSSL when a test runs, so that no key material is
// checked in; and their PEM forms, as `openssl genpkey` and `openssl pkey -pubout` write them.
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <boost/test/unit_test.hpp>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>

#include "nodes/trust/public_key.hpp"

namespace pp::test {

using Pkey = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

inline Pkey keygen(const std::string& what) {
  EVP_PKEY* k = nullptr;
  if (what == "P-256" || what == "P-384" || what == "secp256k1") {
    k = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", what.c_str());
  } else if (what == "RSA2048") {
    k = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{2048});
  } else if (what == "RSA1024") {
    k = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{1024});
  } else if (what == "ED25519") {
    k = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  }
  BOOST_REQUIRE_MESSAGE(k != nullptr, "keygen " << what);
  return Pkey(k, &EVP_PKEY_free);
}

inline std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(len));
}

using Bio = std::unique_ptr<BIO, decltype(&BIO_free)>;

inline std::string public_pem(EVP_PKEY* k) {
  Bio bio(BIO_new(BIO_s_mem()), &BIO_free);
  BOOST_REQUIRE(PEM_write_bio_PUBKEY(bio.get(), k) == 1);
  return bio_text(bio.get());
}

inline std::string private_pem(EVP_PKEY* k) {
  Bio bio(BIO_new(BIO_s_mem()), &BIO_free);
  BOOST_REQUIRE(PEM_write_bio_PrivateKey(bio.get(), k, nullptr, nullptr, 0, nullptr, nullptr) == 1);
  return bio_text(bio.get());
}

inline trust::PublicKey load_public(EVP_PKEY* k) {
  auto key = trust::PublicKey::from_pem(public_pem(k));
  BOOST_REQUIRE_MESSAGE(key.ok(), (key.ok() ? "" : key.error().message));
  return std::move(key).value();
}

}  // namespace pp::test
