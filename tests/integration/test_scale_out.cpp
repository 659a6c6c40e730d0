// Many channels, every channel, and many proxies: answers go to the channel a request came from,
// and proxies in one shared-subscription group split the requests so that each is answered once.
#define BOOST_TEST_MODULE scale_out
#include <boost/test/unit_test.hpp>
#include <thread>

#include "tests/integration/stack.hpp"

using namespace pp::test;
using namespace std::chrono_literals;

namespace {

std::size_t count_of(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = haystack.find(needle); pos != std::string::npos;
       pos = haystack.find(needle, pos + 1)) {
    ++n;
  }
  return n;
}

}  // namespace

BOOST_AUTO_TEST_CASE(answers_go_to_the_channel_the_request_came_from) {
  for (const std::string channels : {"north,south", "+"}) {
    BOOST_TEST_CONTEXT("PROPLET_CHANNEL_ID=" << channels) {
      Stack s;
      const std::string a = random_wasm(3000, 1), b = random_wasm(4000, 2);
      s.pusher.push_wasm("a", "v1", a);
      s.pusher.push_wasm("b", "v1", b);
      s.start_proxy({"PROPLET_CHANNEL_ID=" + channels});
      PropletClient north(s.broker.url(), "north"), south(s.broker.url(), "south");
      north.request(s.ref("a", "v1"));
      south.request(s.ref("b", "v1"));
      BOOST_TEST((north.wait_complete(s.ref("a", "v1"), 30s) == std::optional<std::string>(a)));
      BOOST_TEST((south.wait_complete(s.ref("b", "v1"), 30s) == std::optional<std::string>(b)));
      s.drain(
          north);  // whatever the proxy sends anywhere for these requests has reached the broker
      BOOST_TEST_REQUIRE(south.sync());
      BOOST_TEST(north.snapshot(s.ref("b", "v1")).received == 0u);  // nothing crosses channels
      BOOST_TEST(south.snapshot(s.ref("a", "v1")).received == 0u);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_shared_group_splits_requests_and_answers_each_once) {
  Stack s;
  constexpr int kApps = 100;
  std::vector<std::pair<std::string, std::string>> apps;
  for (int i = 0; i < kApps; ++i) {
    std::string wasm = random_wasm(500 + i, 1000 + i);
    s.pusher.push_wasm("fleet/app" + std::to_string(i), "v1", wasm);
    apps.emplace_back(s.ref("fleet/app" + std::to_string(i), "v1"), std::move(wasm));
  }
  s.start_proxy({"PROXY_SHARED_GROUP=proxies"});
  ProxyProcess second({"PROPLET_MQTT_ADDRESS=" + s.broker.url(), "PROPLET_CHANNEL_ID=" + s.channel,
                       "PROXY_REGISTRY_URL=" + s.registry.url(), "PROXY_SHARED_GROUP=proxies",
                       "PROXY_LOG_LEVEL=debug"});
  PropletClient client(s.broker.url(), s.channel);
  for (const auto& [app, wasm] : apps)
    client.request(app);
  for (const auto& [app, wasm] : apps) {
    BOOST_TEST_CONTEXT(app) {
      BOOST_TEST((client.wait_complete(app, 20s) == std::optional<std::string>(wasm)));
    }
  }
  // Any second answer, from either proxy, has arrived by now.
  s.drain(client, {&*s.proxy, &second});
  for (const auto& [app, wasm] : apps) {
    BOOST_TEST_CONTEXT(app) {
      const auto a = client.snapshot(app);
      BOOST_TEST(a.received == 1u);  // one chunk, published once
      BOOST_TEST(a.duplicates == 0u);
      // One proxy answered: one of each state it reports.
      const auto statuses = client.status_messages(app);
      BOOST_TEST(std::ranges::count_if(statuses, [](const nlohmann::json& m) {
                   return m.value("state", "") == "completed";
                 }) == 1);
      BOOST_TEST(std::ranges::count_if(statuses, [](const nlohmann::json& m) {
                   return m.value("state", "") == "resolving";
                 }) == 1);
    }
  }
  const std::string completed = "transfer completed app_name=" + s.registry.host() + "/fleet/";
  const std::size_t first = count_of(s.proxy->log(), completed);
  const std::size_t other = count_of(second.log(), completed);
  BOOST_TEST_MESSAGE("proxy 1 answered " << first << ", proxy 2 answered " << other);
  BOOST_TEST(first + other == static_cast<std::size_t>(kApps));
  BOOST_TEST(first > 0u);
  BOOST_TEST(other > 0u);
  BOOST_TEST(second.process().stop(std::chrono::seconds(30)) == 0);
}
