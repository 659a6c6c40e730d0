// What `propeller-proxy push --sign-key` writes (bundle_sign.hpp), read back by the proxy's own
// verifier (signature_check.hpp): for each key type a bundle check_bundle verifies for the signed
// digest only, the referrer manifest bundle_layer reads, and the fallback index bundle_referrers
// lists, once per referrer.
#define BOOST_TEST_MODULE bundle_sign
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <boost/test/unit_test.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "nodes/clients/oci/base64.hpp"
#include "nodes/clients/oci/digest.hpp"
#include "nodes/trust/bundle_sign.hpp"
#include "nodes/trust/dsse.hpp"
#include "nodes/trust/signature_check.hpp"
#include "tests/unit/test_keys.hpp"

using nlohmann::json;
using pp::trust::Finding;
using pp::trust::PrivateKey;
using pp::trust::PublicKey;
using namespace pp::test;

namespace {

std::string digest_of(std::string_view bytes) {
  pp::oci::Hasher h;
  h.update(bytes);
  return h.finish_digest();
}

const std::string kDigest = digest_of("the signed manifest");
const std::string kOtherDigest = digest_of("another manifest");
const std::string kName = "127.0.0.1:5000/fleet/app";

PrivateKey load_private(const std::string& pem) {
  auto key = PrivateKey::from_pem(pem);
  BOOST_REQUIRE_MESSAGE(key.ok(), (key.ok() ? "" : key.error().message));
  return std::move(key).value();
}

std::string make(const PrivateKey& key, const std::string& digest) {
  auto statement = pp::trust::cosign_sign_statement(kName, digest);
  BOOST_REQUIRE(statement.ok());
  auto bundle = pp::trust::make_bundle(key, *statement);
  BOOST_REQUIRE_MESSAGE(bundle.ok(), (bundle.ok() ? "" : bundle.error().message));
  return *bundle;
}

Finding check(const std::string& bundle, const PublicKey& key, const std::string& digest) {
  const std::vector<PublicKey> keys = {key};
  const std::vector<std::string> digests = {digest};
  return pp::trust::check_bundle(bundle, keys, digests);
}

}  // namespace

// ---- the bundle, per key type ----

struct SignCase {
  const char* keygen;
  bool traditional;  // the key file in PKCS#1 / SEC 1 form rather than PKCS#8
  const char* algorithm;
};

const SignCase kSignCases[] = {
    {"P-256", false, "ecdsa-p256"}, {"P-256", true, "ecdsa-p256"}, {"RSA2048", false, "rsa-2048"},
    {"RSA2048", true, "rsa-2048"},  {"ED25519", false, "ed25519"},
};

BOOST_AUTO_TEST_CASE(each_key_type_makes_a_bundle_the_verifier_accepts_for_its_digest_only) {
  for (const SignCase& c : kSignCases) {
    BOOST_TEST_CONTEXT(c.keygen << (c.traditional ? " traditional" : " pkcs8")) {
      const Pkey k = keygen(c.keygen);
      const PrivateKey key =
          load_private(c.traditional ? traditional_pem(k.get()) : private_pem(k.get()));
      const PublicKey trusted = load_public(k.get());
      BOOST_TEST(key.public_key().id() == trusted.id());
      BOOST_TEST((key.public_key() == trusted));
      BOOST_TEST(key.public_key().algorithm() == c.algorithm);
      const std::string bundle = make(key, kDigest);

      const Finding verified = check(bundle, trusted, kDigest);
      BOOST_TEST(static_cast<int>(verified.kind) == static_cast<int>(Finding::Kind::verified),
                 verified.detail);
      BOOST_TEST(verified.format == "bundle");
      BOOST_TEST(verified.key_id == trusted.id());

      const Finding other_digest = check(bundle, trusted, kOtherDigest);
      BOOST_TEST(static_cast<int>(other_digest.kind) ==
                 static_cast<int>(Finding::Kind::other_digest));
      BOOST_TEST(other_digest.detail == kDigest);

      const Pkey stranger = keygen(c.keygen);
      const Finding other_key = check(bundle, load_public(stranger.get()), kDigest);
      BOOST_TEST(static_cast<int>(other_key.kind) == static_cast<int>(Finding::Kind::other_key));
    }
  }
}

