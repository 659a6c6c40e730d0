// The Sigstore fixture (tests/support/sigstore/sigstore-fixture.mjs) against a real
// docker-registry with htpasswd auth: Sigstore's own JavaScript libraries sign an in-toto statement
// for a pushed wasm image with a key made by OpenSSL, attach the bundle (docker-registry 2.8 has no
// referrers API, so @sigstore/oci writes the OCI 1.1 fallback index at tag sha256-<hex>), and
// verify it. What the registry then holds is read back with plain HTTP, independently of the
// fixture.
#define BOOST_TEST_MODULE sigstore_fixture
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/integration/sigstore_fixture.hpp"
#include "tests/support/print_optional.hpp"
#include "tests/support/proplet_client.hpp"  // base64_encode, base64_decode_strict
#include "tests/support/registry.hpp"
#include "tests/support/registry_push.hpp"

using namespace pp::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view kBundleType = "application/vnd.dev.sigstore.bundle.v0.3+json";
constexpr std::string_view kIndexType = "application/vnd.oci.image.index.v1+json";
const std::string kUser = "signer";
const std::string kPassword = "pw-sigstore-fixture";

// The statement inside a bundle's DSSE envelope.
json statement_of(const json& bundle) {
  const auto payload =
      base64_decode_strict(bundle.at("dsseEnvelope").at("payload").get<std::string>());
  BOOST_TEST_REQUIRE(payload.has_value());
  return json::parse(*payload);
}

}  // namespace

BOOST_AUTO_TEST_CASE(bundle_attached_to_an_image_and_verified) {
  require_node_modules();
  TempDir dir("pp-sigstore-");
  Registry registry(htpasswd_registry(kUser, kPassword));
  const std::string auth = "Authorization: Basic " + base64_encode(kUser + ":" + kPassword);
  RegistryPusher pusher(registry.url());
  pusher.set_authorization("Basic " + base64_encode(kUser + ":" + kPassword));
  pusher.push_wasm("signed/app", "v1", random_wasm(5000, 7));
  const std::string accept = "Accept: " + std::string(kOciManifest);
  const HttpResponse image =
      http_get(registry.url() + "/v2/signed/app/manifests/v1", {auth, accept}, kTimeout);
  BOOST_TEST_REQUIRE(image.status == 200, image.body);
  const std::string digest = sha256_digest(image.body);
  BOOST_TEST(image.header("Docker-Content-Digest") == std::optional<std::string>(digest));
  const std::string hex = digest.substr(7);

  make_key(dir, "signer", kP256);
  make_key(dir, "other", kP256);
  const std::string bundle_path = dir.file("bundle.json");
  const Run sign = fixture(dir, {"sign", "--key", dir.file("signer.key"), "--digest", digest,
                                 "--name", registry.host() + "/signed/app", "--out", bundle_path});
  BOOST_TEST_REQUIRE(sign.code == 0, sign.output);
  const std::string bundle_bytes = read_file(bundle_path);
  const json bundle = json::parse(bundle_bytes);
  BOOST_TEST_MESSAGE("bundle:\n" << bundle_bytes);
  BOOST_TEST(bundle.at("mediaType") == kBundleType);
  BOOST_TEST(bundle.at("dsseEnvelope").at("payloadType") == "application/vnd.in-toto+json");
  const json statement = statement_of(bundle);
  BOOST_TEST(statement.at("_type") == "https://in-toto.io/Statement/v1");
  BOOST_TEST(statement.at("subject").size() == 1);
  BOOST_TEST(statement.at("subject").at(0).at("digest").at("sha256") == hex);
  BOOST_TEST(statement.at("subject").at(0).at("name") == registry.host() + "/signed/app");
  // Offline: a key's hint, no certificate, no transparency-log entry, no timestamp.
  const json& material = bundle.at("verificationMaterial");
  BOOST_TEST(!material.at("publicKey").at("hint").get<std::string>().empty());
  BOOST_TEST(!material.contains("certificate"));
  BOOST_TEST(material.value("tlogEntries", json::array()).empty());

  const Run attach = fixture(
      dir, {"attach", "--bundle", bundle_path, "--image", registry.host() + "/signed/app@" + digest,
            "--user", kUser, "--password", kPassword});
  BOOST_TEST_REQUIRE(attach.code == 0, attach.output);

  // No referrers API in docker-registry 2.8: the referrer is listed by the tag schema.
  const HttpResponse referrers =
      http_get(registry.url() + "/v2/signed/app/referrers/" + digest, {auth}, kTimeout);
  BOOST_TEST(referrers.status == 404);
  const HttpResponse index = http_get(registry.url() + "/v2/signed/app/manifests/sha256-" + hex,
                                      {auth, "Accept: " + std::string(kIndexType)}, kTimeout);
  BOOST_TEST_REQUIRE(index.status == 200, index.body);
  BOOST_TEST(index.header("Content-Type") == std::optional<std::string>(kIndexType));
  const json listing = json::parse(index.body);
  BOOST_TEST_MESSAGE("fallback index at sha256-" << hex << ":\n" << index.body);
  BOOST_TEST(listing.at("mediaType") == kIndexType);
  BOOST_TEST_REQUIRE(listing.at("manifests").size() == 1);
  const json& entry = listing.at("manifests").at(0);
  BOOST_TEST(entry.at("mediaType") == kOciManifest);
  BOOST_TEST(entry.at("artifactType") == kBundleType);
  BOOST_TEST(entry.at("annotations").at("dev.sigstore.bundle.content") == "dsse-envelope");
  // What attach printed is the manifest the index lists.
  const json descriptor = json::parse(attach.output.substr(attach.output.find('{')));
  BOOST_TEST(descriptor.at("digest") == entry.at("digest"));

  const HttpResponse referrer =
      http_get(registry.url() + "/v2/signed/app/manifests/" + entry.at("digest").get<std::string>(),
               {auth, accept}, kTimeout);
  BOOST_TEST_REQUIRE(referrer.status == 200, referrer.body);
  BOOST_TEST(sha256_digest(referrer.body) == entry.at("digest"));
  BOOST_TEST(referrer.body.size() == entry.at("size").get<std::size_t>());
  const json manifest = json::parse(referrer.body);
  BOOST_TEST_MESSAGE("referrer manifest:\n" << referrer.body);
  BOOST_TEST(manifest.at("artifactType") == kBundleType);
  BOOST_TEST(manifest.at("config").at("mediaType") == "application/vnd.oci.empty.v1+json");
  BOOST_TEST(manifest.at("subject").at("digest") == digest);
  BOOST_TEST(manifest.at("subject").at("size") == image.body.size());
  BOOST_TEST_REQUIRE(manifest.at("layers").size() == 1);
  const json& layer = manifest.at("layers").at(0);
  BOOST_TEST(layer.at("mediaType") == kBundleType);
  BOOST_TEST(layer.at("digest") == sha256_digest(bundle_bytes));
  BOOST_TEST(layer.at("size") == bundle_bytes.size());
  const HttpResponse blob =
      http_get(registry.url() + "/v2/signed/app/blobs/" + layer.at("digest").get<std::string>(),
               {auth}, kTimeout);
  BOOST_TEST_REQUIRE(blob.status == 200);
  BOOST_TEST(blob.body == bundle_bytes);

  // The bundle as the registry serves it verifies, with this key and this digest only.
  const std::string fetched = dir.file("fetched.json");
  write_file(fetched, blob.body);
  const Run good = fixture(
      dir, {"verify", "--bundle", fetched, "--key", dir.file("signer.pub"), "--digest", digest});
  BOOST_TEST(good.code == 0, good.output);
  const Run other_key = fixture(
      dir, {"verify", "--bundle", fetched, "--key", dir.file("other.pub"), "--digest", digest});
  BOOST_TEST(other_key.code == 1, other_key.output);
  BOOST_TEST(other_key.output.find("signature verification failed") != std::string::npos);
  const Run other_digest =
      fixture(dir, {"verify", "--bundle", fetched, "--key", dir.file("signer.pub"), "--digest",
                    sha256_digest("other")});
  BOOST_TEST(other_digest.code == 1, other_digest.output);
  BOOST_TEST(other_digest.output.find("no in-toto subject has digest") != std::string::npos);
}

