#pragma once
// The services an integration test runs against: a real mosquitto, a real docker-registry, and the
// propeller-proxy binary, each on free loopback ports and stopped by PID when the test ends.

#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <optional>
#include <string>
#include <vector>

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

  // Where docker-registry keeps a blob's bytes: tests that need a registry serving bad content
  // change the file (the registry checks digests on upload, never on download).
  std::string blob_path(const std::string& digest) const {
    const std::string hex = digest.substr(7);
    return registry.dir() + "/storage/docker/registry/v2/blobs/sha256/" + hex.substr(0, 2) + "/" +
           hex + "/data";
  }
};

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
