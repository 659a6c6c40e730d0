// End to end through MQTT: a proplet-like client asks for a module and reassembles what the proxy
// publishes, against a real mosquitto and a real docker-registry.
#define BOOST_TEST_MODULE delivery
#include <signal.h>

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>

#include "tests/integration/stack.hpp"

using namespace pp::test;
using namespace std::chrono_literals;

namespace {

constexpr auto kTimeout = 30s;

void expect_module(PropletClient& client, const std::string& app, const std::string& wasm,
                   std::uint64_t expected_chunks) {
  const auto got = client.wait_complete(app, kTimeout);
  BOOST_TEST_REQUIRE(got.has_value(), "no complete module for " << app);
  BOOST_TEST((*got == wasm), "reassembled bytes differ for " << app);
  // The final status follows every chunk of the transfer: a duplicate would have come by then.
  BOOST_TEST_REQUIRE(client.wait_status(app, kTimeout).has_value(), "no final status for " << app);
  const auto a = client.snapshot(app);
  BOOST_TEST(a.total_chunks == expected_chunks);
  BOOST_TEST(a.digest == sha256_digest(wasm));
  BOOST_TEST(a.size == wasm.size());
  BOOST_TEST(a.rejected == 0u);
  BOOST_TEST(a.duplicates == 0u);
  BOOST_TEST(a.in_order);
}

}  // namespace

BOOST_AUTO_TEST_CASE(delivers_a_module_in_the_proplet_format) {
  Stack s;
  const std::string wasm = random_wasm(1'300'000, 1);
  s.pusher.push_wasm("hello", "v1", wasm);
  s.start_proxy();
  PropletClient client(s.broker.url(), s.channel);
  const std::string app = s.ref("hello", "v1");
  client.request(app);
  expect_module(client, app, wasm, 3);
  BOOST_TEST(s.proxy->wait_log("transfer completed app_name=" + app, kTimeout));
}

BOOST_AUTO_TEST_CASE(boundary_sizes_reassemble_exactly) {
  Stack s;
  constexpr std::size_t chunk = 1000;
  struct Case {
    std::size_t size;
    std::uint64_t chunks;
  };
  const Case cases[] = {{0, 1}, {1, 1}, {chunk - 1, 1}, {chunk, 1}, {chunk + 1, 2}, {3 * chunk, 3}};
  for (const auto& c : cases) {
    s.pusher.push_wasm("sizes", "s" + std::to_string(c.size), random_wasm(c.size, c.size));
  }
  s.start_proxy({"PROXY_CHUNK_SIZE=" + std::to_string(chunk)});
  PropletClient client(s.broker.url(), s.channel);
  for (const auto& c : cases)
    client.request(s.ref("sizes", "s" + std::to_string(c.size)));
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT("size " << c.size) {
      expect_module(client, s.ref("sizes", "s" + std::to_string(c.size)),
                    random_wasm(c.size, c.size), c.chunks);
    }
  }
}

