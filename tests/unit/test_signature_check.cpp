#define BOOST_TEST_MODULE signature_check
#include <openssl/evp.h>

#include <algorithm>
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>
#include <cstddef>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nodes/common/error.hpp"
#include "nodes/trust/public_key.hpp"
#include "nodes/trust/signature_check.hpp"
#include "tests/unit/cosign_artifacts.hpp"
#include "tests/unit/test_keys.hpp"
#include "tests/unit/verdict_print.hpp"

namespace bdata = boost::unit_test::data;
using nlohmann::json;
using namespace pp::test;
using pp::trust::Finding;
using pp::trust::PublicKey;
using pp::trust::Verdict;
using Kind = Finding::Kind;

namespace boost::test_tools::tt_detail {
template <>
struct print_log_value<Kind> {
  void operator()(std::ostream& os, Kind kind) {
    constexpr const char* names[] = {"verified", "other_key", "other_digest", "keyless",
                                     "malformed"};
    os << names[static_cast<int>(kind)];
  }
};
}  // namespace boost::test_tools::tt_detail

namespace {

// The module's manifest, and the digests a search is for: the manifest's, then an index's.
const std::string manifest_bytes =
    R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"})";
const std::string module_digest = digest_of(manifest_bytes);
const std::string index_digest = "sha256:" + std::string(64, 'c');
const std::string other_digest = "sha256:" + std::string(64, 'b');
const std::vector<std::string> digests = {module_digest, index_digest};
const std::string another_manifest_digest = digest_of("another manifest");

// Made once per process (RSA takes a while). "P-256", "P-384", "RSA2048", "ED25519"; "other":
// another P-256 key, trusted or not per case.
const Signer& signer(const std::string& what) {
  static const Signer p256 = make_signer("P-256"), p384 = make_signer("P-384"),
                      rsa = make_signer("RSA2048"), ed25519 = make_signer("ED25519"),
                      other = make_signer("P-256");
  if (what == "P-384") return p384;
  if (what == "RSA2048") return rsa;
  if (what == "ED25519") return ed25519;
  if (what == "other") return other;
  return p256;
}

const Signer& other() {
  return signer("other");
}

// What an input is checked with, and what the check must find.
struct Input {
  std::string text;       // the payload, or the bundle
  std::string signature;  // simple signing: the annotation's base64
  std::vector<PublicKey> keys;
};

struct Want {
  Kind kind;
  bool names_signer;   // key_id is the case's signer's
  const char* detail;  // a part of the finding's detail
};

// Every check of a finding the tables make.
void check_finding(const Finding& f, const char* format, const Want& want, const Signer& signer) {
  BOOST_TEST(f.kind == want.kind);
  BOOST_TEST(f.format == format);
  BOOST_TEST(f.key_id == (want.names_signer ? signer.key.id() : std::string()));
  BOOST_TEST(has(f.detail, want.detail), f.detail);
}

// ---- simple signing ----

// `payload` as cosign writes it, signed by `s`, checked against `s` alone.
Input signed_payload(const Signer& s, const std::string& payload) {
  return {payload, base64(s.sign(payload)), {s.key}};
}

Input signed_payload(const Signer& s, const json& payload = simple_signing_payload(module_digest)) {
  return signed_payload(s, payload.dump());
}

// A valid payload by the case's signer, then changed by `edit`.
std::function<Input(const Signer&)> edited(void (*edit)(Input&, const Signer&)) {
  return [edit](const Signer& s) {
    Input in = signed_payload(s);
    edit(in, s);
    return in;
  };
}

// An input, made with the case's signer, and what checking it must find.
struct CheckCase {
  const char* name;
  const char* key;  // the signer
  std::function<Input(const Signer&)> input;
  Want expected;
};

std::ostream& operator<<(std::ostream& os, const CheckCase& c) {
  return os << c.name;
}

const CheckCase simple_cases[] = {
    {"ecdsa p-256",
     "P-256",
     [](const Signer& s) { return signed_payload(s); },
     {Kind::verified, true, ""}},
    {"ecdsa p-384",
     "P-384",
     [](const Signer& s) { return signed_payload(s); },
     {Kind::verified, true, ""}},
    {"rsa 2048",
     "RSA2048",
     [](const Signer& s) { return signed_payload(s); },
     {Kind::verified, true, ""}},
    {"ed25519",
     "ED25519",
     [](const Signer& s) { return signed_payload(s); },
     {Kind::verified, true, ""}},
    {"the signer is the last of the trusted keys",
     "RSA2048",
     edited([](Input& in, const Signer& s) {
       in.keys = {signer("P-256").key, other().key, s.key};
     }),
     {Kind::verified, true, ""}},
    {"names the index's digest",
     "P-256",
     [](const Signer& s) { return signed_payload(s, simple_signing_payload(index_digest)); },
     {Kind::verified, true, ""}},
    {"url-safe base64 signature",
     "P-256",
     edited([](Input& in, const Signer&) {
       for (char& c : in.signature)
         c = c == '+' ? '-' : c == '/' ? '_' : c;
     }),
     {Kind::verified, true, ""}},
    {"another key",
     "P-256",
     edited([](Input& in, const Signer&) { in.keys = {other().key}; }),
     {Kind::other_key, false, ""}},
    {"no trusted key at all",
     "P-256",
     edited([](Input& in, const Signer&) { in.keys.clear(); }),
     {Kind::other_key, false, ""}},
    {"names another digest",
     "P-256",
     [](const Signer& s) { return signed_payload(s, simple_signing_payload(other_digest)); },
     {Kind::other_digest, true, other_digest.c_str()}},
    {"another type",
     "P-256",
     [](const Signer& s) {
       return signed_payload(s,
                             simple_signing_payload(module_digest, "atomic container signature"));
     },
     {Kind::malformed, false, "critical.type"}},
    {"payload not JSON",
     "P-256",
     [](const Signer& s) { return signed_payload(s, std::string("{\"critical\":")); },
     {Kind::malformed, false, "not JSON"}},
    {"signature not base64",
     "P-256",
     edited([](Input& in, const Signer&) { in.signature = "!" + in.signature; }),
     {Kind::malformed, false, "not base64"}},
    {"signature empty",
     "P-256",
     edited([](Input& in, const Signer&) { in.signature.clear(); }),
     {Kind::malformed, false, "not base64"}},
    {"signature over other bytes",
     "P-256",
     edited([](Input& in, const Signer& s) {
       in.signature = base64(s.sign(simple_signing_payload(other_digest).dump()));
     }),
     {Kind::other_key, false, ""}},
    // The signature covers the bytes as stored: the same JSON written otherwise is not signed.
    {"whitespace changed",
     "P-256",
     edited(
         [](Input& in, const Signer&) { in.text = simple_signing_payload(module_digest).dump(2); }),
     {Kind::other_key, false, ""}},
    {"a trailing newline",
     "ED25519",
     edited([](Input& in, const Signer&) { in.text += '\n'; }),
     {Kind::other_key, false, ""}},
    {"over 64 KiB",
     "P-256",
     [](const Signer& s) {
       json payload = simple_signing_payload(module_digest);
       payload["optional"] = {{"pad", std::string(pp::trust::max_signature_artifact_size, 'x')}};
       return signed_payload(s, payload);
     },
     {Kind::malformed, false, "64 KiB"}},
};

}  // namespace

