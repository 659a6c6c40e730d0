#include "nodes/trust/signature_check.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "nodes/clients/oci/base64.hpp"
#include "nodes/trust/dsse.hpp"
#include "nodes/trust/simple_signing.hpp"

namespace pp::trust {
namespace {

using nlohmann::json;

constexpr std::string_view simplesigning = "simplesigning";
constexpr std::string_view bundle_format = "bundle";
// Bundles v0.1 and v0.2 carry the same content; v0.3 only narrowed the verification material.
constexpr std::string_view older_bundle_media_types[] = {
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
};

Finding finding(Finding::Kind kind, std::string_view format, std::string key_id = {},
                std::string detail = {}) {
  return Finding{kind, std::string(format), std::move(key_id), std::move(detail)};
}

Finding malformed(std::string_view format, std::string detail) {
  return finding(Finding::Kind::malformed, format, {}, std::move(detail));
}

// The signer's text, cut short: it goes into a status and a log line.
std::string shown(std::string_view text) {
  constexpr std::size_t limit = 96;
  return std::string(text.substr(0, limit)) + (text.size() > limit ? "…" : "");
}

// Protobuf's JSON form writes the standard alphabet; either is accepted, as DSSE's spec asks.
std::optional<std::string> decode(std::string_view text) {
  if (auto bytes = oci::base64_decode(text)) return bytes;
  return oci::base64_decode(text, oci::Base64Alphabet::url_safe);
}

const json* member(const json& object, const char* key, json::value_t type) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(key);
  if (it == object.end() || it->type() != type) return nullptr;
  return &*it;
}

const std::string* string_member(const json& object, const char* key) {
  const json* value = member(object, key, json::value_t::string);
  return value ? &value->get_ref<const std::string&>() : nullptr;
}

bool names_one_of(std::string_view digest, std::span<const std::string> digests) {
  return std::find(digests.begin(), digests.end(), digest) != digests.end();
}

std::string hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

// The first of `keys` for which `verifies` holds.
template <typename Verifies>
const PublicKey* signer_among(std::span<const PublicKey> keys, Verifies verifies) {
  for (const PublicKey& key : keys) {
    if (verifies(key)) return &key;
  }
  return nullptr;
}

Expected<json> parse_object(std::string_view text, std::string_view what) {
  if (text.size() > max_signature_artifact_size) {
    return Error{errc::signature_invalid,
                 std::string(what) + " of " + std::to_string(text.size()) +
                     " bytes, over the 64 KiB a signature artifact may be"};
  }
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Error{errc::signature_invalid, std::string(what) + " is not a JSON object"};
  }
  return doc;
}

}  // namespace

Finding check_simple_signing(std::string_view payload, std::string_view signature_base64,
                             std::span<const PublicKey> keys,
                             std::span<const std::string> digests) {
  if (payload.size() > max_signature_artifact_size) {
    return malformed(simplesigning, "payload over 64 KiB");
  }
  const auto signature = decode(signature_base64);
  if (!signature || signature->empty()) {
    return malformed(simplesigning, "the signature annotation is not base64");
  }
  const PublicKey* signer =
      signer_among(keys, [&](const PublicKey& k) { return k.verify(payload, *signature); });
  if (!signer) return finding(Finding::Kind::other_key, simplesigning);
  auto claim = parse_simple_signing(payload);
  if (!claim) return malformed(simplesigning, claim.error().message);
  if (!names_one_of(claim->manifest_digest, digests)) {
    return finding(Finding::Kind::other_digest, simplesigning, signer->id(),
                   claim->manifest_digest);
  }
  return finding(Finding::Kind::verified, simplesigning, signer->id());
}

