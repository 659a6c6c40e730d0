#include "tests/unit/cosign_artifacts.hpp"

#include <utility>

#include "nodes/clients/oci/digest.hpp"
#include "nodes/trust/signature_check.hpp"

namespace pp::test {

using nlohmann::json;

std::string digest_of(std::string_view bytes) {
  oci::Hasher h;
  h.update(bytes);
  return h.finish_digest();
}

json descriptor(const std::string& media_type, const std::string& digest, std::size_t size,
                json extra) {
  json d = {{"mediaType", media_type}, {"digest", digest}, {"size", size}};
  d.update(extra);
  return d;
}

json with(json value, const json::json_pointer& at, json replacement) {
  value[at] = std::move(replacement);
  return value;
}

json without(json value, const char* key) {
  value.erase(key);
  return value;
}

json simple_signing_payload(const std::string& digest, const std::string& type) {
  return {{"critical",
           {{"identity", {{"docker-reference", "ghcr.io/acme/app"}}},
            {"image", {{"docker-manifest-digest", digest}}},
            {"type", type}}},
          {"optional", nullptr}};
}

json signed_layer(const std::string& digest, std::size_t size,
                  const std::string& signature_base64) {
  return descriptor(std::string(trust::simple_signing_media_type), digest, size,
                    {{"annotations", {{trust::cosign_signature_annotation, signature_base64}}}});
}

json signature_manifest(json layers) {
  return {{"schemaVersion", 2},
          {"mediaType", oci_manifest_type},
          {"config", descriptor("application/vnd.oci.image.config.v1+json",
                                "sha256:" + std::string(64, 'f'))},
          {"layers", std::move(layers)}};
}

std::string pae(const std::string& type, const std::string& body) {
  return "DSSEv1 " + std::to_string(type.size()) + " " + type + " " + std::to_string(body.size()) +
         " " + body;
}

std::string in_toto_statement(const std::vector<std::string>& digests) {
  json list = json::array();
  for (const std::string& digest : digests) {
    list.push_back({{"name", "app"}, {"digest", {{"sha256", digest.substr(7)}}}});
  }
  return json{{"_type", "https://in-toto.io/Statement/v1"},
              {"subject", list},
              {"predicateType", "https://cosign.sigstore.dev/attestation/v1"},
              {"predicate", json::object()}}
      .dump();
}

json public_key_material(const std::string& hint) {
  return {{"publicKey", {{"hint", hint}}}, {"tlogEntries", json::array()}};
}

json certificate_material(EVP_PKEY* k) {
  return {{"certificate", {{"rawBytes", base64(certificate_der(k))}}}};
}

json bundle(json material, const char* content, json value) {
  return {{"mediaType", trust::bundle_media_type},
          {"verificationMaterial", std::move(material)},
          {content, std::move(value)}};
}

json envelope(const std::string& payload, const std::string& type, json signatures) {
  return {{"payload", base64(payload)}, {"payloadType", type}, {"signatures", signatures}};
}

json dsse_signature(const std::string& sig) {
  return {{"sig", base64(sig)}, {"keyid", ""}};
}

json dsse_bundle(const Signer& s, const std::vector<std::string>& subjects, json material) {
  const std::string payload = in_toto_statement(subjects);
  return bundle(
      std::move(material), "dsseEnvelope",
      envelope(payload, in_toto_type, {dsse_signature(s.sign(pae(in_toto_type, payload)))}));
}

json message_bundle(const Signer& s, const std::string& manifest, const char* algorithm) {
  return bundle(
      public_key_material(), "messageSignature",
      {{"messageDigest", {{"algorithm", algorithm}, {"digest", base64(sha256_raw(manifest))}}},
       {"signature", base64(s.sign(manifest))}});
}

json bundle_manifest(json layers, const std::string& subject) {
  return {{"schemaVersion", 2},
          {"mediaType", oci_manifest_type},
          {"artifactType", trust::bundle_media_type},
          {"config", descriptor("application/vnd.oci.empty.v1+json", digest_of("{}"), 2)},
          {"layers", std::move(layers)},
          {"subject", descriptor(oci_manifest_type, subject)}};
}

json referrer(const std::string& digest, std::size_t size,
              std::optional<std::string> artifact_type) {
  return descriptor(oci_manifest_type, digest, size,
                    artifact_type ? json{{"artifactType", *artifact_type}} : json::object());
}

json referrers_index(json manifests) {
  return {{"schemaVersion", 2},
          {"mediaType", "application/vnd.oci.image.index.v1+json"},
          {"manifests", std::move(manifests)}};
}

}  // namespace pp::test