BOOST_DATA_TEST_CASE(check_simple_signing, bdata::make(simple_cases), c) {
  const Signer& s = signer(c.key);
  const Input in = c.input(s);
  const Finding f = pp::trust::check_simple_signing(in.text, in.signature, in.keys, digests);
  check_finding(f, "simplesigning", c.expected, s);
}

// ---- bundles ----

namespace {

Input trusted(const Signer& s, const json& bundle) {
  return {bundle.dump(), {}, {s.key}};
}

const CheckCase bundle_cases[] = {
    {"dsse, ecdsa p-256",
     "P-256",
     [](const Signer& s) { return trusted(s, dsse_bundle(s, {module_digest})); },
     {Kind::verified, true, ""}},
    {"dsse, ecdsa p-384",
     "P-384",
     [](const Signer& s) { return trusted(s, dsse_bundle(s, {module_digest})); },
     {Kind::verified, true, ""}},
    {"dsse, rsa",
     "RSA2048",
     [](const Signer& s) { return trusted(s, dsse_bundle(s, {module_digest})); },
     {Kind::verified, true, ""}},
    {"dsse, ed25519",
     "ED25519",
     [](const Signer& s) { return trusted(s, dsse_bundle(s, {module_digest})); },
     {Kind::verified, true, ""}},
    {"dsse, the second subject is the index",
     "P-256",
     [](const Signer& s) {
       return trusted(s, dsse_bundle(s, {other_digest, index_digest}));
     },
     {Kind::verified, true, ""}},
    {"dsse, subject another module",
     "P-256",
     [](const Signer& s) { return trusted(s, dsse_bundle(s, {other_digest})); },
     {Kind::other_digest, true, other_digest.c_str()}},
    {"dsse, another key",
     "P-256",
     [](const Signer&) { return trusted(signer("P-256"), dsse_bundle(other(), {module_digest})); },
     {Kind::other_key, false, ""}},
    {"dsse, the second signature is the trusted key's",
     "P-256",
     [](const Signer& s) {
       const std::string payload = in_toto_statement({module_digest});
       const std::string signed_bytes = pae(in_toto_type, payload);
       return trusted(s, bundle(public_key_material(), "dsseEnvelope",
                                envelope(payload, in_toto_type,
                                         {dsse_signature(other().sign(signed_bytes)),
                                          dsse_signature(s.sign(signed_bytes))})));
     },
     {Kind::verified, true, ""}},
    // DSSE signs PAE(type, payload): a signature over the payload alone is no signature.
    {"dsse, signature over the bare payload",
     "P-256",
     [](const Signer& s) {
       const std::string payload = in_toto_statement({module_digest});
       return trusted(s,
                      bundle(public_key_material(), "dsseEnvelope",
                             envelope(payload, in_toto_type, {dsse_signature(s.sign(payload))})));
     },
     {Kind::other_key, false, ""}},
    {"dsse, another payloadType",
     "P-256",
     [](const Signer& s) {
       const std::string payload = in_toto_statement({module_digest});
       return trusted(s,
                      bundle(public_key_material(), "dsseEnvelope",
                             envelope(payload, "application/json",
                                      {dsse_signature(s.sign(pae("application/json", payload)))})));
     },
     {Kind::malformed, false, "not in-toto"}},
    {"dsse, signed payload not a statement",
     "P-256",
     [](const Signer& s) {
       const std::string payload = R"({"_type":"something else"})";
       return trusted(s, bundle(public_key_material(), "dsseEnvelope",
                                envelope(payload, in_toto_type,
                                         {dsse_signature(s.sign(pae(in_toto_type, payload)))})));
     },
     {Kind::malformed, false, "in-toto statement"}},
    {"dsse, envelope without signatures",
     "P-256",
     [](const Signer& s) {
       return trusted(s, with(dsse_bundle(s, {module_digest}),
                              "/dsseEnvelope/signatures"_json_pointer, json::array()));
     },
     {Kind::malformed, false, "DSSE envelope"}},
    {"message signature, ecdsa p-256",
     "P-256",
     [](const Signer& s) { return trusted(s, message_bundle(s, manifest_bytes)); },
     {Kind::verified, true, ""}},
    {"message signature, ecdsa p-384",
     "P-384",
     [](const Signer& s) { return trusted(s, message_bundle(s, manifest_bytes)); },
     {Kind::verified, true, ""}},
    {"message signature, rsa",
     "RSA2048",
     [](const Signer& s) { return trusted(s, message_bundle(s, manifest_bytes)); },
     {Kind::verified, true, ""}},
    // Pure Ed25519 signs the message itself; a bundle only has its hash.
    {"message signature, ed25519",
     "ED25519",
     [](const Signer& s) { return trusted(s, message_bundle(s, manifest_bytes)); },
     {Kind::other_key, false, ""}},
    {"message signature, another manifest",
     "P-256",
     [](const Signer& s) { return trusted(s, message_bundle(s, "another manifest")); },
     {Kind::other_digest, true, another_manifest_digest.c_str()}},
    {"message signature, another key",
     "P-256",
     [](const Signer&) {
       return trusted(signer("P-256"), message_bundle(other(), manifest_bytes));
     },
     {Kind::other_key, false, ""}},
    {"message signature, SHA2_384",
     "P-384",
     [](const Signer& s) { return trusted(s, message_bundle(s, manifest_bytes, "SHA2_384")); },
     {Kind::malformed, false, "SHA2_256"}},
    {"message signature, digest not 32 bytes",
     "P-256",
     [](const Signer& s) {
       return trusted(s,
                      with(message_bundle(s, manifest_bytes),
                           "/messageSignature/messageDigest/digest"_json_pointer, base64("short")));
     },
     {Kind::malformed, false, "not base64"}},
    {"message signature, signature not base64",
     "P-256",
     [](const Signer& s) {
       return trusted(s, with(message_bundle(s, manifest_bytes),
                              "/messageSignature/signature"_json_pointer, "*"));
     },
     {Kind::malformed, false, "not base64"}},
    // The hint names a key, but only as a hint: every trusted key is tried.
    {"public key hint names an unknown key",
     "RSA2048",
     [](const Signer& s) {
       Input in = trusted(s, dsse_bundle(s, {module_digest}, public_key_material("nobody")));
       in.keys = {other().key, s.key};
       return in;
     },
     {Kind::verified, true, ""}},
    {"certificate of a trusted key",
     "P-256",
     [](const Signer& s) {
       Input in = trusted(s, dsse_bundle(s, {module_digest}, certificate_material(s.pkey.get())));
       in.keys = {other().key, s.key};
       return in;
     },
     {Kind::verified, true, ""}},
    {"certificate chain whose leaf is a trusted key's",
     "P-384",
     [](const Signer& s) {
       const json chain = {
           {"x509CertificateChain",
            {{"certificates",
              {{{"rawBytes", base64(pp::test::certificate_der(s.pkey.get()))}},
               {{"rawBytes", base64(pp::test::certificate_der(other().pkey.get()))}}}}}}};
       return trusted(s, dsse_bundle(s, {module_digest}, chain));
     },
     {Kind::verified, true, ""}},
    {"certificate of an untrusted key (keyless)",
     "P-256",
     [](const Signer& s) {
       return trusted(
           s, dsse_bundle(other(), {module_digest}, certificate_material(other().pkey.get())));
     },
     {Kind::keyless, false, "certificate key "}},
    // A certificate names its key: another trusted key's signature does not count for it.
    {"certificate of one trusted key, signed by another",
     "P-256",
     [](const Signer& s) {
       Input in =
           trusted(s, dsse_bundle(other(), {module_digest}, certificate_material(s.pkey.get())));
       in.keys = {s.key, other().key};
       return in;
     },
     {Kind::other_key, false, ""}},
    {"certificate rawBytes not base64",
     "P-256",
     [](const Signer& s) {
       return trusted(s, dsse_bundle(s, {module_digest}, {{"certificate", {{"rawBytes", "%%"}}}}));
     },
     {Kind::malformed, false, "base64 rawBytes"}},
    {"certificate not DER",
     "P-256",
     [](const Signer& s) {
       return trusted(s, dsse_bundle(s, {module_digest},
                                     {{"certificate", {{"rawBytes", base64("not a cert")}}}}));
     },
     {Kind::malformed, false, "certificate: "}},
    {"empty certificate chain",
     "P-256",
     [](const Signer& s) {
       return trusted(s,
                      dsse_bundle(s, {module_digest},
                                  {{"x509CertificateChain", {{"certificates", json::array()}}}}));
     },
     {Kind::malformed, false, "empty certificate chain"}},
    {"no verification material",
     "P-256",
     [](const Signer& s) {
       return trusted(s, without(dsse_bundle(s, {module_digest}), "verificationMaterial"));
     },
     {Kind::malformed, false, "no verificationMaterial"}},
    {"verification material without a key",
     "P-256",
     [](const Signer& s) {
       return trusted(s, dsse_bundle(s, {module_digest}, {{"tlogEntries", json::array()}}));
     },
     {Kind::malformed, false, "no public key or certificate"}},
    {"neither envelope nor message signature",
     "P-256",
     [](const Signer& s) {
       return trusted(s, without(dsse_bundle(s, {module_digest}), "dsseEnvelope"));
     },
     {Kind::malformed, false, "neither"}},
    {"bundle v0.1",
     "P-256",
     [](const Signer& s) {
       return trusted(s, with(dsse_bundle(s, {module_digest}), "/mediaType"_json_pointer,
                              "application/vnd.dev.sigstore.bundle+json;version=0.1"));
     },
     {Kind::verified, true, ""}},
    {"another mediaType",
     "P-256",
     [](const Signer& s) {
       return trusted(s, with(dsse_bundle(s, {module_digest}), "/mediaType"_json_pointer,
                              "application/vnd.dev.sigstore.bundle.v0.4+json"));
     },
     {Kind::malformed, false, "mediaType is \"application/vnd.dev.sigstore.bundle.v0.4+json\""}},
    {"no mediaType",
     "P-256",
     [](const Signer& s) {
       return trusted(s, without(dsse_bundle(s, {module_digest}), "mediaType"));
     },
     {Kind::malformed, false, "mediaType is missing"}},
    {"not JSON",
     "P-256",
     [](const Signer& s) {
       Input in = trusted(s, dsse_bundle(s, {module_digest}));
       in.text.pop_back();
       return in;
     },
     {Kind::malformed, false, "not a JSON object"}},
    {"a JSON array",
     "P-256",
     [](const Signer& s) { return trusted(s, json::array({dsse_bundle(s, {module_digest})})); },
     {Kind::malformed, false, "not a JSON object"}},
    {"over 64 KiB",
     "P-256",
     [](const Signer& s) {
       return trusted(s, with(dsse_bundle(s, {module_digest}), "/pad"_json_pointer,
                              std::string(pp::trust::max_signature_artifact_size, 'x')));
     },
     {Kind::malformed, false, "64 KiB"}},
};

}  // namespace

