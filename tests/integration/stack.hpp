#pragma once
// The services an integration test runs against: a real mosquitto, a real docker-registry, and the
// propeller-proxy binary, each on free loopback ports and stopped by PID when the test ends.

#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/metrics.hpp"
#include "tests/support/mosquitto.hpp"
#include "tests/support/proplet_client.hpp"
#include "tests/support/proxy.hpp"
#include "tests/support/registry.hpp"
#include "tests/support/registry_push.hpp"

namespace pp::test {

struct Stack {
  Stack() = default;
  explicit Stack(RegistryOptions registry_options, const std::string& broker_config = "")
      : broker(broker_config), registry(std::move(registry_options)) {}

  Mosquitto broker;
  Registry registry;
  RegistryPusher pusher{registry.url()};
  std::string channel = "ch-" + std::to_string(getpid());
  std::optional<ProxyProcess> proxy;

  ~Stack() { stop_proxy(); }

  // Stops the proxy with SIGTERM and checks it shut down cleanly: exit status 0 also means no
  // sanitizer report (leaks included) in the sanitizer build.
  void stop_proxy() {
    if (!proxy) return;
    const int status = proxy->process().stop(std::chrono::seconds(30));
    BOOST_CHECK_MESSAGE(status == 0, "propeller-proxy exited with " << status << ":\n"
                                                                    << proxy->log());
    proxy.reset();
  }

  void start_proxy(const std::vector<std::string>& extra_env = {}) {
    stop_proxy();
    std::vector<std::string> env = {
        "PROPLET_MQTT_ADDRESS=" + broker.url(),
        "PROPLET_CHANNEL_ID=" + channel,
        "PROXY_REGISTRY_URL=" + registry.url(),
        "PROXY_LOG_LEVEL=debug",
    };
    env.insert(env.end(), extra_env.begin(), extra_env.end());
    proxy.emplace(std::move(env));
  }

  std::string ref(const std::string& repo, const std::string& tag) const {
    return registry.host() + "/" + repo + ":" + tag;
  }

  // Returns once everything the proxies (by default the stack's own) will ever publish for the
  // requests sent before on `client`'s channel has reached `client`: a negative check ("no second
  // answer", "no status message") can then look at what the client has. The proxies must log at
  // debug level (start_proxy does) and take requests for the stack's registry.
  //  1. Markers (requests for a module of their own, each under a new tag) until every proxy has
  //     logged accepting one: its request stage takes requests one at a time in arrival order, so
  //     it has taken every earlier request by then.
  //  2. Each proxy idle: every transfer it accepted has ended and handed its last message to Paho.
  //  3. Markers again until every proxy has answered one: a proxy publishes on one connection in
  //     call order, and the broker delivers a subscriber's messages in the order it received them,
  //     so what the proxy published before the marker's answer reached `client` before it.
  // Another client then needs only sync(): the broker has received all of it.
  void drain(PropletClient& client, std::vector<ProxyProcess*> proxies = {}) {
    if (proxies.empty()) proxies.push_back(&*proxy);
    markers_until_each_answered(client, proxies);
    for (ProxyProcess* p : proxies)
      BOOST_TEST_REQUIRE(p->wait_idle(), "the proxy did not become idle:\n" << p->log());
    markers_until_each_answered(client, proxies);
  }

  // Where docker-registry keeps a blob's bytes: tests that need a registry serving bad content
  // change the file (the registry checks digests on upload, never on download).
  std::string blob_path(const std::string& digest) const {
    const std::string hex = digest.substr(7);
    return registry.dir() + "/storage/docker/registry/v2/blobs/sha256/" + hex.substr(0, 2) + "/" +
           hex + "/data";
  }

