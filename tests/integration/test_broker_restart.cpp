// A broker restart does not strand a proplet. mosquitto (no persistence) is killed in the middle of
// a transfer and started again a second later; proplets are clean-session clients that reconnect
// by themselves (Paho's backoff, up to 2 s) and subscribe again; one asks again, the other, as
// Propeller's proplet, does not. The proxy reconnects at once, waits for them
// (PROXY_MQTT_RESUME_DELAY), then publishes again what it held, and what the dead broker may have
// held for them: both assemble the module, from one registry download. Likewise for a transfer
// that had just finished when the broker died, its chunks still in the broker's queue for a
// stalled device. And with PROXY_MQTT_CLEAN_SESSION=false, requests published while only the
// proxy was away reach it when it is back.
#define BOOST_TEST_MODULE broker_restart
#include <boost/test/unit_test.hpp>
#include <sstream>
#include <thread>

#include "tests/integration/stack.hpp"
#include "tests/support/fault_relay.hpp"

using namespace pp::test;
using namespace std::chrono_literals;

namespace {

constexpr auto kTimeout = 180s;

// Milliseconds since midnight of the first log line holding `needle` ("…T15:53:38.824…"), or -1.
long long logged_at_ms(const std::string& log, const std::string& needle) {
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    const auto t = line.find('T');
    if (line.find(needle) == std::string::npos || t == std::string::npos || line.size() < t + 13)
      continue;
    const int h = std::stoi(line.substr(t + 1, 2)), m = std::stoi(line.substr(t + 4, 2)),
              sec = std::stoi(line.substr(t + 7, 2)), ms = std::stoi(line.substr(t + 10, 3));
    return ((h * 60LL + m) * 60 + sec) * 1000 + ms;
  }
  return -1;
}

bool assembled(PropletClient& client, const std::string& app, const std::string& module) {
  const auto got = client.wait_complete(app, kTimeout);
  return got && sha256_digest(*got) == sha256_digest(module);
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_broker_killed_mid_transfer_strands_no_proplet) {
  for (const bool cache : {true, false}) {
    BOOST_TEST_CONTEXT((cache ? "cache on" : "cache off")) {
      Stack s;
      const std::string big = random_wasm(64u << 20, 701);
      s.pusher.push_wasm("big", "v1", big);
      // The relay holds the blob at 16 MiB until the broker is gone: the transfer is still under
      // way when it dies, however fast or slow the machine.
      FaultRelay relay({.target_port = s.registry.port(), .budget = 16u << 20});
      std::vector<std::string> env = {"PROXY_REGISTRY_URL=http://" + relay.host()};
      if (!cache) env.push_back("PROXY_CACHE_MAX_BYTES=0");
      s.start_proxy(env);
      auto clients = PropletClient::connect_many(s.broker.url(), {s.channel, s.channel});
      PropletClient& asks_again = *clients[0];
      PropletClient& waits = *clients[1];
      const std::string app = relay.host() + "/big:v1";
      asks_again.request(app);
      BOOST_TEST_REQUIRE(waits.wait_message_count(8, 60s));

      s.broker.kill();
      BOOST_TEST_REQUIRE(s.proxy->wait_log("lost the MQTT broker", 30s));
      relay.open();                     // the rest of the blob comes while the broker is away
      std::this_thread::sleep_for(1s);  // how long it is away
      s.broker.start();
      BOOST_TEST_REQUIRE(asks_again.wait_connected(60s));
      asks_again.request(app);  // as a proplet that asks again does
      BOOST_TEST(assembled(asks_again, app, big));
      BOOST_TEST(assembled(waits, app, big));
      BOOST_TEST(s.registry.count_requests("GET", "/blobs/") == 1);

      const std::string log = s.proxy->log();
      const long long lost = logged_at_ms(log, "lost the MQTT broker");
      const long long attempt = logged_at_ms(log, "connecting to the MQTT broker");
      BOOST_TEST_MESSAGE("first reconnect attempt " << attempt - lost << " ms after the loss");
      BOOST_TEST(attempt >= lost);
      BOOST_TEST(attempt - lost <= 1000);
      BOOST_TEST(log.find("publishing again after the broker came back") != std::string::npos);
      BOOST_TEST(log.find("transfer failed") == std::string::npos, log);
    }
  }
}

