// Smoke test of the integration-test support library against the real servers.
#define BOOST_TEST_MODULE support_smoke
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "tests/support/mosquitto.hpp"
#include "tests/support/print_optional.hpp"
#include "tests/support/process.hpp"
#include "tests/support/proplet_client.hpp"
#include "tests/support/registry.hpp"
#include "tests/support/registry_push.hpp"

using namespace pp::test;
using namespace std::chrono_literals;

namespace {

std::string chunk(const std::string& app, std::uint64_t idx, std::uint64_t total,
                  std::string_view bytes) {
  return nlohmann::json{{"app_name", app},
                        {"chunk_idx", idx},
                        {"total_chunks", total},
                        {"data", base64_encode(bytes)},
                        {"digest", sha256_digest("AAAABBB")},
                        {"size", 7}}
      .dump();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(child_process)

BOOST_AUTO_TEST_CASE(exit_code_and_log) {
  TempDir dir;
  ChildProcess p({"sh", "-c", "echo hi; exit 3"}, {}, dir.file("log"));
  BOOST_TEST(p.wait_exit(30s) == std::optional<int>(3));
  BOOST_TEST(p.log().find("hi") != std::string::npos);
  BOOST_TEST(!p.running());
  BOOST_TEST(p.stop() == 3);  // idempotent after exit
}

BOOST_AUTO_TEST_CASE(stop_returns_signal_status) {
  TempDir dir;
  ChildProcess p({"sleep", "100"}, {}, dir.file("log"));
  BOOST_TEST(p.running());
  BOOST_TEST(!p.wait_exit(50ms).has_value());
  const auto hwm = vm_hwm_kib(p.pid());
  BOOST_REQUIRE(hwm.has_value());
  BOOST_TEST(*hwm > 0);
  BOOST_TEST(p.stop() == 128 + 15);
  BOOST_TEST(p.stop() == 128 + 15);
}

BOOST_AUTO_TEST_CASE(environment_overrides) {
  TempDir dir;
  ChildProcess p({"sh", "-c", "echo \"A=[$PP_A] E=[${PP_E-unset}] H=[${HOME-unset}]\""},
                 {"PP_A=x", "PP_E=", "HOME=/nowhere", "-HOME"}, dir.file("log"));
  BOOST_TEST(p.wait_exit(30s) == std::optional<int>(0));
  BOOST_TEST(p.log() == "A=[x] E=[] H=[unset]\n");
}

BOOST_AUTO_TEST_CASE(missing_program_throws) {
  TempDir dir;
  BOOST_CHECK_THROW(ChildProcess({"/nonexistent/pp-test"}, {}, dir.file("log")),
                    std::runtime_error);
  BOOST_CHECK_THROW(ChildProcess({"pp-test-no-such-program"}, {}, dir.file("log")),
                    std::runtime_error);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(random_wasm_and_base64) {
  const std::string w = random_wasm(1000, 7);
  BOOST_TEST(w.size() == 1000u);
  BOOST_TEST(w.substr(0, 8) == std::string("\0asm\x01\0\0\0", 8));
  BOOST_TEST(w == random_wasm(1000, 7));
  BOOST_TEST(w != random_wasm(1000, 8));
  BOOST_TEST(random_wasm(3, 1) == std::string("\0as", 3));
  BOOST_TEST(sha256_digest("") ==
             "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  for (const std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    BOOST_TEST(base64_decode_strict(base64_encode(s)) == std::optional<std::string>(s));
  }
  BOOST_TEST(base64_encode("foobar") == "Zm9vYmFy");
  BOOST_TEST(!base64_decode_strict("Zm9").has_value());     // no padding
  BOOST_TEST(!base64_decode_strict("Zm9v\n").has_value());  // whitespace
  BOOST_TEST(!base64_decode_strict("Zm=v").has_value());    // padding inside
  BOOST_TEST(!base64_decode_strict("Zm9-").has_value());    // url-safe alphabet
  BOOST_TEST(!base64_decode_strict("Zh==").has_value());    // non-zero padding bits
}

BOOST_AUTO_TEST_CASE(registry_push_and_pull) {
  Registry registry;
  RegistryPusher pusher(registry.url());
  const std::string wasm = random_wasm(3 * 1024 * 1024, 42);
  const Desc layer = pusher.push_wasm("smoke/app", "v1", wasm);
  BOOST_TEST(layer.digest == sha256_digest(wasm));
  BOOST_TEST(layer.size == wasm.size());
  BOOST_TEST(layer.media_type == "application/wasm");

  const HttpResponse manifest = http_get(registry.url() + "/v2/smoke/app/manifests/v1",
                                         {"Accept: " + std::string(kOciManifest)});
  BOOST_TEST_REQUIRE(manifest.status == 200);
  const auto json = nlohmann::json::parse(manifest.body);
  BOOST_TEST(json["layers"][0]["digest"].get<std::string>() == layer.digest);
  BOOST_TEST(json["layers"][0]["mediaType"].get<std::string>() == "application/wasm");
  BOOST_TEST(json["config"]["mediaType"].get<std::string>() ==
             "application/vnd.wasm.config.v0+json");

  const HttpResponse blob = http_get(registry.url() + "/v2/smoke/app/blobs/" + layer.digest);
  BOOST_TEST_REQUIRE(blob.status == 200);
  BOOST_TEST(sha256_digest(blob.body) == layer.digest);
  BOOST_TEST(registry.count_requests("GET", "/blobs/") >= 1);
  BOOST_TEST(registry.count_requests("GET", "/blobs/" + layer.digest) == 1);
  BOOST_TEST(registry.count_requests("PUT", "/manifests/v1") == 1);

  // Docker schema 2 media types are accepted too.
  const Desc docker = pusher.push_wasm("smoke/docker", "v1", wasm, "application/wasm",
                                       std::string(kDockerManifest));
  BOOST_TEST(docker.digest == layer.digest);

  // Content survives a restart on the same port.
  registry.stop();
  registry.start();
  BOOST_TEST(http_get(registry.url() + "/v2/smoke/app/blobs/" + layer.digest).status == 200);
  BOOST_TEST(registry.count_requests("GET", "/blobs/" + layer.digest) == 2);
}

BOOST_AUTO_TEST_CASE(proplet_client_reassembles) {
  Mosquitto broker;
  PropletClient client(broker.url(), "smoke");
  const std::string app = "localhost/app:v1";
  client.publish_raw(client.server_topic(), chunk(app, 1, 2, "BBB"));
  client.publish_raw(client.server_topic(), chunk(app, 0, 2, "AAAA"));
  client.publish_raw(client.server_topic(), chunk(app, 1, 2, "BBB"));   // duplicate
  client.publish_raw(client.server_topic(), chunk(app, 0, 3, "AAAA"));  // wrong total
  BOOST_TEST(client.wait_complete(app, 30s) == std::optional<std::string>("AAAABBB"));
  BOOST_TEST_REQUIRE(client.wait_message_count(4, 30s));

  const auto a = client.snapshot(app);
  BOOST_TEST(a.complete);
  BOOST_TEST(a.total_chunks == 2u);
  BOOST_TEST(a.received == 3u);
  BOOST_TEST(a.distinct == 2u);
  BOOST_TEST(a.duplicates == 1u);
  BOOST_TEST(a.rejected == 1u);
  BOOST_TEST(!a.in_order);
  BOOST_TEST(a.digest == sha256_digest("AAAABBB"));
  BOOST_TEST(a.size == 7u);
  BOOST_TEST((a.arrival_order == std::vector<std::uint64_t>{1, 0, 1}));

  // Requests and status messages round-trip through the broker.
  client.publish_raw(client.status_topic(), R"({"app_name":"x","state":"sending"})");
  client.publish_raw(client.status_topic(), R"({"app_name":"x","state":"failed"})");
  BOOST_TEST_REQUIRE(client.wait_status("x", 30s).has_value());
  BOOST_TEST(client.status_messages("x").size() == 2u);
  BOOST_TEST(client.wait_status("x", 30s)->at("state") == "failed");  // the final one
  client.request(app);
  client.forget(app);
  BOOST_TEST(client.snapshot(app).received == 0u);
}

BOOST_AUTO_TEST_CASE(proplet_client_streams_without_bytes) {
  Mosquitto broker;
  const std::string app = "localhost/app:v1";
  // In order without keeping bytes: the streamed digest still verifies the module.
  PropletClient lean(broker.url(), "lean", 1, /*keep_bytes=*/false);
  lean.publish_raw(lean.server_topic(), chunk(app, 0, 2, "AAAA"));
  lean.publish_raw(lean.server_topic(), chunk(app, 1, 2, "BBB"));
  lean.publish_raw(lean.server_topic(), R"({"app_name":")" + app + R"(","chunk_idx":0})");
  BOOST_TEST(lean.wait_complete(app, 30s) == std::optional<std::string>(""));
  BOOST_TEST_REQUIRE(lean.wait_message_count(3, 30s));
  const auto b = lean.snapshot(app);
  BOOST_TEST(b.in_order);
  BOOST_TEST(b.chunks.empty());
  BOOST_TEST(b.streamed_sha256 == sha256_digest("AAAABBB"));
  BOOST_TEST(b.streamed_bytes == 7u);
  BOOST_TEST(b.rejected == 1u);
}

BOOST_AUTO_TEST_CASE(proplet_clients_are_isolated_by_channel) {
  Mosquitto broker;
  auto clients = PropletClient::connect_many(broker.url(), {"a", "b", "c"});
  BOOST_TEST_REQUIRE(clients.size() == 3u);
  clients[0]->publish_raw(clients[0]->server_topic(), chunk("m", 0, 1, "only a"));
  BOOST_TEST(clients[0]->wait_complete("m", 30s) == std::optional<std::string>("only a"));
  clients[2]->publish_raw(clients[2]->server_topic(), chunk("m", 0, 1, "only c"));
  BOOST_TEST(clients[2]->wait_complete("m", 30s) == std::optional<std::string>("only c"));
  // The broker has both (they were acknowledged): a client's marker comes back after them.
  BOOST_TEST_REQUIRE(clients[0]->sync());
  BOOST_TEST_REQUIRE(clients[1]->sync());
  BOOST_TEST(clients[1]->message_count() == 0u);
  BOOST_TEST(clients[0]->message_count() == 1u);
}

BOOST_AUTO_TEST_CASE(mosquitto_restart) {
  Mosquitto broker;
  PropletClient client(broker.url(), "restart");
  const int port = broker.port();
  broker.stop();
  BOOST_TEST(!wait_for_tcp(port, 100ms));
  for (auto deadline = std::chrono::steady_clock::now() + 30s;
       client.connected() && std::chrono::steady_clock::now() < deadline;) {
    std::this_thread::sleep_for(10ms);
  }
  BOOST_TEST(!client.connected());
  broker.start();
  BOOST_TEST(broker.port() == port);
  BOOST_TEST(wait_for_tcp(port, 30s));
  // Paho reconnects by itself and the client subscribes again.
  BOOST_TEST_REQUIRE(client.wait_connected(30s));
  BOOST_TEST(client.connection_losses() >= 1u);
  client.publish_raw(client.server_topic(), chunk("a", 0, 1, "x"));
  BOOST_TEST(client.wait_complete("a", 30s) == std::optional<std::string>("x"));
  BOOST_TEST(broker.log().find("mosquitto version") != std::string::npos);
}
