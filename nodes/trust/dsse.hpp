#pragma once
// DSSE, the envelope a Sigstore bundle carries attestations in (github.com/secure-systems-lab/dsse
// protocol.md and envelope.md), and the in-toto statement inside it. A DSSE signature covers
// PAE(payloadType, payload), never the payload alone, so that a signature made for one payload type
// cannot be passed off as one for another.

#include <cstddef>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "nodes/common/error.hpp"

namespace pp::trust {

// "DSSEv1" SP LEN(type) SP type SP LEN(payload) SP payload; LEN is the byte length in ASCII
// decimal without leading zeros. The bytes a DSSE signature is made over.
std::string dsse_pae(std::string_view payload_type, std::string_view payload);

struct DsseSignature {
  std::string sig;    // decoded bytes
  std::string keyid;  // an unauthenticated hint; empty when absent. Never a security decision.
};

struct DsseEnvelope {
  std::string payload;  // decoded bytes
  std::string payload_type;
  std::vector<DsseSignature> signatures;
};

// One key verifies one signature: more than this is not a real envelope, and each costs a
// verification.
inline constexpr std::size_t max_dsse_signatures = 16;

// The Sigstore bundle's `dsseEnvelope` object: {"payload": "<base64>", "payloadType": "...",
// "signatures": [{"sig": "<base64>", "keyid": "..."}]}. Base64 in the standard or the URL-safe
// alphabet (the spec says verifiers MUST accept either), padded or not. signature_invalid for a
// missing or wrong-typed member, bad base64, an empty payload type or signature, no signature or
// more than max_dsse_signatures.
Expected<DsseEnvelope> parse_dsse_envelope(const nlohmann::json& envelope);

// The payload type of an in-toto statement in DSSE.
inline constexpr std::string_view in_toto_payload_type = "application/vnd.in-toto+json";

// in-toto statements carry provenance, which can be long; larger than this is not one.
inline constexpr std::size_t max_in_toto_statement_size = 4 * 1024 * 1024;

// "sha256:<hex>" for each subject[].digest.sha256 of an in-toto statement whose _type is
// "https://in-toto.io/Statement/v1" or ".../v0.1", in subject order. Subjects without a sha256
// digest are skipped (they name the artifact by another algorithm); signature_invalid when none is
// left, or for a statement that is not JSON, has another _type, no subject array, a subject or
// digest that is not an object, or a sha256 that is not 64 lowercase hex digits.
Expected<std::vector<std::string>> in_toto_subject_digests(std::string_view statement);

}  // namespace pp::trust
