#pragma once
// A public key the proxy trusts to sign modules: parsed from PEM (SubjectPublicKeyInfo, what
// `cosign generate-key-pair` writes to cosign.pub), limited to the algorithms cosign signs with,
// and able to check one signature. No I/O beyond reading the key file itself.

#include <memory>
#include <string>
#include <string_view>

#include "nodes/common/error.hpp"

struct evp_pkey_st;

namespace pp::trust {

class PublicKey {
 public:
  enum class Algorithm { ecdsa_p256, ecdsa_p384, rsa, ed25519 };

  // A "-----BEGIN PUBLIC KEY-----" block. Refused (proxy_error: a key is the proxy's own
  // configuration, never the requester's fault): anything else (a private key, a certificate,
  // PKCS#1 "RSA PUBLIC KEY"), an EC curve other than P-256/P-384, RSA under 2048 bits, RSA-PSS-only
  // keys, and every other algorithm.
  static Expected<PublicKey> from_pem(std::string_view pem);
  // from_pem() of a file's contents; the error names the file.
  static Expected<PublicKey> load(const std::string& path);
  // The subject key of a DER X.509 certificate (a keyless Sigstore bundle's), with from_pem()'s
  // limits. The certificate itself is not checked: it is trusted only when its key is a listed one.
  static Expected<PublicKey> from_certificate(std::string_view der);

  // The first 16 hex digits of SHA-256 over the key's DER SubjectPublicKeyInfo. SPKI rather than
  // the PEM text because it is the key itself, whatever its line breaks or comments; 64 bits are
  // plenty to tell a handful of configured keys apart in logs (it names a key, it proves nothing).
  std::string id() const;
  // "ecdsa-p256", "ecdsa-p384", "rsa-<bits>" or "ed25519".
  std::string algorithm() const;
  Algorithm kind() const { return kind_; }
  // The DER SubjectPublicKeyInfo.
  const std::string& spki() const { return spki_; }
  // Same key: same DER SubjectPublicKeyInfo.
  bool operator==(const PublicKey& other) const { return spki_ == other.spki_; }

  // Whether `signature` is this key's signature over `message` (the message itself, not a hash).
  // ECDSA signatures are ASN.1 DER (r, s), as cosign writes them. False for anything malformed;
  // never throws. The hash per algorithm, and why, is in public_key.cpp.
  bool verify(std::string_view message, std::string_view signature) const;
  // The same for a message known only by its SHA-256 (`sha256`: the 32 raw bytes), as a Sigstore
  // messageSignature signs a manifest. ECDSA and RSA only: pure Ed25519 needs the message itself.
  bool verify_sha256(std::string_view sha256, std::string_view signature) const;

 private:
  PublicKey(std::shared_ptr<evp_pkey_st> key, Algorithm kind, int bits);
  static Expected<PublicKey> accept(std::shared_ptr<evp_pkey_st> key);

  // Shared: a key is immutable once parsed, and copies are as cheap as the verifiers need.
  std::shared_ptr<evp_pkey_st> key_;
  Algorithm kind_;
  int bits_;
  std::string spki_;  // DER
};

// What a PEM text holds, for an error message: "a PRIVATE KEY block", or "no PEM block".
std::string pem_label(std::string_view pem);
// A key file's text. proxy_error naming `what` and the file ("public key /etc/k.pem is
// unreadable: …"), also past 64 KiB, refused unread: no PEM key is near that.
Expected<std::string> read_key_file(const std::string& path, std::string_view what);

// Key::from_pem() of a key file's text; every error names `what` and the file.
template <typename Key>
Expected<Key> load_key_file(const std::string& path, std::string_view what) {
  auto text = read_key_file(path, what);
  if (!text) return text.error();
  auto key = Key::from_pem(*text);
  if (!key)
    return Error{key.error().code, std::string(what) + " " + path + ": " + key.error().message};
  return key;
}

}  // namespace pp::trust