// Nobody asks again: what reaches the proplet after the restart is what the proxy sends by itself.
BOOST_AUTO_TEST_CASE(a_proplet_that_never_asks_again_still_assembles) {
  Stack s;
  const std::string big = random_wasm(32u << 20, 702);
  s.pusher.push_wasm("big", "v1", big);
  FaultRelay relay({.target_port = s.registry.port(), .budget = 8u << 20});
  s.start_proxy({"PROXY_REGISTRY_URL=http://" + relay.host(), "PROXY_CACHE_MAX_BYTES=0"});
  PropletClient waits(s.broker.url(), s.channel);
  const std::string app = relay.host() + "/big:v1";
  waits.request(app);
  BOOST_TEST_REQUIRE(waits.wait_message_count(8, 60s));
  s.broker.kill();
  BOOST_TEST_REQUIRE(s.proxy->wait_log("lost the MQTT broker", 30s));
  std::this_thread::sleep_for(1s);
  s.broker.start();
  relay.open();
  BOOST_TEST(assembled(waits, app, big));
  BOOST_TEST(s.registry.count_requests("GET", "/blobs/") == 1);
  BOOST_TEST(s.proxy->log().find("transfer failed") == std::string::npos, s.proxy->log());
}

// A transfer that had just finished: every chunk acknowledged, all of them still in the broker's
// queue for a device that stalled. The broker dies with them; the proxy sends them again from
// what the transfer kept (the cache off: its own copy, for a few seconds). The registry's blob is
// held half-way for 6 s, as a slow machine would take: the first chunks were acknowledged long
// before the loss, and are sent again all the same (what the broker can hold, not what it got in
// the last seconds).
BOOST_AUTO_TEST_CASE(a_transfer_that_had_just_finished_is_sent_again) {
  Stack s;
  const std::string module = random_wasm(16u << 20, 703);
  s.pusher.push_wasm("done", "v1", module);
  FaultRelay relay({.target_port = s.registry.port(), .budget = 8u << 20});
  s.start_proxy({"PROXY_REGISTRY_URL=http://" + relay.host(), "PROXY_CACHE_MAX_BYTES=0"});
  PropletClient stalled(s.broker.url(), s.channel);
  const std::string app = relay.host() + "/done:v1";
  stalled.request(app);
  stalled.hold_deliveries(true);
  // The first half is acknowledged: 16 chunks of 512 000 bytes, more than the chunk window.
  BOOST_TEST_REQUIRE(s.proxy->wait_series(
      "propeller_proxy_chunks_published_total", [](double n) { return n >= 16; }, 60s));
  std::this_thread::sleep_for(6s);  // longer ago than RecentAcks::kHorizon, when the loss comes
  relay.open();
  BOOST_TEST_REQUIRE(s.proxy->wait_log("transfer completed app_name=" + app, 60s));
  s.broker.kill();
  BOOST_TEST_REQUIRE(s.proxy->wait_log("lost the MQTT broker", 30s));
  std::this_thread::sleep_for(1s);
  s.broker.start();
  stalled.hold_deliveries(false);
  BOOST_TEST(assembled(stalled, app, module));
  BOOST_TEST(s.proxy->wait_log("after=\"a broker restart\"", 30s), s.proxy->log());
  BOOST_TEST(s.registry.count_requests("GET", "/blobs/") == 1);
}

// PROXY_MQTT_CLEAN_SESSION=false: the broker keeps the proxy's session (its subscriptions, and the
// requests that arrive for them) while the proxy restarts.
BOOST_AUTO_TEST_CASE(a_kept_session_receives_requests_sent_while_the_proxy_was_away) {
  for (const std::string version : {"3.1.1", "5"}) {
    BOOST_TEST_CONTEXT("MQTT " << version) {
      Stack s;
      const std::string wasm = random_wasm(100'000, 704);
      s.pusher.push_wasm("kept", "v1", wasm);
      const std::vector<std::string> env = {"PROXY_MQTT_CLEAN_SESSION=false",
                                            "PROXY_INSTANCE_ID=proxy-kept-session",
                                            "PROXY_MQTT_VERSION=" + version};
      s.start_proxy(env);
      PropletClient client(s.broker.url(), s.channel);
      s.stop_proxy();
      const std::string app = s.ref("kept", "v1");
      client.request(app);  // nobody is subscribed now but the proxy's kept session
      s.start_proxy(env);
      BOOST_TEST((client.wait_complete(app, 60s) == std::optional<std::string>(wasm)));
    }
  }
}
