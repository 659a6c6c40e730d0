#pragma once
// Looks in a module's repository for the signatures of the digests it resolved to, in both
// layouts cosign writes, and judges them (signature_check.hpp). For each digest, the manifest's
// first and then the indexes it was reached through:
//   1. simple signing: the manifest at tag `sha256-<hex>.sig`, then each payload blob it lists;
//   2. Sigstore bundles: the referrers API (GET /v2/<name>/referrers/<digest>); when the registry
//      has none (docker-registry 2.8 answers 404) or lists no bundle there, the OCI 1.1 fallback
//      index at tag `sha256-<hex>`; then each bundle manifest and its bundle blob.
// It stops at the first verified signature. Every request goes through the oci::Registry, so the
// allow list, the credentials' scope, retries and redirects are those of every other request.
// Each manifest, payload and bundle is read only up to 64 KiB, and at most 16 payloads and
// bundles are examined per module.

#include <functional>
#include <string>
#include <vector>

#include "nodes/clients/oci/reference.hpp"
#include "nodes/clients/oci/registry_client.hpp"
#include "nodes/common/error.hpp"
#include "nodes/trust/public_key.hpp"
#include "nodes/trust/signature_check.hpp"

namespace pp::trust {

// `done` runs once, on the registry's I/O thread: the verdict, or the registry's error when it
// could not be asked (unreachable, refused credentials): then nothing is known either way. An
// absent artifact (404) is not an error, and one that is not what its layout says is a finding.
using SearchDone = std::function<void(Expected<Verdict>)>;
void search_signatures(oci::Registry& registry, const oci::Reference& ref,
                       std::vector<std::string> digests, std::vector<PublicKey> keys,
                       SearchDone done);

// "sha256-<hex>": the tag of a digest's fallback referrers index; with ".sig", of its cosign
// simple-signing manifest.
std::string digest_tag(const std::string& digest);

}  // namespace pp::trust
