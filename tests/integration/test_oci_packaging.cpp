// How modules are packaged in real registries: image indexes and Docker manifest lists (platform
// selection, nesting), and layers whose bytes decide what they hold (`docker buildx --platform
// wasi/wasm` tar layers, `oras push` raw bytes labelled tar), against the real docker-registry.
#define BOOST_TEST_MODULE oci_packaging
#include <httplib.h>
#include <openssl/evp.h>

#include <boost/test/unit_test.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/integration/stack.hpp"
#include "tests/support/tar_layer.hpp"

using namespace pp::test;
using namespace std::chrono_literals;

namespace {

constexpr auto kTimeout = 30s;
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

constexpr const char* kTar = "application/vnd.oci.image.layer.v1.tar";
constexpr const char* kTarGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
constexpr const char* kTarZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
constexpr const char* kDockerTarGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";

struct Layer {
  std::string bytes;
  std::string media_type;
};

// An image as build tools push it: a config blob, `layers` in order, a manifest tagged `tag`.
// Returns the manifest's descriptor, to be listed in an index.
Entry push_image(Stack& s, const std::string& repo, const std::string& tag,
                 const std::vector<Layer>& layers, std::string_view manifest_type = kOciManifest) {
  const bool docker = manifest_type == kDockerManifest;
  const Desc config = s.pusher.push_blob(repo, R"({"architecture":"wasm","os":"wasip1"})",
                                         docker ? "application/vnd.docker.container.image.v1+json"
                                                : "application/vnd.oci.image.config.v1+json");
  std::vector<Desc> descs;
  for (const auto& layer : layers)
    descs.push_back(s.pusher.push_blob(repo, layer.bytes, layer.media_type));
  const std::string body = RegistryPusher::manifest_json(config, descs, manifest_type);
  return {s.pusher.push_manifest(repo, tag, body, manifest_type), std::string(manifest_type), "",
          ""};
}

nlohmann::json failure_of(PropletClient& client, const std::string& app) {
  client.request(app);
  const auto status = client.wait_status(app, kTimeout);
  BOOST_TEST_REQUIRE(status.has_value());
  BOOST_TEST_REQUIRE(status->value("state", "") == "failed");
  return status->at("error");
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

BOOST_AUTO_TEST_CASE(modules_are_found_by_content_and_unpacked) {
  Stack s;
  std::vector<std::pair<std::string, std::string>> expected;  // app, module
  const auto module = [&](const std::string& tag) {
    expected.emplace_back(s.ref("packed", tag),
                          random_wasm(30'000 + expected.size() * 1111, 100 + expected.size()));
    return expected.back().second;
  };
  // docker buildx --platform wasi/wasm: an index with the wasi/wasm image (and an attestation
  // manifest beside it), whose one layer is a tar+gzip with the module at its root.
  {
    const std::string wasm = module("buildx");
    Entry image = push_image(
        s, "packed", "buildx-image",
        {{make_tar({{"./", "", true}, {"./app.wasm", wasm}}, Compression::gzip), kTarGzip}});
    image.os = "wasi", image.architecture = "wasm";
    Entry attestation = push_image(s, "packed", "attestation",
                                   {{R"({"predicate":{}})", "application/vnd.in-toto+json"}});
    attestation.os = attestation.architecture = "unknown";
    push_index(s, "packed", "buildx", {image, attestation}, kOciIndex);
  }
  push_image(s, "packed", "zstd",
             {{make_tar({{"usr/lib/app.wasm", module("zstd")}}, Compression::zstd), kTarZstd}});
  push_image(s, "packed", "plain",
             {{make_tar({{"app.wasm", module("plain")}}, Compression::none), kTar}});
  push_image(s, "packed", "docker",
             {{make_tar({{"app.wasm", module("docker")}}, Compression::gzip), kDockerTarGzip}},
             kDockerManifest);
  // oras push without a media type: the raw module, labelled as a tar.
  push_image(s, "packed", "oras-raw", {{module("oras-raw"), kTar}});
  // A larger layer without the module comes first and is passed over.
  push_image(
      s, "packed", "two-layers",
      {{make_tar({{"share/data.bin", random_wasm(90'000, 9).substr(8)}}, Compression::none), kTar},
       {make_tar({{"app.wasm", module("two-layers")}}, Compression::gzip), kTarGzip}});

  s.start_proxy({"PROXY_CHUNK_SIZE=7000"});
  PropletClient client(s.broker.url(), s.channel);
  for (const auto& [app, wasm] : expected)
    client.request(app);
  for (const auto& [app, wasm] : expected) {
    BOOST_TEST_CONTEXT(app) {
      BOOST_TEST((client.wait_complete(app, kTimeout) == std::optional<std::string>(wasm)));
      const auto a = client.snapshot(app);
      // Every chunk carries the module's own digest, which the proplet can check.
      BOOST_TEST(a.digest == sha256_digest(wasm));
      BOOST_TEST(a.size == wasm.size());
      BOOST_TEST(a.rejected == 0u);
    }
  }
  BOOST_TEST(s.proxy->log().find("packaging=tar+gzip path=./app.wasm") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(layers_without_a_module_say_what_they_hold) {
  Stack s;
  const std::string wasm = random_wasm(20'000, 41);
  push_image(s, "empty", "readme",
             {{make_tar({{"README", "hello"}}, Compression::gzip), kTarGzip}});
  push_image(s, "empty", "ambiguous",
             {{make_tar({{"a.wasm", wasm}, {"b.wasm", wasm}}, Compression::none), kTar}});
  push_image(s, "empty", "junk",
             {{std::string(4000, 'j'), "application/octet-stream"},
              {make_tar({{"notes.txt", "x"}}, Compression::zstd), kTarZstd}});
  // Small once packed, over the limit once unpacked.
  const std::string huge = std::string("\0asm\1\0\0\0", 8) + std::string(400'000, '\0');
  push_image(s, "empty", "bomb", {{make_tar({{"app.wasm", huge}}, Compression::gzip), kTarGzip}});
  push_image(s, "empty", "oversized", {{random_wasm(300'000, 42).substr(4), kTar}});
  push_image(s, "empty", "good", {{make_tar({{"app.wasm", wasm}}, Compression::gzip), kTarGzip}});
  s.start_proxy({"PROXY_MAX_BLOB_SIZE=200000"});
  PropletClient client(s.broker.url(), s.channel);

  const auto readme = failure_of(client, s.ref("empty", "readme"));
  BOOST_TEST(readme.value("code", "") == "no_wasm_layer");
  BOOST_TEST(readme.value("message", "").find("(tar+gzip) has no .wasm file (it has README)") !=
             std::string::npos);
  const auto ambiguous = failure_of(client, s.ref("empty", "ambiguous"));
  BOOST_TEST(ambiguous.value("code", "") == "no_wasm_layer");
  BOOST_TEST(ambiguous.value("message", "").find("2 .wasm files") != std::string::npos);
  // Every layer examined is accounted for.
  const auto junk = failure_of(client, s.ref("empty", "junk"));
  BOOST_TEST(junk.value("code", "") == "no_wasm_layer");
  BOOST_TEST(junk.value("message", "").find("nor a readable tar archive") != std::string::npos);
  BOOST_TEST(junk.value("message", "").find("(it has notes.txt)") != std::string::npos);
  const auto bomb = failure_of(client, s.ref("empty", "bomb"));
  BOOST_TEST(bomb.value("code", "") == "too_large");
  BOOST_TEST(bomb.value("message", "").find("app.wasm in layer") != std::string::npos);
  const auto oversized = failure_of(client, s.ref("empty", "oversized"));
  BOOST_TEST(oversized.value("code", "") == "too_large");
  BOOST_TEST(oversized.value("message", "").find("over PROXY_MAX_BLOB_SIZE (200000)") !=
             std::string::npos);
  // One log line per failure, naming the code; and the service keeps serving.
  BOOST_TEST(s.proxy->wait_log("code=no_wasm_layer", kTimeout));
  client.request(s.ref("empty", "good"));
  BOOST_TEST(
      (client.wait_complete(s.ref("empty", "good"), kTimeout) == std::optional<std::string>(wasm)));
}

BOOST_AUTO_TEST_CASE(a_packed_layer_is_verified_before_it_is_unpacked) {
  Stack s;
  const std::string wasm = random_wasm(10'000, 51);
  const std::string tar = make_tar({{"app.wasm", wasm}}, Compression::none);
  push_image(s, "tampered", "v1", {{tar, kTar}});
  {  // change a byte of the module inside the stored tar: still a valid tar, other content
    std::fstream f(s.blob_path(sha256_digest(tar)),
                   std::ios::in | std::ios::out | std::ios::binary);
    BOOST_TEST_REQUIRE(f.good());
    const auto at = static_cast<std::streamoff>(tar.find(wasm.substr(100, 32)) + 5);
    f.seekp(at);
    f.put(static_cast<char>(tar[static_cast<std::size_t>(at)] ^ 0x5a));
  }
  s.start_proxy();
  PropletClient client(s.broker.url(), s.channel);
  const auto error = failure_of(client, s.ref("tampered", "v1"));
  BOOST_TEST(error.value("code", "") == "digest_mismatch");
  BOOST_TEST(client.snapshot(s.ref("tampered", "v1")).received == 0u);  // nothing was sent
}

// The image spec registers sha512 too; docker-registry stores such a blob and serves it by its
// sha512 digest, and the proxy must verify it with sha512 (and say so in every chunk).
BOOST_AUTO_TEST_CASE(sha512_descriptors_are_verified_with_sha512) {
  Stack s;
  const auto sha512_digest = [](std::string_view bytes) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha512(), nullptr);
    std::string out = "sha512:";
    for (unsigned i = 0; i < len; ++i) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += kHex[md[i] >> 4];
      out += kHex[md[i] & 15];
    }
    return out;
  };
  const auto push_sha512_image = [&](const std::string& repo, const std::string& wasm) {
    const auto opened = http_request("POST", s.registry.url() + "/v2/" + repo + "/blobs/uploads/");
    BOOST_TEST_REQUIRE(opened.status == 202);
    std::string location = opened.header("Location").value_or("");
    if (location.starts_with("/")) location = s.registry.url() + location;
    const Desc layer{"application/wasm", sha512_digest(wasm), wasm.size()};
    const auto stored = http_request("PUT", location + "&digest=" + layer.digest,
                                     {"Content-Type: application/octet-stream"}, wasm);
    BOOST_TEST_REQUIRE(stored.status == 201, stored.body);
    const Desc config = s.pusher.push_blob(repo, "{}", "application/vnd.wasm.config.v0+json");
    s.pusher.push_manifest(repo, "v1", RegistryPusher::manifest_json(config, {layer}, kOciManifest),
                           kOciManifest);
    return layer.digest;
  };
  const std::string wasm = random_wasm(12'000, 61), tampered = random_wasm(9'000, 62);
  const std::string digest = push_sha512_image("five-twelve", wasm);
  push_sha512_image("five-twelve-bad", tampered);
  {  // the registry keeps the bytes under their sha256: flip one there
    std::fstream f(s.blob_path(sha256_digest(tampered)),
                   std::ios::in | std::ios::out | std::ios::binary);
    BOOST_TEST_REQUIRE(f.good());
    f.seekp(100);
    f.put(static_cast<char>(tampered[100] ^ 0x5a));
  }
  s.start_proxy({"PROXY_CHUNK_SIZE=5000"});
  PropletClient client(s.broker.url(), s.channel);
  const std::string app = s.ref("five-twelve", "v1");
  client.request(app);
  BOOST_TEST((client.wait_complete(app, kTimeout) == std::optional<std::string>(wasm)));
  BOOST_TEST(client.snapshot(app).digest == digest);
  const auto error = failure_of(client, s.ref("five-twelve-bad", "v1"));
  BOOST_TEST(error.value("code", "") == "digest_mismatch");
  BOOST_TEST(error.value("message", "").find("sha512:") != std::string::npos);
}

// Registries cap manifests at 4 MiB; the proxy stops reading one at that size. docker-registry
// neither stores nor serves a larger one, so a small server stands in for a registry that would.
BOOST_AUTO_TEST_CASE(a_manifest_over_4_mib_is_too_large) {
  Mosquitto broker;
  const std::string channel = "ch-huge";
  httplib::Server server;
  const std::string huge = R"({"schemaVersion":2,"mediaType":")" + std::string(kOciManifest) +
                           R"(","annotations":{"padding":")" + std::string(5u << 20, 'p') +
                           R"("}})";
  server.Get("/v2/huge/manifests/v1", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(huge, std::string(kOciManifest));
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread serving([&] { server.listen_after_bind(); });
  while (!server.is_running())
    std::this_thread::sleep_for(1ms);

  ProxyProcess proxy({"PROPLET_MQTT_ADDRESS=" + broker.url(), "PROPLET_CHANNEL_ID=" + channel,
                      "PROXY_REGISTRY_URL=http://127.0.0.1:" + std::to_string(port)});
  PropletClient client(broker.url(), channel);
  const auto error = failure_of(client, "127.0.0.1:" + std::to_string(port) + "/huge:v1");
  BOOST_TEST(error.value("code", "") == "too_large", error.dump());
  BOOST_TEST(error.value("message", "").find("larger than 4 MiB") != std::string::npos);
  server.stop();
  serving.join();
}