BOOST_AUTO_TEST_CASE(tags_digests_and_default_registry_are_honoured) {
  Stack s;
  const std::string v1 = random_wasm(20'000, 11), v2 = random_wasm(30'000, 12),
                    latest = random_wasm(25'000, 13);
  s.pusher.push_wasm("app", "v1", v1);
  s.pusher.push_wasm("app", "v2", v2);
  s.pusher.push_wasm("app", "latest", latest);
  // The manifest digest of v1, as the registry reports it.
  const auto head = http_get(s.registry.url() + "/v2/app/manifests/v1",
                             {"Accept: application/vnd.oci.image.manifest.v1+json"});
  const std::string v1_manifest = head.header("Docker-Content-Digest").value_or("");
  BOOST_TEST_REQUIRE(!v1_manifest.empty());
  s.start_proxy();
  PropletClient client(s.broker.url(), s.channel);
  const std::pair<std::string, const std::string*> cases[] = {
      {s.ref("app", "v1"), &v1},
      {s.ref("app", "v2"), &v2},
      {s.registry.host() + "/app", &latest},                // no tag: latest
      {s.registry.host() + "/app@" + v1_manifest, &v1},     // digest pins the content
      {s.registry.host() + "/app:v2@" + v1_manifest, &v1},  // digest wins over the tag
      {"app:v2", &v2},                                      // no host: PROXY_REGISTRY_URL's
  };
  for (const auto& [app, wasm] : cases)
    client.request(app);
  for (const auto& [app, wasm] : cases) {
    BOOST_TEST_CONTEXT(app) {
      expect_module(client, app, *wasm, 1);
    }
  }
}

BOOST_AUTO_TEST_CASE(docker_schema2_and_every_wasm_media_type) {
  Stack s;
  const std::string types[] = {"application/wasm", "application/vnd.wasm.content.layer.v1+wasm",
                               "application/vnd.module.wasm.content.layer.v1+wasm"};
  std::vector<std::pair<std::string, std::string>> apps;
  int n = 0;
  for (const auto& type : types) {
    for (const auto manifest : {kOciManifest, kDockerManifest}) {
      const std::string tag = "t" + std::to_string(n);
      const std::string wasm = random_wasm(5000 + n, 100 + n);
      s.pusher.push_wasm("types", tag, wasm, type, std::string(manifest));
      apps.emplace_back(s.ref("types", tag), wasm);
      ++n;
    }
  }
  // A wasm layer beside a larger non-wasm layer: the media type decides, not the size.
  const std::string small_wasm = random_wasm(3000, 7);
  const Desc config = s.pusher.push_blob("types", "{}", "application/vnd.wasm.config.v0+json");
  const Desc big = s.pusher.push_blob("types", random_wasm(9000, 8), "application/octet-stream");
  Desc wasm_layer = s.pusher.push_blob("types", small_wasm);
  wasm_layer.media_type = "application/wasm";
  s.pusher.push_manifest("types", "mixed",
                         RegistryPusher::manifest_json(config, {big, wasm_layer}, kOciManifest),
                         kOciManifest);
  apps.emplace_back(s.ref("types", "mixed"), small_wasm);
  // No wasm media type at all: the largest layer.
  const std::string largest = random_wasm(7000, 9);
  Desc a = s.pusher.push_blob("types", random_wasm(100, 10));
  Desc b = s.pusher.push_blob("types", largest);
  a.media_type = b.media_type = "application/vnd.oci.image.layer.v1.tar";
  s.pusher.push_manifest("types", "largest",
                         RegistryPusher::manifest_json(config, {a, b}, kOciManifest), kOciManifest);
  apps.emplace_back(s.ref("types", "largest"), largest);

  s.start_proxy();
  PropletClient client(s.broker.url(), s.channel);
  for (const auto& [app, wasm] : apps)
    client.request(app);
  for (const auto& [app, wasm] : apps) {
    BOOST_TEST_CONTEXT(app) {
      expect_module(client, app, wasm, 1);
    }
  }
}

BOOST_AUTO_TEST_CASE(digest_mismatch_withholds_the_last_chunk) {
  Stack s;
  const std::string wasm = random_wasm(5000, 21);
  const Desc layer = s.pusher.push_wasm("bad", "v1", wasm);
  {  // flip the last byte of the stored blob: same size, other content
    std::fstream f(s.blob_path(layer.digest), std::ios::in | std::ios::out | std::ios::binary);
    BOOST_TEST_REQUIRE(f.good());
    f.seekp(static_cast<std::streamoff>(wasm.size() - 1));
    f.put(static_cast<char>(wasm.back() ^ 0x5a));
  }
  const std::string good = random_wasm(4000, 22);
  s.pusher.push_wasm("good", "v1", good);
  s.start_proxy({"PROXY_CHUNK_SIZE=1000"});
  PropletClient client(s.broker.url(), s.channel);
  const std::string app = s.ref("bad", "v1");
  client.request(app);
  BOOST_TEST(s.proxy->wait_log("code=digest_mismatch", kTimeout));
  // The proxy's log line can come before the broker has handed the client every chunk, and the
  // last chunk, were it sent, before the markers' answers.
  BOOST_TEST(client.wait_message_count(4, kTimeout));
  s.drain(client);
  const auto a = client.snapshot(app);
  BOOST_TEST(!a.complete);
  BOOST_TEST(a.chunks.count(4) == 0u);  // the final chunk never left the proxy
  BOOST_TEST(a.distinct == 4u);         // the verified-so-far prefix did
  // The service keeps serving.
  client.request(s.ref("good", "v1"));
  expect_module(client, s.ref("good", "v1"), good, 4);
}

BOOST_AUTO_TEST_CASE(descriptor_size_that_lies_is_an_error) {
  Stack s;
  const std::string wasm = random_wasm(3000, 31);
  const Desc config = s.pusher.push_blob("lies", "{}", "application/vnd.wasm.config.v0+json");
  Desc layer = s.pusher.push_blob("lies", wasm);
  layer.media_type = "application/wasm";
  // docker-registry accepts descriptors with the wrong size and serves the real bytes.
  Desc longer = layer, shorter = layer;
  longer.size += 10;
  shorter.size -= 10;
  s.pusher.push_manifest("lies", "longer",
                         RegistryPusher::manifest_json(config, {longer}, kOciManifest),
                         kOciManifest);
  s.pusher.push_manifest("lies", "shorter",
                         RegistryPusher::manifest_json(config, {shorter}, kOciManifest),
                         kOciManifest);
  s.start_proxy({"PROXY_CHUNK_SIZE=1000"});
  PropletClient client(s.broker.url(), s.channel);
  client.request(s.ref("lies", "longer"));
  client.request(s.ref("lies", "shorter"));
  BOOST_TEST(s.proxy->wait_log(
      "app_name=" + s.ref("lies", "longer") + " channel=" + s.channel + " code=size_mismatch ",
      kTimeout));
  BOOST_TEST(s.proxy->wait_log(
      "app_name=" + s.ref("lies", "shorter") + " channel=" + s.channel + " code=size_mismatch ",
      kTimeout));
  s.drain(client);  // a last chunk, were it sent, has arrived by now
  BOOST_TEST(!client.snapshot(s.ref("lies", "longer")).complete);
  BOOST_TEST(!client.snapshot(s.ref("lies", "shorter")).complete);
}

BOOST_AUTO_TEST_CASE(a_blob_over_the_limit_is_refused_before_download) {
  Stack s;
  s.pusher.push_wasm("big", "v1", random_wasm(3000, 90));
  s.start_proxy({"PROXY_MAX_BLOB_SIZE=2999"});
  PropletClient client(s.broker.url(), s.channel);
  client.request(s.ref("big", "v1"));
  const auto status = client.wait_status(s.ref("big", "v1"), kTimeout);
  BOOST_TEST_REQUIRE(status.has_value());
  BOOST_TEST(status->at("error").value("code", "") == "too_large");
  BOOST_TEST(s.registry.count_requests("GET", "/blobs/") == 0);
  BOOST_TEST(client.snapshot(s.ref("big", "v1")).received == 0u);
}

BOOST_AUTO_TEST_CASE(bad_requests_are_logged_and_service_continues) {
  Stack s;
  const std::string wasm = random_wasm(2000, 41);
  s.pusher.push_wasm("ok", "v1", wasm);
  s.start_proxy({"PROXY_REGISTRY_ALLOW=127.0.0.1:1"});  // a registry nobody listens on
  PropletClient client(s.broker.url(), s.channel);
  struct Case {
    std::string payload, log;
  };
  const Case cases[] = {
      {"not json", "code=invalid_request error=\"request is not valid JSON\""},
      {"[]", "code=invalid_request error=\"request is not a JSON object\""},
      {R"({"app_name": 7})", "code=invalid_request error=\"\\\"app_name\\\" is not a string\""},
      {R"({"app_name": "UPPER/Case"})", "code=invalid_reference"},
      {R"({"app_name": ")" + s.registry.host() + R"(/missing:v1"})", "code=not_found"},
      {R"({"app_name": ")" + s.registry.host() + R"(/ok:nope"})", "code=not_found"},
      {R"({"app_name": "127.0.0.1:1/x:v1"})", "code=registry_unavailable"},
  };
  for (const auto& c : cases)
    client.publish_raw(client.request_topic(), c.payload);
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.payload) {
      BOOST_TEST(s.proxy->wait_log(c.log, kTimeout));
    }
  }
  client.request(s.ref("ok", "v1"));
  expect_module(client, s.ref("ok", "v1"), wasm, 1);
  BOOST_TEST(s.proxy->process().running());
}