// Each algorithm the signer supports makes a bundle that its key verifies and another key of the
// same kind does not; P-384 is refused (sigstore-fixture.mjs says why).
BOOST_AUTO_TEST_CASE(each_key_algorithm_signs_and_verifies) {
  require_node_modules();
  TempDir dir("pp-sigstore-");
  struct Case {
    std::string name;
    std::vector<std::string> genpkey;
  };
  const Case cases[] = {
      {"p256", kP256},
      {"ed25519", kEd25519},
      {"rsa", kRsa2048},
  };
  const std::string digest = sha256_digest("a module");
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.name) {
      make_key(dir, c.name, c.genpkey);
      make_key(dir, c.name + "-other", c.genpkey);
      const std::string bundle = dir.file(c.name + ".json");
      const Run sign = fixture(
          dir, {"sign", "--key", dir.file(c.name + ".key"), "--digest", digest, "--out", bundle});
      BOOST_TEST_REQUIRE(sign.code == 0, sign.output);
      BOOST_TEST(
          !statement_of(json::parse(read_file(bundle))).at("subject").at(0).contains("name"));
      const Run good = fixture(dir, {"verify", "--bundle", bundle, "--key",
                                     dir.file(c.name + ".pub"), "--digest", digest});
      BOOST_TEST(good.code == 0, good.output);
      const Run other = fixture(dir, {"verify", "--bundle", bundle, "--key",
                                      dir.file(c.name + "-other.pub"), "--digest", digest});
      BOOST_TEST(other.code == 1, other.output);
    }
  }
  make_key(dir, "p384", kP384);
  const Run p384 = fixture(dir, {"sign", "--key", dir.file("p384.key"), "--digest", digest, "--out",
                                 dir.file("p384.json")});
  BOOST_TEST(p384.code == 2, p384.output);
  BOOST_TEST(p384.output.find("unsupported key") != std::string::npos);
}
