#include "nodes/trust/public_key.hpp"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <system_error>

namespace pp::trust {
namespace {

// A PEM key is a few KiB at most (an RSA 4096 private key: 3.3 KiB); a larger file is not one.
constexpr std::uintmax_t max_key_file_size = 64 * 1024;

Error key_error(std::string message) {
  return Error{errc::proxy_error, std::move(message)};
}

struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

bool verify_with(EVP_PKEY* key, const EVP_MD* md, std::string_view message,
                 std::string_view signature) {
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  if (!ctx) return false;
  // The one-shot EVP_DigestVerify: Ed25519 (md == nullptr) has no streaming form.
  const bool ok =
      EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key) == 1 &&
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size(), reinterpret_cast<const unsigned char*>(message.data()),
                       message.size()) == 1;
  // A bad signature leaves OpenSSL errors queued on this thread; they are not ours to report.
  ERR_clear_error();
  return ok;
}

struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* ctx) const { EVP_PKEY_CTX_free(ctx); }
};

std::string spki_der(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(key, &der);
  if (len <= 0) {
    ERR_clear_error();
    return {};
  }
  std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len));
  OPENSSL_free(der);
  return out;
}

}  // namespace

PublicKey::PublicKey(std::shared_ptr<evp_pkey_st> key, Algorithm kind, int bits)
    : key_(std::move(key)), kind_(kind), bits_(bits), spki_(spki_der(key_.get())) {}

Expected<PublicKey> PublicKey::from_pem(std::string_view pem) {
  if (pem.size() > max_key_file_size) {
    return key_error("not a PEM public key: " + std::to_string(pem.size()) +
                     " bytes, far more than a key");
  }
  if (pem.find("-----BEGIN PUBLIC KEY-----") == std::string_view::npos) {
    return key_error("not a PEM public key (found " + pem_label(pem) +
                     "; expected -----BEGIN PUBLIC KEY-----)");
  }
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  if (!bio) return key_error("out of memory reading a public key");
  EVP_PKEY* raw = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
  ERR_clear_error();
  if (raw == nullptr)
    return key_error("not a PEM public key (the PUBLIC KEY block does not parse)");
  return accept(std::shared_ptr<evp_pkey_st>(raw, &EVP_PKEY_free));
}

Expected<PublicKey> PublicKey::from_certificate(std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      d2i_X509(nullptr, &p, static_cast<long>(der.size())), &X509_free);
  EVP_PKEY* raw = cert ? X509_get_pubkey(cert.get()) : nullptr;
  ERR_clear_error();
  if (raw == nullptr) return key_error("not an X.509 certificate with a public key");
  return accept(std::shared_ptr<evp_pkey_st>(raw, &EVP_PKEY_free));
}

Expected<PublicKey> PublicKey::accept(std::shared_ptr<evp_pkey_st> key) {
  EVP_PKEY* raw = key.get();
  const int bits = EVP_PKEY_get_bits(raw);
  switch (EVP_PKEY_get_base_id(raw)) {
    case EVP_PKEY_EC: {
      char group[64] = {};
      std::size_t len = 0;
      if (EVP_PKEY_get_group_name(raw, group, sizeof group, &len) != 1) {
        ERR_clear_error();
        return key_error("unsupported algorithm: an EC key without a named curve");
      }
      const std::string_view name(group, len);
      if (name == "prime256v1" || name == "P-256")
        return PublicKey(key, Algorithm::ecdsa_p256, bits);
      if (name == "secp384r1" || name == "P-384")
        return PublicKey(key, Algorithm::ecdsa_p384, bits);
      return key_error("unsupported algorithm: ECDSA on curve " + std::string(name) +
                       " (P-256 and P-384 are accepted)");
    }
    case EVP_PKEY_RSA:
      // Below 2048 bits RSA is within reach of a well-funded forger (NIST SP 800-131A).
      if (bits < 2048) {
        return key_error("unsupported algorithm: RSA with " + std::to_string(bits) +
                         " bits (at least 2048 are needed)");
      }
      return PublicKey(key, Algorithm::rsa, bits);
    case EVP_PKEY_ED25519:
      return PublicKey(key, Algorithm::ed25519, bits);
    default:
      return key_error(std::string("unsupported algorithm: ") +
                       (EVP_PKEY_get0_type_name(raw) ? EVP_PKEY_get0_type_name(raw) : "unknown") +
                       " (ECDSA P-256/P-384, RSA >= 2048 bits and Ed25519 are accepted)");
  }
}