Finding check_bundle(std::string_view text, std::span<const PublicKey> keys,
                     std::span<const std::string> digests) {
  auto doc = parse_object(text, "bundle");
  if (!doc) return malformed(bundle_format, doc.error().message);
  const std::string* media_type = string_member(*doc, "mediaType");
  if (!media_type ||
      (*media_type != bundle_media_type &&
       std::find(std::begin(older_bundle_media_types), std::end(older_bundle_media_types),
                 *media_type) == std::end(older_bundle_media_types))) {
    return malformed(bundle_format,
                     "mediaType is " +
                         (media_type ? "\"" + shown(*media_type) + "\"" : std::string("missing")) +
                         ", not a Sigstore bundle's");
  }
  const json* material = member(*doc, "verificationMaterial", json::value_t::object);
  if (!material) return malformed(bundle_format, "no verificationMaterial");

  // Which trusted keys may have made it: any, for a public key (its hint names no key the proxy
  // could trust on its word); for a certificate, only the listed key that is its subject key.
  std::span<const PublicKey> candidates = keys;
  const json* certificate = member(*material, "certificate", json::value_t::object);
  if (const json* chain = member(*material, "x509CertificateChain", json::value_t::object)) {
    const json* certs = member(*chain, "certificates", json::value_t::array);
    if (!certs || certs->empty()) return malformed(bundle_format, "an empty certificate chain");
    certificate = &certs->front();  // the leaf
  }
  if (certificate) {
    const std::string* raw = string_member(*certificate, "rawBytes");
    const auto der = raw ? decode(*raw) : std::nullopt;
    if (!der) return malformed(bundle_format, "a certificate without base64 rawBytes");
    auto key = PublicKey::from_certificate(*der);
    if (!key) return malformed(bundle_format, "certificate: " + key.error().message);
    const auto listed = std::find(keys.begin(), keys.end(), *key);
    if (listed == keys.end()) {
      return finding(Finding::Kind::keyless, bundle_format, {}, "certificate key " + key->id());
    }
    candidates = std::span<const PublicKey>(&*listed, 1);
  } else if (!member(*material, "publicKey", json::value_t::object)) {
    return malformed(bundle_format, "verificationMaterial has no public key or certificate");
  }

  if (const json* envelope = member(*doc, "dsseEnvelope", json::value_t::object)) {
    auto dsse = parse_dsse_envelope(*envelope);
    if (!dsse) return malformed(bundle_format, dsse.error().message);
    if (dsse->payload_type != in_toto_payload_type) {
      return malformed(bundle_format,
                       "DSSE payloadType is \"" + shown(dsse->payload_type) + "\", not in-toto");
    }
    const std::string signed_bytes = dsse_pae(dsse->payload_type, dsse->payload);
    const PublicKey* signer = signer_among(candidates, [&](const PublicKey& k) {
      return std::any_of(dsse->signatures.begin(), dsse->signatures.end(),
                         [&](const DsseSignature& s) { return k.verify(signed_bytes, s.sig); });
    });
    if (!signer) return finding(Finding::Kind::other_key, bundle_format);
    auto subjects = in_toto_subject_digests(dsse->payload);
    if (!subjects) return malformed(bundle_format, subjects.error().message);
    for (const std::string& subject : *subjects) {
      if (names_one_of(subject, digests)) {
        return finding(Finding::Kind::verified, bundle_format, signer->id());
      }
    }
    return finding(Finding::Kind::other_digest, bundle_format, signer->id(), subjects->front());
  }

  if (const json* message = member(*doc, "messageSignature", json::value_t::object)) {
    const json* digest = member(*message, "messageDigest", json::value_t::object);
    const std::string* algorithm = digest ? string_member(*digest, "algorithm") : nullptr;
    const std::string* value = digest ? string_member(*digest, "digest") : nullptr;
    if (!algorithm || *algorithm != "SHA2_256" || !value) {
      return malformed(bundle_format, "messageSignature without a SHA2_256 messageDigest");
    }
    const auto sha256 = decode(*value);
    const std::string* signature_text = string_member(*message, "signature");
    const auto signature = signature_text ? decode(*signature_text) : std::nullopt;
    if (!sha256 || sha256->size() != 32 || !signature) {
      return malformed(bundle_format, "messageSignature digest or signature is not base64");
    }
    const PublicKey* signer = signer_among(
        candidates, [&](const PublicKey& k) { return k.verify_sha256(*sha256, *signature); });
    if (!signer) return finding(Finding::Kind::other_key, bundle_format);
    const std::string named = "sha256:" + hex(*sha256);
    if (!names_one_of(named, digests)) {
      return finding(Finding::Kind::other_digest, bundle_format, signer->id(), named);
    }
    return finding(Finding::Kind::verified, bundle_format, signer->id());
  }
  return malformed(bundle_format, "neither a dsseEnvelope nor a messageSignature");
}

Expected<std::vector<SignedPayload>> simple_signing_layers(std::string_view manifest) {
  auto doc = parse_object(manifest, "signature manifest");
  if (!doc) return doc.error();
  const json* layers = member(*doc, "layers", json::value_t::array);
  if (!layers) return Error{errc::signature_invalid, "signature manifest has no layers array"};
  std::vector<SignedPayload> out;
  for (std::size_t i = 0; i < layers->size(); ++i) {
    const json& layer = (*layers)[i];
    auto descriptor = oci::parse_descriptor(layer, "layers[" + std::to_string(i) + "]");
    if (!descriptor) {
      return Error{errc::signature_invalid, "signature manifest: " + descriptor.error().message};
    }
    if (descriptor->media_type != simple_signing_media_type) continue;
    const json* annotations = member(layer, "annotations", json::value_t::object);
    const std::string* signature =
        annotations ? string_member(*annotations, cosign_signature_annotation.data()) : nullptr;
    if (!signature) continue;  // a payload nobody signed proves nothing
    out.push_back({std::move(descriptor).value(), *signature});
  }
  return out;
}