BOOST_DATA_TEST_CASE(check_bundle, bdata::make(bundle_cases), c) {
  const Signer& s = signer(c.key);
  const Input in = c.input(s);
  check_finding(pp::trust::check_bundle(in.text, in.keys, digests), "bundle", c.expected, s);
}

// ---- the artifacts' manifests and indexes ----

namespace {

std::string blob_digest(char c) {
  return "sha256:" + std::string(64, c);
}

json layer(const std::string& media_type, char digest, json extra = json::object()) {
  return descriptor(media_type, blob_digest(digest), 100, std::move(extra));
}

json signed_layer(char digest, const std::string& signature) {
  return pp::test::signed_layer(blob_digest(digest), 100, signature);
}

// A parser that lists what it finds: what it lists, one string each, or its refusal.
struct ListCase {
  const char* name;
  std::function<std::string()> text;
  std::optional<std::vector<std::string>> listed;  // nullopt: refused
};

std::ostream& operator<<(std::ostream& os, const ListCase& c) {
  return os << c.name;
}

template <typename T, typename Shown>
void check_listed(const pp::Expected<std::vector<T>>& parsed, const ListCase& c, Shown shown) {
  BOOST_REQUIRE(parsed.ok() == c.listed.has_value());
  if (!parsed.ok()) {
    BOOST_TEST(parsed.error().code == pp::errc::signature_invalid);
    return;
  }
  std::vector<std::string> listed;
  for (const T& item : *parsed)
    listed.push_back(shown(item));
  BOOST_TEST(listed == *c.listed, boost::test_tools::per_element());
}

const ListCase layers_cases[] = {
    {"two signed payloads, in order",
     [] {
       return signature_manifest({signed_layer('1', "c2lnMQ=="), signed_layer('2', "c2lnMg==")})
           .dump();
     },
     std::vector<std::string>{blob_digest('1') + " c2lnMQ==", blob_digest('2') + " c2lnMg=="}},
    {"other layers and unsigned payloads are left out",
     [] {
       return signature_manifest(
                  {layer("application/vnd.in-toto+json", '1'),
                   layer(std::string(pp::trust::simple_signing_media_type), '2'),
                   layer(std::string(pp::trust::simple_signing_media_type), '3',
                         {{"annotations", {{pp::trust::cosign_signature_annotation, 7}}}}),
                   signed_layer('4', "c2ln")})
           .dump();
     },
     std::vector<std::string>{blob_digest('4') + " c2ln"}},
    {"no layers", [] { return signature_manifest(json::array()).dump(); },
     std::vector<std::string>{}},
    {"not JSON", [] { return std::string("{\"layers\":["); }, std::nullopt},
    {"a JSON array", [] { return std::string("[]"); }, std::nullopt},
    {"no layers array", [] { return without(signature_manifest(json::array()), "layers").dump(); },
     std::nullopt},
    {"layers an object", [] { return signature_manifest(json::object()).dump(); }, std::nullopt},
    {"a layer with a bad digest",
     [] {
       json layer = signed_layer('1', "c2ln");
       layer["digest"] = "sha256:xyz";
       return signature_manifest({layer}).dump();
     },
     std::nullopt},
    {"over 64 KiB",
     [] {
       json m = signature_manifest({signed_layer('1', "c2ln")});
       m["annotations"] = {{"pad", std::string(pp::trust::max_signature_artifact_size, 'x')}};
       return m.dump();
     },
     std::nullopt},
};

}  // namespace

