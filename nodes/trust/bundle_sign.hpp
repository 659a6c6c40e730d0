#pragma once
// Signing a pushed module as `cosign sign --key` 3.x does: an in-toto statement naming the
// manifest's digest, in a DSSE envelope, in a Sigstore bundle v0.3 with the key's hint as its
// verification material, attached to the manifest as an OCI 1.1 referrer (and listed in the
// fallback index at tag `sha256-<hex>` where the registry has no referrers API). Pure: it makes
// the documents, app/push.cpp stores them. What it writes is what signature_check.hpp reads.
//
// Offline, like the proxy's verifier: no Fulcio certificate, no Rekor entry, no timestamp.

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "nodes/clients/oci/manifest.hpp"
#include "nodes/common/error.hpp"
#include "nodes/trust/public_key.hpp"

struct evp_pkey_st;

namespace pp::trust {

// cosign 3's predicate for an image signature: the statement says only "signed".
inline constexpr std::string_view cosign_sign_predicate_type =
    "https://sigstore.dev/cosign/sign/v1";
// OCI 1.1's empty descriptor: the config of an artifact that has none.
inline constexpr std::string_view oci_empty_media_type = "application/vnd.oci.empty.v1+json";
inline constexpr std::string_view oci_empty_blob = "{}";

class PrivateKey {
 public:
  // An unencrypted PEM private key: PKCS#8 "PRIVATE KEY" (what `openssl genpkey` writes) or the
  // traditional "EC PRIVATE KEY" / "RSA PRIVATE KEY". ECDSA P-256, RSA >= 2048 bits and Ed25519,
  // the keys whose signatures both the proxy and @sigstore/verify accept. Refused (proxy_error):
  // encrypted keys (cosign's own key file included: its scrypt/secretbox format is cosign's),
  // public keys and certificates, and P-384, for which no hash is accepted by every verifier
  // (Sigstore's algorithm registry pairs it with SHA-384, @sigstore/verify 2.x checks SHA-256).
  static Expected<PrivateKey> from_pem(std::string_view pem);
  // from_pem() of a file's contents; the error names the file.
  static Expected<PrivateKey> load(const std::string& path);

  const PublicKey& public_key() const { return public_; }
  // What sigstore-go and @sigstore/sign name a key by in a bundle: base64 of SHA-256 over its DER
  // SubjectPublicKeyInfo (PublicKey::id() is the first 16 hex digits of the same hash).
  const std::string& hint() const { return hint_; }
  // This key's signature over `message`: ECDSA P-256 with SHA-256 (ASN.1 DER), RSA PKCS#1 v1.5
  // with SHA-256, pure Ed25519; what PublicKey::verify() checks. proxy_error if OpenSSL fails.
  Expected<std::string> sign(std::string_view message) const;

 private:
  PrivateKey(std::shared_ptr<evp_pkey_st> key, PublicKey public_key, std::string hint);

  std::shared_ptr<evp_pkey_st> key_;  // immutable once loaded
  PublicKey public_;
  std::string hint_;
};

// The in-toto Statement v1 cosign 3 signs for an image: one subject, `name` (the repository) with
// the sha256 `digest` ("sha256:<hex>"), predicateType cosign_sign_predicate_type and an empty
// predicate. invalid_reference when `digest` is not a sha256 digest.
Expected<std::string> cosign_sign_statement(std::string_view name, std::string_view digest);

// The Sigstore bundle v0.3 (JSON) of `statement` signed by `key` over DSSE's PAE, in the shape
// @sigstore/sign writes: the key's hint as verificationMaterial.publicKey and as the signature's
// keyid, no tlogEntries.
Expected<std::string> make_bundle(const PrivateKey& key, std::string_view statement);

// The referrer manifest that attaches `bundle` (the bundle blob's descriptor) to `subject` (the
// signed manifest's): artifactType and layer the bundle media type, the empty config, and the
// annotations cosign sets (dev.sigstore.bundle.content, .predicateType, and the creation time
// `created`, RFC 3339).
std::string bundle_manifest(const oci::Descriptor& subject, const oci::Descriptor& bundle,
                            std::string_view predicate_type, std::string_view created);

// The fallback index (OCI 1.1's referrers tag schema) listing `manifest` as well: `index` is what
// the tag holds now, nullopt when nothing. The new entry has the manifest's mediaType, digest,
// size, artifactType and annotations. nullopt when `index` lists it already (then nothing needs
// pushing); signature_invalid when `index` is not an image index.
Expected<std::optional<std::string>> add_to_fallback_index(std::optional<std::string_view> index,
                                                           std::string_view manifest);

}  // namespace pp::trust