Expected<std::vector<oci::Descriptor>> bundle_referrers(std::string_view index) {
  auto doc = parse_object(index, "referrers index");
  if (!doc) return doc.error();
  const json* manifests = member(*doc, "manifests", json::value_t::array);
  if (!manifests) return Error{errc::signature_invalid, "referrers index has no manifests array"};
  std::vector<oci::Descriptor> out;
  for (std::size_t i = 0; i < manifests->size(); ++i) {
    const json& entry = (*manifests)[i];
    auto descriptor = oci::parse_descriptor(entry, "manifests[" + std::to_string(i) + "]");
    if (!descriptor) {
      return Error{errc::signature_invalid, "referrers index: " + descriptor.error().message};
    }
    const std::string* artifact_type = string_member(entry, "artifactType");
    if (artifact_type && *artifact_type != bundle_media_type) continue;  // an SBOM, say
    out.push_back(std::move(descriptor).value());
  }
  return out;
}

Expected<std::optional<oci::Descriptor>> bundle_layer(std::string_view manifest,
                                                      std::string_view subject) {
  auto doc = parse_object(manifest, "bundle manifest");
  if (!doc) return doc.error();
  const std::string* artifact_type = string_member(*doc, "artifactType");
  const json* config = member(*doc, "config", json::value_t::object);
  const std::string* config_type = config ? string_member(*config, "mediaType") : nullptr;
  // OCI 1.1 puts the type in artifactType; the image-spec's earlier guidance put it in the config.
  if (artifact_type ? *artifact_type != bundle_media_type
                    : !config_type || *config_type != bundle_media_type) {
    return std::optional<oci::Descriptor>();
  }
  const json* subject_descriptor = member(*doc, "subject", json::value_t::object);
  const std::string* named =
      subject_descriptor ? string_member(*subject_descriptor, "digest") : nullptr;
  if (!named || *named != subject) {
    return Error{errc::signature_invalid, "bundle manifest's subject is " +
                                              (named ? shown(*named) : "missing") + ", not " +
                                              std::string(subject)};
  }
  const json* layers = member(*doc, "layers", json::value_t::array);
  if (!layers || layers->size() != 1) {
    return Error{errc::signature_invalid, "bundle manifest does not have exactly one layer"};
  }
  auto layer = oci::parse_descriptor(layers->front(), "layers[0]");
  if (!layer) return Error{errc::signature_invalid, "bundle manifest: " + layer.error().message};
  if (layer->media_type != bundle_media_type) {
    return Error{errc::signature_invalid,
                 "bundle manifest's layer is " + shown(layer->media_type) + ", not a bundle"};
  }
  return std::optional<oci::Descriptor>(std::move(layer).value());
}

std::string_view to_string(Verdict::Result result) {
  switch (result) {
    case Verdict::Result::verified:
      return "verified";
    case Verdict::Result::unsigned_module:
      return "unsigned";
    case Verdict::Result::invalid:
      return "invalid";
  }
  return "invalid";
}

std::optional<Verdict::Result> verdict_result(std::string_view text) {
  for (const auto r :
       {Verdict::Result::verified, Verdict::Result::unsigned_module, Verdict::Result::invalid}) {
    if (to_string(r) == text) return r;
  }
  return std::nullopt;
}

Verdict judge(const std::vector<Finding>& findings, std::span<const PublicKey> keys,
              std::size_t skipped) {
  for (const Finding& f : findings) {
    if (f.kind == Finding::Kind::verified) {
      return Verdict{Verdict::Result::verified, f.key_id, f.format, {}};
    }
  }
  std::size_t other_key = 0, other_digest = 0, keyless = 0, bad = 0;
  std::string named, wrong;
  for (const Finding& f : findings) {
    switch (f.kind) {
      case Finding::Kind::verified:
        break;
      case Finding::Kind::other_key:
        ++other_key;
        break;
      case Finding::Kind::other_digest:
        if (other_digest++ == 0) named = f.detail;
        break;
      case Finding::Kind::keyless:
        ++keyless;
        break;
      case Finding::Kind::malformed:
        if (bad++ == 0) wrong = f.detail;
        break;
    }
  }
  const auto count = [](std::size_t n, const char* one, const char* many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
  };
  std::string tail;
  if (keyless) {
    tail += "; " + count(keyless, "keyless bundle", "keyless bundles") +
            " whose certificate key is not trusted";
  }
  if (skipped) tail += "; " + std::to_string(skipped) + " more not examined (16 at most)";
  const std::size_t signatures = other_key + other_digest + bad;
  if (signatures == 0) {
    return Verdict{Verdict::Result::unsigned_module,
                   {},
                   {},
                   "no signature found (simple signing or Sigstore bundle)" + tail};
  }
  std::string trusted;
  for (const PublicKey& k : keys)
    trusted += (trusted.empty() ? "" : ", ") + k.id();
  std::string reason = count(signatures, "signature", "signatures") +
                       ", none valid for a trusted key (trusted: " + trusted + "):";
  std::string parts;
  const auto part = [&](const std::string& text) { parts += (parts.empty() ? " " : ", ") + text; };
  if (other_key) part(count(other_key, "by another key", "by other keys"));
  if (other_digest) part(std::to_string(other_digest) + " for another module (" + named + ")");
  if (bad) part(std::to_string(bad) + " malformed (" + shown(wrong) + ")");
  return Verdict{Verdict::Result::invalid, {}, {}, reason + parts + tail};
}

}  // namespace pp::trust