BOOST_DATA_TEST_CASE(simple_signing_layers, bdata::make(layers_cases), c) {
  check_listed(pp::trust::simple_signing_layers(c.text()), c, [](const auto& layer) {
    BOOST_TEST(layer.payload.media_type == pp::trust::simple_signing_media_type);
    return layer.payload.digest + " " + layer.signature;
  });
}

namespace {

const std::string bundle_type(pp::trust::bundle_media_type);
const std::string manifest_type = "application/vnd.oci.image.manifest.v1+json";

const ListCase referrers_cases[] = {
    {"bundles, and referrers without artifactType; not an SBOM",
     [] {
       return referrers_index({referrer(blob_digest('1'), 100, bundle_type),
                               referrer(blob_digest('2'), 100, "application/spdx+json"),
                               referrer(blob_digest('3'), 100, std::nullopt)})
           .dump();
     },
     std::vector<std::string>{blob_digest('1'), blob_digest('3')}},
    {"no referrers", [] { return referrers_index(json::array()).dump(); },
     std::vector<std::string>{}},
    {"a manifest, not an index", [] { return signature_manifest(json::array()).dump(); },
     std::nullopt},
    {"manifests an object", [] { return referrers_index(json::object()).dump(); }, std::nullopt},
    {"not JSON", [] { return std::string("not json"); }, std::nullopt},
    {"an entry without a digest",
     [] {
       return referrers_index({without(referrer(blob_digest('1'), 100, bundle_type), "digest")})
           .dump();
     },
     std::nullopt},
};

}  // namespace

