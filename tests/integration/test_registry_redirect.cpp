// Registries redirect blob downloads to object storage (Docker Hub and GHCR both do). The proxy
// follows such a redirect only to https://, or within the plain-HTTP registry it asked, at most
// 5 hops, and never for manifests; and credentials stay with their registry: the Authorization
// header is not forwarded to another host. docker-registry's filesystem storage never redirects,
// so small purpose-built servers play the registry and the storage host.
#define BOOST_TEST_MODULE registry_redirect
#include <httplib.h>

#include <boost/test/unit_test.hpp>
#include <memory>
#include <mutex>
#include <thread>

#include "tests/integration/stack.hpp"
#include "tests/support/certs.hpp"

using namespace pp::test;
using namespace std::chrono_literals;

namespace {

// An HTTP(S) server on 127.0.0.1 running on its own thread.
struct Server {
  std::unique_ptr<httplib::Server> http;
  int port = 0;
  std::thread thread;
  explicit Server(const Certs* tls = nullptr)
      : http(tls ? std::make_unique<httplib::SSLServer>(tls->file("server.crt").c_str(),
                                                        tls->file("server.key").c_str())
                 : std::make_unique<httplib::Server>()) {}
  void start() {
    port = http->bind_to_any_port("127.0.0.1");
    thread = std::thread([this] { http->listen_after_bind(); });
    while (!http->is_running())
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~Server() {
    http->stop();
    if (thread.joinable()) thread.join();
  }
};

struct App {
  std::string wasm = random_wasm(50'000, 7);
  std::string manifest;
  App() {
    const std::string config = "{}";
    const Desc config_desc{"application/vnd.wasm.config.v0+json", sha256_digest(config),
                           config.size()};
    manifest = RegistryPusher::manifest_json(
        config_desc, {Desc{"application/wasm", sha256_digest(wasm), wasm.size()}}, kOciManifest);
  }
};

// A registry whose blob GETs answer with a redirect to `location(path)`, and which serves the
// blob itself at /storage/blob (a redirect within the registry).
struct RedirectingRegistry {
  Server server;
  std::mutex mutex;
  std::vector<std::string> auth;  // Authorization of each request
  int blob_gets = 0, storage_gets = 0;
  RedirectingRegistry(const App& app, std::function<std::string(int port)> location) {
    server.http->Get(R"(/v2/app/manifests/v1)",
                     [&](const httplib::Request& req, httplib::Response& res) {
                       std::lock_guard lock(mutex);
                       auth.push_back(req.get_header_value("Authorization"));
                       res.set_content(app.manifest, std::string(kOciManifest));
                     });
    server.http->Get(R"(/v2/app/blobs/(.*))",
                     [&, location](const httplib::Request& req, httplib::Response& res) {
                       std::lock_guard lock(mutex);
                       auth.push_back(req.get_header_value("Authorization"));
                       ++blob_gets;
                       res.status = 307;
                       res.set_header("Location", location(server.port));
                     });
    server.http->Get("/storage/blob", [&](const httplib::Request&, httplib::Response& res) {
      std::lock_guard lock(mutex);
      ++storage_gets;
      res.set_content(app.wasm, "application/octet-stream");
    });
    server.start();
  }
  std::string host() const { return "127.0.0.1:" + std::to_string(server.port); }
};

// A broker, the proxy with `registry_host` as its plain-HTTP registry, and a proplet asking it.
struct Proxied {
  Mosquitto broker;
  ProxyProcess proxy;
  PropletClient client;
  explicit Proxied(const std::string& registry_host, std::vector<std::string> env = {})
      : proxy(with(env, "PROPLET_MQTT_ADDRESS=" + broker.url(), "PROPLET_CHANNEL_ID=redirect",
                   "PROXY_REGISTRY_URL=http://" + registry_host)),
        client(broker.url(), "redirect") {}
  static std::vector<std::string> with(std::vector<std::string> env, std::string a, std::string b,
                                       std::string c) {
    env.insert(env.begin(), {std::move(a), std::move(b), std::move(c)});
    return env;
  }
};

}  // namespace

// Plain HTTP to another host would hand the module's bytes to anyone on the path between them, and
// let a registry point the proxy at any internal address: refused, with nothing fetched there.
BOOST_AUTO_TEST_CASE(a_redirect_to_plain_http_elsewhere_is_refused) {
  App app;
  Server storage;
  int storage_gets = 0;
  storage.http->Get("/blob", [&](const httplib::Request&, httplib::Response& res) {
    ++storage_gets;
    res.set_content(app.wasm, "application/octet-stream");
  });
  storage.start();
  RedirectingRegistry registry(
      app, [&](int) { return "http://localhost:" + std::to_string(storage.port) + "/blob"; });
  Proxied p(registry.host());
  p.client.request(registry.host() + "/app:v1");
  expect_failed(p.client, registry.host() + "/app:v1", "not_allowed",
                "redirect to http://localhost:");
  BOOST_TEST(storage_gets == 0);
  std::lock_guard lock(registry.mutex);
  BOOST_TEST(registry.blob_gets == 1, "a refused redirect is final, not retried");
}

// Within the plain-HTTP registry the request went to, a redirect is followed.
BOOST_AUTO_TEST_CASE(a_redirect_within_the_plain_http_registry_is_followed) {
  App app;
  RedirectingRegistry registry(
      app, [](int port) { return "http://127.0.0.1:" + std::to_string(port) + "/storage/blob"; });
  Proxied p(registry.host());
  const std::string app_name = registry.host() + "/app:v1";
  p.client.request(app_name);
  BOOST_TEST((p.client.wait_complete(app_name, 30s) == std::optional<std::string>(app.wasm)));
  std::lock_guard lock(registry.mutex);
  BOOST_TEST(registry.storage_gets == 1);
}

// A registry that redirects for ever (here to itself) ends after 5 hops, refused and not retried.
BOOST_AUTO_TEST_CASE(more_than_five_redirects_are_refused) {
  App app;
  RedirectingRegistry registry(app, [](int port) {
    return "http://127.0.0.1:" + std::to_string(port) + "/v2/app/blobs/again";
  });
  Proxied p(registry.host());
  p.client.request(registry.host() + "/app:v1");
  expect_failed(p.client, registry.host() + "/app:v1", "not_allowed", "more than 5 redirects");
  std::lock_guard lock(registry.mutex);
  BOOST_TEST(registry.blob_gets == 6);  // the first request and 5 hops
}

// Manifests are never taken from where a redirect points: the registry answers them itself.
BOOST_AUTO_TEST_CASE(a_manifest_redirect_is_not_followed) {
  Server registry;
  int followed = 0;
  registry.http->Get(R"(/v2/app/manifests/v1)",
                     [&](const httplib::Request&, httplib::Response& res) {
                       res.status = 302;
                       res.set_header("Location", "/elsewhere");
                     });
  registry.http->Get("/elsewhere", [&](const httplib::Request&, httplib::Response& res) {
    ++followed;
    res.set_content("{}", "application/json");
  });
  registry.start();
  const std::string host = "127.0.0.1:" + std::to_string(registry.port);
  Proxied p(host);
  p.client.request(host + "/app:v1");
  expect_failed(p.client, host + "/app:v1", "registry_error", "HTTP 302");
  BOOST_TEST(followed == 0);
}

// To https:// on another host (the storage host, reached as "localhost", a name other than the
// registry's 127.0.0.1): followed, and the registry's token stays behind.
BOOST_AUTO_TEST_CASE(authorization_does_not_follow_a_redirect_to_another_host) {
  App app;
  Certs certs;
  std::mutex mutex;
  std::vector<std::string> storage_auth;
  Server storage(&certs);
  storage.http->Get("/blob", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mutex);
    storage_auth.push_back(req.get_header_value("Authorization"));
    res.set_content(app.wasm, "application/octet-stream");
  });
  storage.start();
  RedirectingRegistry registry(
      app, [&](int) { return "https://localhost:" + std::to_string(storage.port) + "/blob"; });

  Proxied p(registry.host(), {"PROXY_REGISTRY_CA_FILE=" + certs.file("ca.crt"),
                              "PROXY_REGISTRY_TOKEN=tok-for-the-registry-only"});
  p.client.request(registry.host() + "/app:v1");
  BOOST_TEST((p.client.wait_complete(registry.host() + "/app:v1", 30s) ==
              std::optional<std::string>(app.wasm)));

  {
    std::lock_guard registry_lock(registry.mutex);
    BOOST_TEST_REQUIRE(registry.auth.size() == 2u);  // the manifest and the blob request
    for (const auto& a : registry.auth)
      BOOST_TEST(a == "Bearer tok-for-the-registry-only");
  }
  std::lock_guard lock(mutex);
  BOOST_TEST_REQUIRE(storage_auth.size() == 1u);
  BOOST_TEST(storage_auth.front().empty(), "storage host got: " << storage_auth.front());
  BOOST_TEST(p.proxy.process().stop(std::chrono::seconds(30)) == 0);
}
