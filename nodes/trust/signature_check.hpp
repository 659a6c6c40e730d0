#pragma once
// What one signature artifact proves about a module, and the verdict over all that were found.
// Pure: SignatureSearch fetches the artifacts, these read and judge them.
//
// The two layouts cosign writes, both in the module's own repository:
// - simple signing (cosign 1.x and 2.x): the manifest at tag `sha256-<hex>.sig` lists payload
//   blobs, each with its base64 signature in an annotation; the signature covers the payload bytes
//   as stored, and the payload names the signed manifest's digest (simple_signing.hpp);
// - Sigstore bundle v0.3 (cosign 3.x): an OCI 1.1 referrer of the manifest, whose one layer is the
//   bundle JSON; a DSSE envelope whose in-toto statement names the digest, or a messageSignature
//   over the manifest's SHA-256.
// An artifact is checked against every trusted key (a bundle's key hint is only a hint), and its
// signature first: what an unverified payload says is never read as a claim.

#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nodes/clients/oci/manifest.hpp"
#include "nodes/common/error.hpp"
#include "nodes/trust/public_key.hpp"

namespace pp::trust {

inline constexpr std::string_view simple_signing_media_type =
    "application/vnd.dev.cosign.simplesigning.v1+json";
inline constexpr std::string_view cosign_signature_annotation =
    "dev.cosignproject.cosign/signature";
inline constexpr std::string_view bundle_media_type =
    "application/vnd.dev.sigstore.bundle.v0.3+json";

// Signature manifests, payloads and bundles are a few KiB; a larger one is refused unread.
inline constexpr std::size_t max_signature_artifact_size = 64 * 1024;
// Per module: each costs requests and verifications, and one trusted signature is enough.
inline constexpr std::size_t max_signature_artifacts = 16;

// What one artifact proves.
struct Finding {
  enum class Kind {
    verified,      // a trusted key signed it, for one of the digests being delivered
    other_key,     // well-formed, but no trusted key made its signature
    other_digest,  // a trusted key signed it, for another module
    keyless,       // its key is a certificate's (keyless signing), not a trusted key
    malformed,     // not what the layout says (or over the size limit)
  };
  Kind kind = Kind::malformed;
  std::string format;  // "simplesigning" or "bundle"
  std::string key_id;  // verified and other_digest: the trusted key whose signature it is
  std::string detail;  // other_digest: the digest it names; malformed: what is wrong
};

// A simple-signing payload and the base64 signature from its layer's annotation, for `digests`
// (any one of them may be named).
Finding check_simple_signing(std::string_view payload, std::string_view signature_base64,
                             std::span<const PublicKey> keys, std::span<const std::string> digests);
// A Sigstore bundle (JSON) for `digests`. Transparency-log entries and timestamps in it are not
// checked: the proxy verifies offline, against keys, not against Rekor (docs/security.md).
Finding check_bundle(std::string_view bundle, std::span<const PublicKey> keys,
                     std::span<const std::string> digests);

// A layer of a simple-signing manifest: the payload blob and its signature.
struct SignedPayload {
  oci::Descriptor payload;
  std::string signature;  // base64, as annotated
};
// The layers of the manifest at `sha256-<hex>.sig` that are simple-signing payloads with a
// signature annotation, in order. signature_invalid when it is not a manifest.
Expected<std::vector<SignedPayload>> simple_signing_layers(std::string_view manifest);

// The bundles listed by a referrers answer or a fallback index (an image index): its manifests
// whose artifactType is the bundle's, or that give none (their own manifest then says).
// signature_invalid when it is not an index.
Expected<std::vector<oci::Descriptor>> bundle_referrers(std::string_view index);
// The bundle layer of a referrer manifest, which must name `subject` as its subject; nullopt for
// a referrer that is not a bundle (its artifactType, or its config's media type, says another
// thing). signature_invalid for a bundle manifest that is not one.
Expected<std::optional<oci::Descriptor>> bundle_layer(std::string_view manifest,
                                                      std::string_view subject);

struct Verdict {
  enum class Result { verified, unsigned_module, invalid };
  Result result = Result::unsigned_module;
  std::string key_id;  // verified: whose signature
  std::string format;  // verified: "simplesigning" or "bundle"
  std::string reason;  // otherwise: what was found, for the requester and the log
};
// "verified", "unsigned", "invalid": the metric's label values.
std::string_view to_string(Verdict::Result result);
// The inverse; nullopt for anything else (a damaged cache record).
std::optional<Verdict::Result> verdict_result(std::string_view text);

// A verdict as kept with a module: on its transfer, and in the cache with what its reference
// resolved to. It holds for the keys it was reached with (`keyset`, see TrustRule) and no others.
struct CheckedSignature {
  Verdict verdict;
  std::string keyset;
  std::chrono::system_clock::time_point checked_at;
};

// The first verified finding wins. Nothing but keyless bundles (or nothing at all) is unsigned:
// there is no signature the fleet's keys could have made. Anything else is invalid, with a reason
// that counts what was found ("2 signatures, none by a trusted key (trusted: <ids>): 1 by another
// key, 1 names another module"). `skipped`: artifacts not examined past the limit.
Verdict judge(const std::vector<Finding>& findings, std::span<const PublicKey> keys,
              std::size_t skipped = 0);

}  // namespace pp::trust