Expected<PublicKey> PublicKey::load(const std::string& path) {
  return load_key_file<PublicKey>(path, "public key");
}

std::string pem_label(std::string_view pem) {
  constexpr std::string_view begin = "-----BEGIN ";
  const std::size_t at = pem.find(begin);
  if (at == std::string_view::npos) return "no PEM block";
  const std::size_t from = at + begin.size();
  const std::size_t end = pem.find("-----", from);
  if (end == std::string_view::npos || end - from > 64) return "no PEM block";
  return "a " + std::string(pem.substr(from, end - from)) + " block";
}

Expected<std::string> read_key_file(const std::string& path, std::string_view what) {
  const std::string named = std::string(what) + " " + path;
  std::error_code ec;
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) return key_error(named + " is unreadable: " + ec.message());
  if (size > max_key_file_size) {
    return key_error(named + " is not a PEM " + std::string(what) + ": " + std::to_string(size) +
                     " bytes, far more than a key");
  }
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in && !in.eof()) return key_error(named + " is unreadable");
  return text;
}

std::string PublicKey::id() const {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (spki_.empty() ||
      EVP_Digest(spki_.data(), spki_.size(), md, &md_len, EVP_sha256(), nullptr) != 1) {
    return "unknown";
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < 8; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

std::string PublicKey::algorithm() const {
  switch (kind_) {
    case Algorithm::ecdsa_p256:
      return "ecdsa-p256";
    case Algorithm::ecdsa_p384:
      return "ecdsa-p384";
    case Algorithm::rsa:
      return "rsa-" + std::to_string(bits_);
    case Algorithm::ed25519:
      return "ed25519";
  }
  return "unknown";
}

// The hashes, checked against Sigstore's own code:
// - cosign's key path (sigstore/cosign pkg/signature/keys.go, the cosign v1 layout): LoadPublicKey
//   and VerifierForKeyRef hard-code crypto.SHA256 and hand the key to sigstore's
//   signature.LoadVerifier, which makes a PKCS#1 v1.5 verifier for RSA, an ECDSA verifier with that
//   one hash whatever the curve, and pure Ed25519;
// - the algorithm registry (sigstore/sigstore pkg/signature/algorithm_registry.go): P-256 with
//   SHA-256, P-384 with SHA-384, RSA PKCS#1 v1.5 and PSS with SHA-256, Ed25519 unhashed.
// So:
//   ECDSA P-256: SHA-256 (both agree).
//   ECDSA P-384: SHA-384 (the registry, what newer clients sign with) and also SHA-256 (what
//                `cosign sign --key` has produced for a P-384 key); both hashes are
//                collision-resistant, so accepting either costs no security.
//   RSA:         PKCS#1 v1.5 with SHA-256. PSS is not accepted: cosign's key path does not make
//                it, and each extra scheme is one more to get wrong.
//   Ed25519:     pure Ed25519 over the message itself (no pre-hash, not Ed25519ph).
bool PublicKey::verify(std::string_view message, std::string_view signature) const {
  if (signature.empty() || !key_) return false;
  // Nothing below throws: OpenSSL reports every failure, memory included, as a return code.
  switch (kind_) {
    case Algorithm::ecdsa_p256:
      return verify_with(key_.get(), EVP_sha256(), message, signature);
    case Algorithm::ecdsa_p384:
      return verify_with(key_.get(), EVP_sha384(), message, signature) ||
             verify_with(key_.get(), EVP_sha256(), message, signature);
    case Algorithm::rsa:
      return verify_with(key_.get(), EVP_sha256(), message, signature);
    case Algorithm::ed25519:
      return verify_with(key_.get(), nullptr, message, signature);
  }
  return false;
}

bool PublicKey::verify_sha256(std::string_view sha256, std::string_view signature) const {
  if (sha256.size() != 32 || signature.empty() || !key_) return false;
  if (kind_ == Algorithm::ed25519) return false;
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new(key_.get(), nullptr));
  bool ok = ctx && EVP_PKEY_verify_init(ctx.get()) == 1;
  if (ok && kind_ == Algorithm::rsa) {
    ok = EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) == 1;
  }
  // The digest's algorithm goes into RSA's DigestInfo; ECDSA signs the 32 bytes as they are.
  ok = ok && EVP_PKEY_CTX_set_signature_md(ctx.get(), EVP_sha256()) == 1 &&
       EVP_PKEY_verify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size(), reinterpret_cast<const unsigned char*>(sha256.data()),
                       sha256.size()) == 1;
  ERR_clear_error();
  return ok;
}

}  // namespace pp::trust