BOOST_AUTO_TEST_CASE(the_bundle_has_the_shape_sigstore_sign_writes) {
  const Pkey k = keygen("P-256");
  const PrivateKey key = load_private(private_pem(k.get()));
  const json bundle = json::parse(make(key, kDigest));
  BOOST_TEST(bundle.at("mediaType") == pp::trust::bundle_media_type);
  const json& material = bundle.at("verificationMaterial");
  BOOST_TEST(!material.contains("tlogEntries"));
  BOOST_TEST(!material.contains("certificate"));
  // The hint is base64 SHA-256 of the key's SPKI, whose first 8 bytes are the proxy's key id.
  const std::string hint = material.at("publicKey").at("hint");
  BOOST_TEST(hint == key.hint());
  unsigned char hashed[32];
  BOOST_TEST_REQUIRE(EVP_Digest(key.public_key().spki().data(), key.public_key().spki().size(),
                                hashed, nullptr, EVP_sha256(), nullptr) == 1);
  unsigned char encoded[45];
  BOOST_TEST_REQUIRE(EVP_EncodeBlock(encoded, hashed, sizeof hashed) == 44);
  BOOST_TEST(hint == reinterpret_cast<const char*>(encoded));
  BOOST_TEST(digest_of(key.public_key().spki()).substr(7, 16) == key.public_key().id());

  const json& envelope = bundle.at("dsseEnvelope");
  BOOST_TEST(envelope.at("payloadType") == pp::trust::in_toto_payload_type);
  BOOST_TEST(envelope.at("signatures").size() == 1u);
  BOOST_TEST(envelope.at("signatures").at(0).at("keyid") == hint);
  const auto payload = pp::oci::base64_decode(envelope.at("payload").get<std::string>());
  BOOST_TEST_REQUIRE(payload.has_value());
  const json statement = json::parse(*payload);
  BOOST_TEST(statement.at("_type") == "https://in-toto.io/Statement/v1");
  BOOST_TEST(statement.at("predicateType") == pp::trust::cosign_sign_predicate_type);
  BOOST_TEST(statement.at("predicate") == json::object());
  BOOST_TEST(statement.at("subject") ==
             json::parse(R"([{"name":")" + kName + R"(","digest":{"sha256":")" + kDigest.substr(7) +
                         R"("}}])"));
}

BOOST_AUTO_TEST_CASE(a_statement_names_a_sha256_digest_only) {
  for (const std::string& bad :
       {std::string("sha256:abc"), "sha512:" + std::string(128, 'a'), kDigest.substr(7)}) {
    const auto statement = pp::trust::cosign_sign_statement(kName, bad);
    BOOST_TEST(!statement.ok(), bad);
  }
}

// ---- key files refused ----

struct RefusedCase {
  const char* name;
  std::function<std::string()> pem;
  const char* says;
};

const RefusedCase kRefusedCases[] = {
    {"P-384", [] { return private_pem(keygen("P-384").get()); }, "ECDSA P-384"},
    {"secp256k1", [] { return private_pem(keygen("secp256k1").get()); }, "curve secp256k1"},
    {"RSA1024", [] { return private_pem(keygen("RSA1024").get()); }, "RSA with 1024 bits"},
    {"public key", [] { return public_pem(keygen("P-256").get()); }, "found a PUBLIC KEY block"},
    {"encrypted", [] { return encrypted_pem(keygen("P-256").get()); }, "an encrypted private key"},
    {"not PEM", [] { return std::string("hello"); }, "found no PEM block"},
    {"oversize", [] { return std::string(100 * 1024, 'A'); }, "far more than a key"},
    {"broken block",
     [] { return std::string("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"); },
     "does not parse"},
};

BOOST_AUTO_TEST_CASE(unusable_key_files_are_refused_saying_why) {
  for (const RefusedCase& c : kRefusedCases) {
    BOOST_TEST_CONTEXT(c.name) {
      const auto key = PrivateKey::from_pem(c.pem());
      BOOST_TEST_REQUIRE(!key.ok());
      BOOST_TEST(key.error().code == pp::errc::proxy_error);
      BOOST_TEST(key.error().message.find(c.says) != std::string::npos, key.error().message);
    }
  }
  const auto missing = PrivateKey::load("/nonexistent/signer.pem");
  BOOST_TEST_REQUIRE(!missing.ok());
  BOOST_TEST(missing.error().message.find("private key /nonexistent/signer.pem is unreadable") !=
                 std::string::npos,
             missing.error().message);
}

// ---- what is attached ----

BOOST_AUTO_TEST_CASE(the_referrer_manifest_is_what_the_verifier_reads) {
  const pp::oci::Descriptor subject{pp::oci::media::oci_manifest, kDigest, 512};
  const pp::oci::Descriptor bundle{std::string(pp::trust::bundle_media_type), kOtherDigest, 1500};
  const std::string manifest = pp::trust::bundle_manifest(
      subject, bundle, pp::trust::cosign_sign_predicate_type, "2026-01-02T03:04:05Z");

  const auto layer = pp::trust::bundle_layer(manifest, kDigest);
  BOOST_TEST_REQUIRE(layer.ok());
  BOOST_TEST_REQUIRE(layer->has_value());
  BOOST_TEST((*layer)->digest == bundle.digest);
  BOOST_TEST((*layer)->size == bundle.size);
  BOOST_TEST(!pp::trust::bundle_layer(manifest, kOtherDigest).ok());

  const json doc = json::parse(manifest);
  BOOST_TEST(doc.at("config").at("mediaType") == pp::trust::oci_empty_media_type);
  BOOST_TEST(doc.at("config").at("digest") == digest_of(pp::trust::oci_empty_blob));
  BOOST_TEST(doc.at("annotations").at("dev.sigstore.bundle.content") == "dsse-envelope");
  BOOST_TEST(doc.at("annotations").at("dev.sigstore.bundle.predicateType") ==
             pp::trust::cosign_sign_predicate_type);
}