BOOST_DATA_TEST_CASE(bundle_referrers, bdata::make(referrers_cases), c) {
  check_listed(pp::trust::bundle_referrers(c.text()), c,
               [](const pp::oci::Descriptor& d) { return d.digest; });
}

namespace {

const std::string subject = blob_digest('9');

json bundle_manifest(json layers = {layer(bundle_type, '1')}) {
  return pp::test::bundle_manifest(std::move(layers), subject);
}

enum class LayerOutcome { layer, not_a_bundle, refused };

struct BundleLayerCase {
  const char* name;
  std::function<json()> manifest;
  LayerOutcome outcome;
  const char* says;  // refused: a part of the error
};

std::ostream& operator<<(std::ostream& os, const BundleLayerCase& c) {
  return os << c.name;
}

const BundleLayerCase bundle_layer_cases[] = {
    {"artifactType bundle", [] { return bundle_manifest(); }, LayerOutcome::layer, ""},
    // The image-spec's guidance before 1.1: the config's media type says what the artifact is.
    {"no artifactType, config a bundle",
     [] {
       json m = without(bundle_manifest(), "artifactType");
       m["config"]["mediaType"] = bundle_type;
       return m;
     },
     LayerOutcome::layer, ""},
    {"no artifactType, config another type",
     [] { return without(bundle_manifest(), "artifactType"); }, LayerOutcome::not_a_bundle, ""},
    {"an SBOM",
     [] { return with(bundle_manifest(), "/artifactType"_json_pointer, "application/spdx+json"); },
     LayerOutcome::not_a_bundle, ""},
    {"another subject",
     [] { return with(bundle_manifest(), "/subject/digest"_json_pointer, blob_digest('8')); },
     LayerOutcome::refused, "subject is"},
    {"no subject", [] { return without(bundle_manifest(), "subject"); }, LayerOutcome::refused,
     "missing"},
    {"two layers",
     [] {
       return bundle_manifest({layer(bundle_type, '1'), layer(bundle_type, '2')});
     },
     LayerOutcome::refused, "exactly one layer"},
    {"no layers", [] { return bundle_manifest(json::array()); }, LayerOutcome::refused,
     "exactly one layer"},
    {"the layer is not a bundle",
     [] { return bundle_manifest({layer("application/octet-stream", '1')}); },
     LayerOutcome::refused, "not a bundle"},
    {"the layer's size is negative",
     [] {
       return bundle_manifest({layer(bundle_type, '1', {{"size", -1}})});
     },
     LayerOutcome::refused, "bundle manifest: "},
    {"not an object", [] { return json::array(); }, LayerOutcome::refused, "not a JSON object"},
};

}  // namespace

