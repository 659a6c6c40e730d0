#pragma once
// The artifacts cosign writes, built for the trust tests (signature_check.hpp has the layouts):
// simple-signing payloads and their manifests, Sigstore bundles, bundle manifests and referrers
// indexes. JSON values, so that a test can break one field before it writes them out.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "tests/unit/test_keys.hpp"

namespace pp::test {

inline constexpr const char* oci_manifest_type = "application/vnd.oci.image.manifest.v1+json";
inline constexpr const char* in_toto_type = "application/vnd.in-toto+json";

// "sha256:<hex>" of `bytes`.
std::string digest_of(std::string_view bytes);

nlohmann::json descriptor(const std::string& media_type, const std::string& digest,
                          std::size_t size = 100, nlohmann::json extra = nlohmann::json::object());

// `value` with what is at `at` replaced, or with member `key` removed: one field broken.
nlohmann::json with(nlohmann::json value, const nlohmann::json::json_pointer& at,
                    nlohmann::json replacement);
nlohmann::json without(nlohmann::json value, const char* key);

// ---- simple signing ----
nlohmann::json simple_signing_payload(const std::string& digest,
                                      const std::string& type = "cosign container image signature");
// A layer of the manifest at sha256-<hex>.sig: the payload blob and its annotated signature.
nlohmann::json signed_layer(const std::string& digest, std::size_t size,
                            const std::string& signature_base64);
nlohmann::json signature_manifest(nlohmann::json layers);

// ---- Sigstore bundles ----
// DSSE's pre-authentication encoding, written here from the spec rather than taken from dsse.hpp.
std::string pae(const std::string& type, const std::string& body);
// An in-toto v1 statement whose subjects are `digests` ("sha256:<hex>").
std::string in_toto_statement(const std::vector<std::string>& digests);
nlohmann::json public_key_material(const std::string& hint = "");
nlohmann::json certificate_material(EVP_PKEY* k);
nlohmann::json bundle(nlohmann::json material, const char* content, nlohmann::json value);
nlohmann::json envelope(const std::string& payload, const std::string& type,
                        nlohmann::json signatures);
nlohmann::json dsse_signature(const std::string& sig);
// cosign attest: an in-toto statement for `subjects`, its PAE signed by `s`.
nlohmann::json dsse_bundle(const Signer& s, const std::vector<std::string>& subjects,
                           nlohmann::json material = public_key_material());
// cosign sign (3.x): a signature over the manifest's bytes, and the manifest's SHA-256.
nlohmann::json message_bundle(const Signer& s, const std::string& manifest,
                              const char* algorithm = "SHA2_256");

// ---- referrers ----
// An OCI 1.1 referrer manifest of `subject` whose one layer is `layer`.
nlohmann::json bundle_manifest(nlohmann::json layers, const std::string& subject);
nlohmann::json referrer(const std::string& digest, std::size_t size,
                        std::optional<std::string> artifact_type);
nlohmann::json referrers_index(nlohmann::json manifests);

}  // namespace pp::test
