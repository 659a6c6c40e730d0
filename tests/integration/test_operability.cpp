// What operators watch: the HTTP endpoint's /health and /ready.
#define BOOST_TEST_MODULE operability
#include <boost/test/unit_test.hpp>
#include <thread>

#include "tests/integration/stack.hpp"

using namespace pp::test;
using namespace std::chrono_literals;

namespace {

// 0 while nothing listens yet.
long status_of(const std::string& url) {
  try {
    return http_get(url, {}, 5s).status;
  } catch (const std::runtime_error&) {
    return 0;
  }
}

bool wait_status(const std::string& url, long expected, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (status_of(url) == expected) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

}  // namespace

BOOST_AUTO_TEST_CASE(health_answers_like_the_go_proxy) {
  Stack s;
  s.start_proxy();
  const auto r =
      http_get("http://127.0.0.1:" + std::to_string(s.proxy->http_port()) + "/health", {}, 5s);
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.body == R"({"status":"ok","service":"proxy"})");
}

BOOST_AUTO_TEST_CASE(ready_follows_the_broker_connection) {
  Stack s;
  s.start_proxy();
  const std::string ready = "http://127.0.0.1:" + std::to_string(s.proxy->http_port()) + "/ready";
  BOOST_TEST(status_of(ready) == 200);
  s.broker.stop();
  BOOST_TEST(wait_status(ready, 503, 10s));
  const std::string health = "http://127.0.0.1:" + std::to_string(s.proxy->http_port()) + "/health";
  BOOST_TEST(status_of(health) == 200);  // alive, just not ready
  s.broker.start();
  BOOST_TEST(wait_status(ready, 200, 40s));
}

BOOST_AUTO_TEST_CASE(not_ready_until_the_broker_answers) {
  Stack s;
  s.broker.stop();
  s.proxy.emplace(std::vector<std::string>{"PROPLET_MQTT_ADDRESS=" + s.broker.url(),
                                           "PROPLET_CHANNEL_ID=" + s.channel,
                                           "PROXY_REGISTRY_URL=" + s.registry.url()},
                  /*wait_ready=*/false);
  const std::string ready = "http://127.0.0.1:" + std::to_string(s.proxy->http_port()) + "/ready";
  BOOST_TEST(wait_status(ready, 503, 10s));
  s.broker.start();
  BOOST_TEST(wait_status(ready, 200, 20s));
  // And then it serves.
  const std::string wasm = random_wasm(1000, 3);
  s.pusher.push_wasm("late", "v1", wasm);
  PropletClient client(s.broker.url(), s.channel);
  client.request(s.ref("late", "v1"));
  BOOST_TEST(client.wait_complete(s.ref("late", "v1"), 10s).has_value());
}