 private:
  // A new tag of the marker module (pushed the first time), as a reference.
  std::string next_marker() {
    const std::string config = "{}";
    const std::string module = random_wasm(100, 0x6d61726b);
    if (markers_ == 0) {
      pusher.push_blob("pp-marker", config, "application/vnd.wasm.config.v0+json");
      pusher.push_blob("pp-marker", module);
    }
    const std::string tag = "m" + std::to_string(markers_++);
    pusher.push_manifest(
        "pp-marker", tag,
        RegistryPusher::manifest_json(
            Desc{"application/vnd.wasm.config.v0+json", sha256_digest(config), config.size()},
            {Desc{"application/wasm", sha256_digest(module), module.size()}}, kOciManifest),
        kOciManifest);
    return ref("pp-marker", tag);
  }

  void markers_until_each_answered(PropletClient& client, const std::vector<ProxyProcess*>& all) {
    std::vector<ProxyProcess*> pending = all;
    // A shared subscription hands each request to one member: a few more than the members do.
    for (std::size_t sent = 0; !pending.empty(); ++sent) {
      BOOST_TEST_REQUIRE(sent < 20 * all.size(), "markers never reached every proxy");
      const std::string marker = next_marker();
      client.request(marker);
      const std::string accepted = "request accepted app_name=" + marker + " ";
      ProxyProcess* taker = nullptr;
      for (const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
           taker == nullptr && std::chrono::steady_clock::now() < deadline;) {
        for (ProxyProcess* p : all) {
          if (p->log().find(accepted) != std::string::npos) taker = p;
        }
        if (taker == nullptr) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      BOOST_TEST_REQUIRE(taker != nullptr, "no proxy accepted " << marker);
      BOOST_TEST_REQUIRE(client.wait_complete(marker, std::chrono::seconds(30)).has_value(),
                         "no answer to " << marker);
      std::erase(pending, taker);
    }
  }

  int markers_ = 0;
};

// Pushes `wasm` as repo:tag, laid out as `oras push` lays out a wasm artifact; the manifest's
// digest.
inline std::string push_app(RegistryPusher& pusher, const std::string& repo, const std::string& tag,
                            const std::string& wasm) {
  const Desc config = pusher.push_blob(repo, "{}", "application/vnd.wasm.config.v0+json");
  Desc layer = pusher.push_blob(repo, wasm);
  layer.media_type = "application/wasm";
  return pusher.push_manifest(
      repo, tag, RegistryPusher::manifest_json(config, {layer}, kOciManifest), kOciManifest);
}

// Asks for `app` afresh and checks the module arrives whole; returns the final status message,
// which must be `completed`.
inline nlohmann::json fetch(PropletClient& client, const std::string& app, const std::string& wasm,
                            std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  client.forget(app);
  client.request(app);
  BOOST_TEST((client.wait_complete(app, timeout) == std::optional<std::string>(wasm)),
             "no complete module for " << app);
  const auto status = client.wait_status(app, timeout);
  BOOST_TEST_REQUIRE(status.has_value(), "no final status for " << app);
  BOOST_TEST(status->value("state", "") == "completed", status->dump());
  return *status;
}

// The value of the series `name` on `proxy`'s /metrics (-1 when it has none).
inline double metric(ProxyProcess& proxy, const std::string& name) {
  const std::string url = "http://127.0.0.1:" + std::to_string(proxy.http_port()) + "/metrics";
  return series(http_get(url, {}, std::chrono::seconds(30)).body, name);
}

// Waits for the final status of `app_name` and checks that it is a failure with `code` whose
// message holds `fragment`.
inline void expect_failed(PropletClient& client, const std::string& app_name,
                          const std::string& code, const std::string& fragment,
                          std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  const auto status = client.wait_status(app_name, timeout);
  BOOST_TEST_REQUIRE(status.has_value(), "no final status for " << app_name);
  BOOST_TEST(status->value("state", "") == "failed", status->dump());
  BOOST_TEST(status->at("error").value("code", "") == code, status->dump());
  BOOST_TEST(status->at("error").value("message", "").find(fragment) != std::string::npos,
             status->dump());
}

}  // namespace pp::test
