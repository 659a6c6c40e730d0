#pragma once
// The payload a cosign signature signs (the "simple signing" format, from containers/image):
// {"critical": {"identity": {"docker-reference": "<repo>"},
//               "image": {"docker-manifest-digest": "sha256:<hex>"},
//               "type": "cosign container image signature"},
//  "optional": {...} or null}
// Only what binds the signature to a module is read; checking it against the module is the
// caller's. Parsing is not verifying: call this on a payload whose signature has been checked.

#include <string>
#include <string_view>

#include "nodes/common/error.hpp"

namespace pp::trust {

struct SimpleSigningPayload {
  std::string docker_reference;  // as the signer wrote it; cosign writes the repository
  std::string manifest_digest;   // "sha256:<64 hex>" (or sha512), checked by oci::is_digest
};

// cosign's payloads are a few hundred bytes; 64 KiB leaves room for annotations and no more.
inline constexpr std::size_t max_simple_signing_size = 64 * 1024;

// signature_invalid for a payload over the limit, not JSON, with a field missing or of the wrong
// type, another `type`, or a digest that is not one.
Expected<SimpleSigningPayload> parse_simple_signing(std::string_view payload);

}  // namespace pp::trust