BOOST_AUTO_TEST_CASE(concurrent_transfers_each_arrive_in_order) {
  Stack s;
  std::vector<std::pair<std::string, std::string>> apps;
  for (int i = 0; i < 4; ++i) {
    const std::string wasm = random_wasm(3'000'000 + 1000 * i, 50 + i);
    s.pusher.push_wasm("many" + std::to_string(i), "v1", wasm);
    apps.emplace_back(s.ref("many" + std::to_string(i), "v1"), wasm);
  }
  s.start_proxy({"PROXY_CHUNK_SIZE=65536", "PROXY_CHUNK_WINDOW=4"});
  PropletClient client(s.broker.url(), s.channel);
  for (const auto& [app, wasm] : apps)
    client.request(app);
  for (const auto& [app, wasm] : apps) {
    BOOST_TEST_CONTEXT(app) {
      expect_module(client, app, wasm, (wasm.size() + 65535) / 65536);
    }
  }
}

BOOST_AUTO_TEST_CASE(every_qos_delivers) {
  Stack s;
  const std::string wasm = random_wasm(700'000, 61);
  s.pusher.push_wasm("qos", "v1", wasm);
  for (const int qos : {0, 1, 2}) {
    BOOST_TEST_CONTEXT("qos " << qos) {
      s.start_proxy({"PROXY_MQTT_QOS=" + std::to_string(qos), "PROXY_CHUNK_SIZE=100000"});
      PropletClient client(s.broker.url(), s.channel, qos);
      client.request(s.ref("qos", "v1"));
      expect_module(client, s.ref("qos", "v1"), wasm, 7);
      s.stop_proxy();
    }
  }
}

BOOST_AUTO_TEST_CASE(sigterm_stops_cleanly) {
  Stack s;
  s.start_proxy();
  BOOST_TEST(s.proxy->process().stop(30s) == 0);
  BOOST_TEST(s.proxy->log().find("stopped") != std::string::npos);
}

// TBB workers never wait on the network: with more requests stuck on a frozen registry than the
// machine has worker threads, a request to a healthy registry is still served at once, and the
// stuck ones complete when the registry thaws.
BOOST_AUTO_TEST_CASE(a_frozen_registry_does_not_hold_up_other_requests) {
  Stack s;
  Registry frozen;
  RegistryPusher frozen_pusher(frozen.url());
  std::vector<std::pair<std::string, std::string>> stuck;
  for (int i = 0; i < 6; ++i) {
    const std::string wasm = random_wasm(10'000 + i, 70 + i);
    frozen_pusher.push_wasm("stuck" + std::to_string(i), "v1", wasm);
    stuck.emplace_back(frozen.host() + "/stuck" + std::to_string(i) + ":v1", wasm);
  }
  const std::string wasm = random_wasm(50'000, 80);
  s.pusher.push_wasm("healthy", "v1", wasm);
  s.start_proxy({"PROXY_REGISTRY_ALLOW=" + frozen.host()});
  PropletClient client(s.broker.url(), s.channel);

  BOOST_TEST_REQUIRE(kill(frozen.pid(), SIGSTOP) == 0);
  for (const auto& [app, bytes] : stuck)
    client.request(app);
  BOOST_TEST(s.proxy->wait_log("request accepted app_name=" + stuck.back().first, kTimeout));
  client.request(s.ref("healthy", "v1"));
  BOOST_TEST(client.wait_complete(s.ref("healthy", "v1"), kTimeout).has_value());
  for (const auto& [app, bytes] : stuck)
    BOOST_TEST(!client.snapshot(app).complete);

  BOOST_TEST_REQUIRE(kill(frozen.pid(), SIGCONT) == 0);
  for (const auto& [app, bytes] : stuck) {
    BOOST_TEST_CONTEXT(app) {
      expect_module(client, app, bytes, 1);
    }
  }
}
