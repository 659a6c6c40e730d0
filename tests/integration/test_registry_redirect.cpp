// Credentials stay with their registry: when a blob GET is redirected to another host (object
// storage, a CDN: Docker Hub and GHCR both do this), the Authorization header is not forwarded.
// docker-registry's filesystem storage never redirects, so two small purpose-built servers play
// the registry and the storage host.
#define BOOST_TEST_MODULE registry_redirect
#include <httplib.h>

#include <boost/test/unit_test.hpp>
#include <mutex>
#include <thread>

#include "tests/integration/stack.hpp"

using namespace pp::test;
using namespace std::chrono_literals;

namespace {

// An HTTP server on 127.0.0.1 running on its own thread.
struct Server {
  httplib::Server http;
  int port = 0;
  std::thread thread;
  Server() = default;
  void start() {
    port = http.bind_to_any_port("127.0.0.1");
    thread = std::thread([this] { http.listen_after_bind(); });
    while (!http.is_running())
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~Server() {
    http.stop();
    if (thread.joinable()) thread.join();
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(authorization_does_not_follow_a_redirect_to_another_host) {
  const std::string wasm = random_wasm(50'000, 7);
  const std::string blob_digest = sha256_digest(wasm);
  const std::string config = "{}";
  const Desc config_desc{"application/vnd.wasm.config.v0+json", sha256_digest(config),
                         config.size()};
  const std::string manifest = RegistryPusher::manifest_json(
      config_desc, {Desc{"application/wasm", blob_digest, wasm.size()}}, kOciManifest);

  std::mutex mutex;
  std::vector<std::string> registry_auth, storage_auth;  // Authorization seen by each host

  Server storage;  // reached as "localhost": another host name than the registry's 127.0.0.1
  storage.http.Get("/blob", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mutex);
    storage_auth.push_back(req.get_header_value("Authorization"));
    res.set_content(wasm, "application/octet-stream");
  });
  storage.start();

  Server registry;
  registry.http.Get(R"(/v2/app/manifests/v1)",
                    [&](const httplib::Request& req, httplib::Response& res) {
                      std::lock_guard lock(mutex);
                      registry_auth.push_back(req.get_header_value("Authorization"));
                      res.set_content(manifest, std::string(kOciManifest));
                    });
  registry.http.Get(
      R"(/v2/app/blobs/(.*))", [&](const httplib::Request& req, httplib::Response& res) {
        std::lock_guard lock(mutex);
        registry_auth.push_back(req.get_header_value("Authorization"));
        res.status = 307;
        res.set_header("Location", "http://localhost:" + std::to_string(storage.port) + "/blob");
      });
  registry.start();

  Mosquitto broker;
  const std::string registry_host = "127.0.0.1:" + std::to_string(registry.port);
  ProxyProcess proxy({"PROPLET_MQTT_ADDRESS=" + broker.url(), "PROPLET_CHANNEL_ID=redirect",
                      "PROXY_REGISTRY_URL=http://" + registry_host,
                      "PROXY_REGISTRY_TOKEN=tok-for-the-registry-only"});
  PropletClient client(broker.url(), "redirect");
  client.request(registry_host + "/app:v1");
  BOOST_TEST(
      (client.wait_complete(registry_host + "/app:v1", 15s) == std::optional<std::string>(wasm)));

  std::lock_guard lock(mutex);
  BOOST_TEST_REQUIRE(registry_auth.size() == 2u);  // the manifest and the blob request
  for (const auto& a : registry_auth)
    BOOST_TEST(a == "Bearer tok-for-the-registry-only");
  BOOST_TEST_REQUIRE(storage_auth.size() == 1u);
  BOOST_TEST(storage_auth.front().empty(), "storage host got: " << storage_auth.front());
  BOOST_TEST(proxy.process().stop(std::chrono::seconds(30)) == 0);
}
