#include "tests/unit/test_keys.hpp"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <boost/test/unit_test.hpp>
#include <cstddef>

namespace pp::test {
namespace {

using Bio = std::unique_ptr<BIO, decltype(&BIO_free)>;
using Certificate = std::unique_ptr<X509, decltype(&X509_free)>;

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(len));
}

Certificate self_signed(EVP_PKEY* k) {
  Certificate cert(X509_new(), &X509_free);
  BOOST_REQUIRE(cert);
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_set_pubkey(cert.get(), k);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("test"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  // Ed25519 signs without a separate digest.
  const EVP_MD* md = EVP_PKEY_get_base_id(k) == EVP_PKEY_ED25519 ? nullptr : EVP_sha256();
  BOOST_REQUIRE(X509_sign(cert.get(), k, md) > 0);
  return cert;
}

}  // namespace

Pkey keygen(const std::string& what) {
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

std::string public_pem(EVP_PKEY* k) {
  Bio bio(BIO_new(BIO_s_mem()), &BIO_free);
  BOOST_REQUIRE(PEM_write_bio_PUBKEY(bio.get(), k) == 1);
  return bio_text(bio.get());
}

std::string private_pem(EVP_PKEY* k) {
  Bio bio(BIO_new(BIO_s_mem()), &BIO_free);
  BOOST_REQUIRE(PEM_write_bio_PrivateKey(bio.get(), k, nullptr, nullptr, 0, nullptr, nullptr) == 1);
  return bio_text(bio.get());
}

// PKCS#1 / SEC 1 ("RSA PRIVATE KEY", "EC PRIVATE KEY"): what older tools write.
std::string traditional_pem(EVP_PKEY* k) {
  Bio bio(BIO_new(BIO_s_mem()), &BIO_free);
  BOOST_REQUIRE(PEM_write_bio_PrivateKey_traditional(bio.get(), k, nullptr, nullptr, 0, nullptr,
                                                     nullptr) == 1);
  return bio_text(bio.get());
}

std::string encrypted_pem(EVP_PKEY* k) {
  Bio bio(BIO_new(BIO_s_mem()), &BIO_free);
  BOOST_REQUIRE(PEM_write_bio_PKCS8PrivateKey(bio.get(), k, EVP_aes_256_cbc(), "pw", 2, nullptr,
                                              nullptr) == 1);
  return bio_text(bio.get());
}

std::string certificate_pem(EVP_PKEY* k) {
  const Certificate cert = self_signed(k);
  Bio bio(BIO_new(BIO_s_mem()), &BIO_free);
  BOOST_REQUIRE(PEM_write_bio_X509(bio.get(), cert.get()) == 1);
  return bio_text(bio.get());
}

std::string certificate_der(EVP_PKEY* k) {
  const Certificate cert = self_signed(k);
  unsigned char* der = nullptr;
  const int len = i2d_X509(cert.get(), &der);
  BOOST_REQUIRE(len > 0);
  std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len));
  OPENSSL_free(der);
  return out;
}

std::string sign(EVP_PKEY* k, const EVP_MD* md, std::string_view message, bool pss) {
  auto sig = signature_of(k, md, message, pss);
  BOOST_REQUIRE(sig.has_value());
  return std::move(*sig);
}

trust::PublicKey load_public(EVP_PKEY* k) {
  auto key = trust::PublicKey::from_pem(public_pem(k));
  BOOST_REQUIRE_MESSAGE(key.ok(), (key.ok() ? "" : key.error().message));
  return std::move(key).value();
}

std::string Signer::sign(std::string_view message) const {
  return test::sign(pkey.get(), md, message);
}

Signer make_signer(const std::string& what) {
  Pkey pkey = keygen(what);
  trust::PublicKey key = load_public(pkey.get());
  return Signer{std::move(pkey), std::move(key), what == "ED25519" ? nullptr : EVP_sha256()};
}

std::string sha256_raw(std::string_view bytes) {
  std::string out(32, '\0');
  unsigned int len = 0;
  BOOST_REQUIRE(EVP_Digest(bytes.data(), bytes.size(), reinterpret_cast<unsigned char*>(out.data()),
                           &len, EVP_sha256(), nullptr) == 1);
  BOOST_REQUIRE(len == 32u);
  return out;
}

}  // namespace pp::test
