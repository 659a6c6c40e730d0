// How modules are packaged in real registries: image indexes and Docker manifest lists (platform
// selection, nesting), against the real docker-registry.
#define BOOST_TEST_MODULE oci_packaging
#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include "tests/integration/stack.hpp"

using namespace pp::test;
using namespace std::chrono_literals;

namespace {

constexpr auto kTimeout = 15s;
constexpr const char* kOciIndex = "application/vnd.oci.image.index.v1+json";
constexpr const char* kDockerList = "application/vnd.docker.distribution.manifest.list.v2+json";

struct Entry {
  std::string manifest_digest;
  std::string media_type;
  std::string os, architecture;  // empty os: no platform
};

// Pushes a wasm module as its own manifest and returns that manifest's descriptor.
Entry push_module(Stack& s, const std::string& repo, const std::string& tag,
                  const std::string& wasm, std::string_view manifest_type = kOciManifest) {
  s.pusher.push_wasm(repo, tag, wasm, "application/wasm", std::string(manifest_type));
  const auto r = http_get(s.registry.url() + "/v2/" + repo + "/manifests/" + tag,
                          {"Accept: " + std::string(manifest_type)});
  return {r.header("Docker-Content-Digest").value_or(""), std::string(manifest_type), "", ""};
}

std::string push_index(Stack& s, const std::string& repo, const std::string& tag,
                       const std::vector<Entry>& entries, const std::string& media_type) {
  nlohmann::json manifests = nlohmann::json::array();
  for (const auto& e : entries) {
    const auto body = http_get(s.registry.url() + "/v2/" + repo + "/manifests/" + e.manifest_digest,
                               {"Accept: " + e.media_type})
                          .body;
    nlohmann::json d = {
        {"mediaType", e.media_type}, {"digest", e.manifest_digest}, {"size", body.size()}};
    if (!e.os.empty()) d["platform"] = {{"os", e.os}, {"architecture", e.architecture}};
    manifests.push_back(d);
  }
  const nlohmann::json index = {
      {"schemaVersion", 2}, {"mediaType", media_type}, {"manifests", manifests}};
  return s.pusher.push_manifest(repo, tag, index.dump(), media_type);
}

}  // namespace

BOOST_AUTO_TEST_CASE(indexes_choose_the_wasm_platform) {
  Stack s;
  const std::string wasm = random_wasm(20'000, 1), linux_bytes = random_wasm(9000, 2);
  Entry wasm_entry = push_module(s, "idx", "wasm-only", wasm);
  Entry linux_entry = push_module(s, "idx", "linux-only", linux_bytes);
  Entry wasip1_entry = push_module(s, "idx", "docker-only", wasm, kDockerManifest);

  wasm_entry.os = "wasi", wasm_entry.architecture = "wasm";
  linux_entry.os = "linux", linux_entry.architecture = "amd64";
  wasip1_entry.os = "wasip1", wasip1_entry.architecture = "wasm";
  Entry attestation = linux_entry;
  attestation.os = attestation.architecture = "unknown";

  push_index(s, "idx", "oci", {linux_entry, wasm_entry, attestation}, kOciIndex);
  push_index(s, "idx", "docker", {linux_entry, wasip1_entry}, kDockerList);
  push_index(s, "idx", "single", {linux_entry}, kOciIndex);
  push_index(s, "idx", "nowasm", {linux_entry, attestation}, kOciIndex);
  const std::string pinned = push_index(s, "idx", "pinned", {linux_entry, wasm_entry}, kOciIndex);

  s.start_proxy();
  PropletClient client(s.broker.url(), s.channel);
  const std::pair<std::string, const std::string*> delivered[] = {
      {s.ref("idx", "oci"), &wasm},
      {s.ref("idx", "docker"), &wasm},
      {s.ref("idx", "single"), &linux_bytes},  // one entry: followed whatever its platform
      {s.registry.host() + "/idx@" + pinned, &wasm},
  };
  for (const auto& [app, bytes] : delivered)
    client.request(app);
  for (const auto& [app, bytes] : delivered) {
    BOOST_TEST_CONTEXT(app) {
      BOOST_TEST((client.wait_complete(app, kTimeout) == std::optional<std::string>(*bytes)));
    }
  }
  client.request(s.ref("idx", "nowasm"));
  const auto refused = client.wait_status(s.ref("idx", "nowasm"), kTimeout);
  BOOST_TEST_REQUIRE(refused.has_value());
  BOOST_TEST(refused->at("error").value("code", "") == "no_matching_platform");
  const std::string message = refused->at("error").value("message", "");
  BOOST_TEST(message.find("linux/amd64") != std::string::npos, message);
  BOOST_TEST(message.find("unknown/unknown") != std::string::npos, message);

  // PROXY_PLATFORM picks another entry.
  s.start_proxy({"PROXY_PLATFORM=linux/amd64"});
  PropletClient other(s.broker.url(), s.channel);
  other.request(s.ref("idx", "oci"));
  BOOST_TEST((other.wait_complete(s.ref("idx", "oci"), kTimeout) ==
              std::optional<std::string>(linux_bytes)));
}

BOOST_AUTO_TEST_CASE(nested_indexes_are_bounded) {
  Stack s;
  const std::string wasm = random_wasm(5000, 3);
  Entry module = push_module(s, "nest", "m", wasm);
  module.os = "wasi", module.architecture = "wasm";
  Entry level1{push_index(s, "nest", "one", {module}, kOciIndex), kOciIndex, "wasi", "wasm"};
  Entry level2{push_index(s, "nest", "two", {level1}, kOciIndex), kOciIndex, "wasi", "wasm"};
  push_index(s, "nest", "three", {level2}, kOciIndex);
  s.start_proxy();
  PropletClient client(s.broker.url(), s.channel);
  client.request(s.ref("nest", "two"));  // index -> index -> manifest: fine
  BOOST_TEST(
      (client.wait_complete(s.ref("nest", "two"), kTimeout) == std::optional<std::string>(wasm)));
  client.request(s.ref("nest", "three"));  // one level more: refused
  const auto refused = client.wait_status(s.ref("nest", "three"), kTimeout);
  BOOST_TEST_REQUIRE(refused.has_value());
  BOOST_TEST(refused->at("error").value("code", "") == "unsupported_manifest");
}