BOOST_DATA_TEST_CASE(bundle_layer, bdata::make(bundle_layer_cases), c) {
  const auto layer = pp::trust::bundle_layer(c.manifest().dump(), subject);
  switch (c.outcome) {
    case LayerOutcome::layer:
      BOOST_REQUIRE(layer.ok());
      BOOST_REQUIRE(layer->has_value());
      BOOST_TEST((*layer)->digest == blob_digest('1'));
      BOOST_TEST((*layer)->media_type == bundle_type);
      break;
    case LayerOutcome::not_a_bundle:
      BOOST_REQUIRE(layer.ok());
      BOOST_TEST(!layer->has_value());
      break;
    case LayerOutcome::refused:
      BOOST_REQUIRE(!layer.ok());
      BOOST_TEST(layer.error().code == pp::errc::signature_invalid);
      BOOST_TEST(has(layer.error().message, c.says), layer.error().message);
      break;
  }
}

// ---- judge ----

namespace {

Finding found(Kind kind, std::string format = "simplesigning", std::string key_id = {},
              std::string detail = {}) {
  return Finding{kind, std::move(format), std::move(key_id), std::move(detail)};
}

struct JudgeCase {
  const char* name;
  std::vector<Finding> findings;
  std::size_t skipped;
  Verdict::Result result;
  std::vector<std::string> reason;  // parts of the reason, all of them; none for verified
};

std::ostream& operator<<(std::ostream& os, const JudgeCase& c) {
  return os << c.name;
}

const std::string long_detail(200, 'z');

const JudgeCase judge_cases[] = {
    {"nothing found", {}, 0, Verdict::Result::unsigned_module, {"no signature found"}},
    {"nothing examined, some skipped",
     {},
     2,
     Verdict::Result::unsigned_module,
     {"no signature found", "2 more not examined (16 at most)"}},
    {"only keyless bundles",
     {found(Kind::keyless, "bundle"), found(Kind::keyless, "bundle")},
     0,
     Verdict::Result::unsigned_module,
     {"no signature found", "2 keyless bundles whose certificate key is not trusted"}},
    {"one keyless bundle",
     {found(Kind::keyless, "bundle")},
     0,
     Verdict::Result::unsigned_module,
     {"1 keyless bundle whose"}},
    {"one by another key",
     {found(Kind::other_key)},
     0,
     Verdict::Result::invalid,
     {"1 signature, none valid for a trusted key", "1 by another key"}},
    {"mixed, counted",
     {found(Kind::other_key), found(Kind::other_key, "bundle"),
      found(Kind::other_digest, "simplesigning", "k", other_digest),
      found(Kind::other_digest, "bundle", "k", index_digest),
      found(Kind::malformed, "bundle", {}, "first wrong"),
      found(Kind::malformed, "simplesigning", {}, "second wrong"), found(Kind::keyless, "bundle")},
     0,
     Verdict::Result::invalid,
     {"6 signatures", "2 by other keys", "2 for another module (" + other_digest + ")",
      "2 malformed (first wrong)", "1 keyless bundle"}},
    {"a long detail is cut short",
     {found(Kind::malformed, "bundle", {}, long_detail)},
     0,
     Verdict::Result::invalid,
     {"1 malformed (" + std::string(96, 'z') + "…)"}},
    {"skipped, with findings",
     {found(Kind::other_digest, "bundle", "k", other_digest)},
     5,
     Verdict::Result::invalid,
     {"1 signature", "1 for another module", "5 more not examined"}},
    {"verified", {found(Kind::verified, "bundle", "k1")}, 0, Verdict::Result::verified, {}},
    {"the first verified wins, whatever came before",
     {found(Kind::other_key), found(Kind::malformed), found(Kind::verified, "simplesigning", "k1"),
      found(Kind::verified, "bundle", "k2")},
     3,
     Verdict::Result::verified,
     {}},
};

}  // namespace

