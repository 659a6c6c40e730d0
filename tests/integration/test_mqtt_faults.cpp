// Broker faults: a broker restart in the middle of a transfer pauses it, and it resumes from its
// first unacknowledged chunk once the proxy is connected again, without a second download.
#define BOOST_TEST_MODULE mqtt_faults
#include <boost/test/unit_test.hpp>

#include "tests/integration/stack.hpp"
#include "tests/support/fault_relay.hpp"

using namespace pp::test;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_CASE(a_broker_restart_mid_transfer_resumes_it) {
  Stack s;
  const std::string big = random_wasm(64u << 20, 601), small = random_wasm(70'000, 602);
  s.pusher.push_wasm("big", "v1", big);
  s.pusher.push_wasm("small", "v1", small);
  // The relay holds the blob at 16 MiB until the test lets the rest through: the transfer is still
  // under way when the broker restarts, however slow the machine.
  FaultRelay relay({.target_port = s.registry.port(), .budget = 16u << 20});
  s.start_proxy({"PROXY_REGISTRY_URL=http://" + relay.host(), "PROXY_MAX_TRANSFERS=1"});
  PropletClient client(s.broker.url(), s.channel, 1, /*keep_bytes=*/true);
  const std::string app = relay.host() + "/big:v1", queued = relay.host() + "/small:v1";
  client.request(app);
  client.request(queued);  // waits for the transfer slot, across the restart
  BOOST_TEST_REQUIRE(client.wait_message_count(8, 60s));

  s.broker.stop();
  BOOST_TEST_REQUIRE(s.proxy->wait_log("lost the MQTT broker", 30s));
  // More of the blob arrives while the broker is away: its chunks are cut, meet the lost
  // connection and are parked, until the window is full and the download pauses.
  relay.allow(8u << 20);
  std::this_thread::sleep_for(500ms);
  s.broker.start();
  BOOST_TEST_REQUIRE(client.wait_connected(60s));
  BOOST_TEST_REQUIRE(s.proxy->wait_log("publishing chunks held while the broker was away", 60s));
  // The proplet may have missed chunks published before it was back, so it asks again, as a
  // proplet whose connection dropped does: it joins the transfer under way.
  client.request(app);
  BOOST_TEST_REQUIRE(s.proxy->wait_log("request joined", 60s));
  relay.open();
  BOOST_TEST((client.wait_complete(app, 120s) == std::optional<std::string>(big)));
  BOOST_TEST((client.wait_complete(queued, 60s) == std::optional<std::string>(small)));
  BOOST_TEST(s.proxy->wait_log("transfer completed app_name=" + queued, 30s));

  const std::string log = s.proxy->log();
  BOOST_TEST(log.find("lost the MQTT broker") != std::string::npos);
  BOOST_TEST(log.find("transfer failed") == std::string::npos, log);
  BOOST_TEST(log.find("requests=2 ") != std::string::npos);      // the second request joined
  BOOST_TEST(s.registry.count_requests("GET", "/blobs/") == 2);  // one download per app
}