BOOST_AUTO_TEST_CASE(the_fallback_index_lists_each_referrer_once) {
  const pp::oci::Descriptor subject{pp::oci::media::oci_manifest, kDigest, 512};
  const auto referrer = [&](const std::string& bundle_digest) {
    return pp::trust::bundle_manifest(
        subject, {std::string(pp::trust::bundle_media_type), bundle_digest, 100},
        pp::trust::cosign_sign_predicate_type, "2026-01-02T03:04:05Z");
  };
  const std::string first = referrer(digest_of("bundle 1"));
  const std::string second = referrer(digest_of("bundle 2"));

  const auto created = pp::trust::add_to_fallback_index(std::nullopt, first);
  BOOST_TEST_REQUIRE(created.ok());
  BOOST_TEST_REQUIRE(created->has_value());
  BOOST_TEST(json::parse(**created).at("mediaType") == pp::oci::media::oci_index);
  const auto listed = pp::trust::bundle_referrers(**created);
  BOOST_TEST_REQUIRE(listed.ok());
  BOOST_TEST_REQUIRE(listed->size() == 1u);
  BOOST_TEST(listed->front().digest == digest_of(first));
  BOOST_TEST(listed->front().size == first.size());
  const json entry = json::parse(**created).at("manifests").at(0);
  BOOST_TEST(entry.at("artifactType") == pp::trust::bundle_media_type);
  BOOST_TEST(entry.at("annotations").at("dev.sigstore.bundle.content") == "dsse-envelope");

  const auto again = pp::trust::add_to_fallback_index(**created, first);
  BOOST_TEST_REQUIRE(again.ok());
  BOOST_TEST(!again->has_value());  // already listed: nothing to push

  const auto both = pp::trust::add_to_fallback_index(**created, second);
  BOOST_TEST_REQUIRE(both.ok());
  BOOST_TEST_REQUIRE(both->has_value());
  const auto two = pp::trust::bundle_referrers(**both);
  BOOST_TEST_REQUIRE(two.ok());
  BOOST_TEST_REQUIRE(two->size() == 2u);
  BOOST_TEST(two->at(0).digest == digest_of(first));
  BOOST_TEST(two->at(1).digest == digest_of(second));
}

BOOST_AUTO_TEST_CASE(the_fallback_index_keeps_what_others_listed_and_refuses_what_is_no_index) {
  const std::string sbom =
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",)"
      R"("manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json",)"
      R"("artifactType":"application/spdx+json","digest":")" +
      digest_of("sbom") + R"(","size":7}]})";
  const std::string manifest =
      pp::trust::bundle_manifest({pp::oci::media::oci_manifest, kDigest, 512},
                                 {std::string(pp::trust::bundle_media_type), kOtherDigest, 100},
                                 pp::trust::cosign_sign_predicate_type, "2026-01-02T03:04:05Z");
  const auto added = pp::trust::add_to_fallback_index(sbom, manifest);
  BOOST_TEST_REQUIRE(added.ok());
  BOOST_TEST_REQUIRE(added->has_value());
  const json index = json::parse(**added);
  BOOST_TEST_REQUIRE(index.at("manifests").size() == 2u);
  BOOST_TEST(index.at("manifests").at(0).at("artifactType") == "application/spdx+json");
  const auto bundles = pp::trust::bundle_referrers(**added);
  BOOST_TEST_REQUIRE(bundles.ok());
  BOOST_TEST(bundles->size() == 1u);  // the SBOM is not a bundle

  struct Bad {
    const char* index;
    const char* says;
  };
  for (const Bad& bad : {
           Bad{"[]", "is not a JSON object"},
           Bad{R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]})",
               "not an image index"},
           Bad{R"({"schemaVersion":2})", "has no manifests array"},
       }) {
    const auto refused = pp::trust::add_to_fallback_index(std::string_view(bad.index), manifest);
    BOOST_TEST_REQUIRE(!refused.ok(), bad.index);
    BOOST_TEST(refused.error().message.find(bad.says) != std::string::npos,
               refused.error().message);
  }
}