BOOST_DATA_TEST_CASE(judge, bdata::make(judge_cases), c) {
  const std::vector<PublicKey> keys = {signer("P-256").key, other().key};
  const Verdict v = pp::trust::judge(c.findings, keys, c.skipped);
  BOOST_TEST(v.result == c.result);
  if (c.result == Verdict::Result::verified) {
    // The first verified finding's key and format, as the test's findings give them.
    const auto first = std::find_if(c.findings.begin(), c.findings.end(),
                                    [](const Finding& f) { return f.kind == Kind::verified; });
    BOOST_TEST(v.key_id == first->key_id);
    BOOST_TEST(v.format == first->format);
    BOOST_TEST(v.reason.empty());
    return;
  }
  BOOST_TEST(v.key_id.empty());
  BOOST_TEST(v.format.empty());
  for (const std::string& part : c.reason)
    BOOST_TEST(has(v.reason, part), v.reason);
  if (c.result == Verdict::Result::invalid) {
    BOOST_TEST(has(v.reason, "(trusted: " + keys[0].id() + ", " + keys[1].id() + ")"), v.reason);
  }
  BOOST_TEST(has(v.reason, "not examined") == (c.skipped > 0), v.reason);
}

BOOST_AUTO_TEST_CASE(verdict_names_are_the_metrics_labels) {
  BOOST_TEST(pp::trust::to_string(Verdict::Result::verified) == "verified");
  BOOST_TEST(pp::trust::to_string(Verdict::Result::unsigned_module) == "unsigned");
  BOOST_TEST(pp::trust::to_string(Verdict::Result::invalid) == "invalid");
}
