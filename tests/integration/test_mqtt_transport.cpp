// How the proxy reaches the broker: TLS with a verified server, mutual TLS, and MQTT 5, against a
// real mosquitto with certificates generated for the test.
#define BOOST_TEST_MODULE mqtt_transport
#include <boost/test/unit_test.hpp>

#include "tests/integration/stack.hpp"
#include "tests/support/certs.hpp"
#include "tests/support/ws_relay.hpp"

using namespace pp::test;
using namespace std::chrono_literals;

namespace {

// mosquitto with a TLS listener and a mutual-TLS listener beside its plain one.
struct SecureStack {
  Certs certs;
  Stack s{RegistryOptions{}, listeners()};

  std::string listeners() const {
    const std::string keys = "cafile " + certs.file("ca.crt") + "\ncertfile " +
                             certs.file("server.crt") + "\nkeyfile " + certs.file("server.key") +
                             "\n";
    return "listener {{port:tls}} 127.0.0.1\n" + keys + "listener {{port:mtls}} 127.0.0.1\n" +
           keys + "require_certificate true\n";
  }
  int tls_port() const { return s.broker.listener_port("tls"); }
  int mtls_port() const { return s.broker.listener_port("mtls"); }

  // Starts a proxy on `address` with `extra` settings; true once it reports being ready.
  bool proxy_ready(const std::string& address, std::vector<std::string> extra) {
    start(address, std::move(extra));
    return s.proxy->wait_log(kReady, 30s);
  }

  // Starts a proxy on `address` with `extra` settings; true once it reports that the broker
  // refused its connection, not having been ready before (every retry meets the same refusal).
  bool proxy_refused(const std::string& address, std::vector<std::string> extra) {
    start(address, std::move(extra));
    return s.proxy->wait_log("cannot connect to the MQTT broker", 30s) &&
           s.proxy->log().find(kReady) == std::string::npos;
  }

  void start(const std::string& address, std::vector<std::string> extra) {
    extra.insert(extra.begin(),
                 {"PROPLET_MQTT_ADDRESS=" + address, "PROPLET_CHANNEL_ID=" + s.channel,
                  "PROXY_REGISTRY_URL=" + s.registry.url()});
    s.stop_proxy();
    s.proxy.emplace(extra, /*wait_ready=*/false);
  }

  static constexpr const char* kReady = "info ready subscriptions=";

  void expect_delivery(const std::string& repo) {
    const std::string wasm = random_wasm(300'000, repo.size());
    s.pusher.push_wasm(repo, "v1", wasm);
    PropletClient client(s.broker.url(), s.channel);
    client.request(s.ref(repo, "v1"));
    BOOST_TEST((client.wait_complete(s.ref(repo, "v1"), 30s) == std::optional<std::string>(wasm)));
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(tls_with_a_verified_broker) {
  SecureStack t;
  const std::string port = std::to_string(t.tls_port());
  for (const std::string& address : {"ssl://127.0.0.1:" + port, "mqtts://localhost:" + port}) {
    BOOST_TEST_CONTEXT(address) {
      BOOST_TEST_REQUIRE(t.proxy_ready(address, {"PROXY_MQTT_CA_FILE=" + t.certs.file("ca.crt")}));
      t.expect_delivery("tls" + std::to_string(address.size()));
    }
  }
}

BOOST_AUTO_TEST_CASE(an_untrusted_broker_is_refused_unless_insecure) {
  SecureStack t;
  const std::string address = "ssl://127.0.0.1:" + std::to_string(t.tls_port());
  const bool refused =
      t.proxy_refused(address, {"PROXY_MQTT_CA_FILE=" + t.certs.file("other.crt")});
  BOOST_TEST(refused, t.s.proxy->log());
  BOOST_TEST(t.proxy_ready(address, {"PROXY_MQTT_CA_FILE=" + t.certs.file("other.crt"),
                                     "PROXY_MQTT_TLS_INSECURE=true"}));
  t.expect_delivery("insecure");
}

BOOST_AUTO_TEST_CASE(mutual_tls) {
  SecureStack t;
  const std::string address = "ssl://127.0.0.1:" + std::to_string(t.mtls_port());
  const bool refused = t.proxy_refused(address, {"PROXY_MQTT_CA_FILE=" + t.certs.file("ca.crt")});
  BOOST_TEST(refused, t.s.proxy->log());
  BOOST_TEST_REQUIRE(t.proxy_ready(address, {"PROXY_MQTT_CA_FILE=" + t.certs.file("ca.crt"),
                                             "PROXY_MQTT_CERT_FILE=" + t.certs.file("client.crt"),
                                             "PROXY_MQTT_KEY_FILE=" + t.certs.file("client.key")}));
  t.expect_delivery("mtls");
}

BOOST_AUTO_TEST_CASE(websockets) {
  SecureStack t;
  WebSocketRelay relay(t.s.broker.port());
  BOOST_TEST_REQUIRE(t.proxy_ready("ws://127.0.0.1:" + std::to_string(relay.port()) + "/mqtt", {}));
  t.expect_delivery("ws");
}

BOOST_AUTO_TEST_CASE(mqtt_5) {
  SecureStack t;
  BOOST_TEST_REQUIRE(t.proxy_ready(t.s.broker.url(), {"PROXY_MQTT_VERSION=5"}));
  t.expect_delivery("five");
  // And over TLS with MQTT 5 at QoS 2.
  BOOST_TEST_REQUIRE(t.proxy_ready("ssl://127.0.0.1:" + std::to_string(t.tls_port()),
                                   {"PROXY_MQTT_VERSION=5", "PROXY_MQTT_QOS=2",
                                    "PROXY_MQTT_CA_FILE=" + t.certs.file("ca.crt")}));
  t.expect_delivery("five-tls");
}

BOOST_AUTO_TEST_CASE(tls_settings_are_validated_at_start) {
  Certs certs;
  struct Case {
    std::vector<std::string> env;
    std::string names;
  };
  const Case cases[] = {
      {{"PROXY_MQTT_CA_FILE=/nonexistent/ca.crt"}, "PROXY_MQTT_CA_FILE:"},
      {{"PROXY_MQTT_CERT_FILE=" + certs.file("client.crt")}, "PROXY_MQTT_KEY_FILE:"},
      {{"PROXY_MQTT_VERSION=4.5"}, "PROXY_MQTT_VERSION:"},
      {{"PROPLET_MQTT_ADDRESS=ssl://"}, "PROPLET_MQTT_ADDRESS:"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.names) {
      std::vector<std::string> env = {"PROPLET_CHANNEL_ID=c", "PROXY_REGISTRY_URL=http://r:5000"};
      env.insert(env.end(), c.env.begin(), c.env.end());
      ProxyProcess p(env, /*wait_ready=*/false);
      BOOST_TEST(p.process().wait_exit(30s).value_or(-1) == 2);
      BOOST_TEST(p.log().find(c.names) != std::string::npos, p.log());
    }
  }
}
