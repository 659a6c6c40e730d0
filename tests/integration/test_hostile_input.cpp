// Anything on a channel can publish on its request topic, and the proxy makes HTTP requests on the
// requester's behalf: every request is untrusted. Each hostile one gets a log line and a failed
// status naming the problem, no HTTP request leaves for it, and the service keeps serving; one
// channel in a loop is slowed down (busy) without slowing the others.
#define BOOST_TEST_MODULE hostile_input
#include <boost/test/unit_test.hpp>
#include <sstream>
#include <thread>

#include "tests/integration/stack.hpp"

using namespace pp::test;
using namespace std::chrono_literals;

namespace {

constexpr auto kTimeout = 20s;

// The final status after the first `seen` ones for `app_name`, waiting for it.
std::optional<nlohmann::json> next_final_status(const PropletClient& client,
                                                const std::string& app_name, std::size_t seen) {
  const auto deadline = std::chrono::steady_clock::now() + kTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    const auto all = client.status_messages(app_name);
    std::size_t finals = 0;
    for (const auto& m : all) {
      const std::string state = m.value("state", "");
      if (state != "completed" && state != "failed") continue;
      if (finals++ == seen) return m;
    }
    std::this_thread::sleep_for(20ms);
  }
  return std::nullopt;
}

std::size_t count_lines(const std::string& log, const std::string& a, const std::string& b) {
  std::istringstream in(log);
  std::size_t n = 0;
  for (std::string line; std::getline(in, line);)
    n += line.find(a) != std::string::npos && line.find(b) != std::string::npos ? 1 : 0;
  return n;
}

}  // namespace

BOOST_AUTO_TEST_CASE(each_hostile_request_is_refused_by_name_and_service_goes_on) {
  Stack s;
  const std::string wasm = random_wasm(3000, 61);
  s.pusher.push_wasm("ok", "v1", wasm);
  s.start_proxy({"PROXY_MAX_REQUEST_BYTES=4096"});
  PropletClient client(s.broker.url(), s.channel);
  const std::string host = s.registry.host();
  struct Case {
    std::string payload, app_name, code, message;
  };
  const auto named = [](const std::string& app) { return R"({"app_name":")" + app + "\"}"; };
  const Case cases[] = {
      {"not json", "", "invalid_request", "not valid JSON"},
      {"[1]", "", "invalid_request", "not a JSON object"},
      {R"({"app":"x"})", "", "invalid_request", "has no \\\"app_name\\\""},
      {R"({"app_name":7})", "", "invalid_request", "is not a string"},
      {named(""), "", "invalid_request", "is empty"},
      {named(std::string(1025, 'a')), "", "invalid_request", "longer than 1024 bytes"},
      {R"({"app_name":"a\u0001b"})", "", "invalid_request", "control character"},
      {named(host + "/ok v1"), host + "/ok v1", "invalid_reference", "whitespace"},
      {named(host + "/a/../ok:v1"), host + "/a/../ok:v1", "invalid_reference", "\\\"..\\\""},
      {named(host + "/a%2e%2e/ok:v1"), host + "/a%2e%2e/ok:v1", "invalid_reference",
       "invalid character \\\"%\\\""},
      {named("evil.example@" + host + "/ok:v1"), "evil.example@" + host + "/ok:v1",
       "invalid_reference", "evil.example@"},
      {named(host + "/ok:v1#x"), host + "/ok:v1#x", "invalid_reference", "invalid tag"},
      {named(host + "/ok?x=1"), host + "/ok?x=1", "invalid_reference", "invalid character"},
      {named("http://" + host + "/ok:v1"), "http://" + host + "/ok:v1", "invalid_reference",
       "scheme"},
      {named("evil.example/ok:v1"), "evil.example/ok:v1", "not_allowed",
       "registry evil.example is not one this proxy fetches from (allowed: " + host},
      {named("169.254.169.254/latest/meta-data:v1"), "169.254.169.254/latest/meta-data:v1",
       "not_allowed", "PROXY_REGISTRY_ALLOW"},
  };
  std::map<std::string, std::size_t> seen;  // final statuses per app_name so far
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.payload.substr(0, 80)) {
      client.publish_raw(client.request_topic(), c.payload);
      const auto status = next_final_status(client, c.app_name, seen[c.app_name]++);
      BOOST_TEST_REQUIRE(status.has_value());
      BOOST_TEST(status->value("state", "") == "failed");
      BOOST_TEST(status->at("error").value("code", "") == c.code);
      BOOST_TEST(s.proxy->wait_log("code=" + c.code, kTimeout));
      BOOST_TEST(s.proxy->log().find(c.message) != std::string::npos, "log lacks " << c.message);
    }
  }
  // One over PROXY_MAX_REQUEST_BYTES is dropped unread, before it is copied: no status (there is
  // nothing to answer it with that costs less), a log line and a count.
  client.publish_raw(client.request_topic(), "{\"app_name\":\"" + std::string(5000, 'a') + "\"}");
  BOOST_TEST(s.proxy->wait_log(
      "request dropped unread topic=" + client.request_topic() + " reason=too_large", kTimeout));
  BOOST_TEST(s.proxy->log().find("larger than PROXY_MAX_REQUEST_BYTES (4096 bytes)") !=
             std::string::npos);
  // Nothing was asked of any registry on their behalf, and the service goes on.
  BOOST_TEST(s.registry.count_requests("GET", "/manifests/") == 0);
  BOOST_TEST(s.registry.count_requests("GET", "/blobs/") == 0);
  client.request(s.ref("ok", "v1"));
  BOOST_TEST(
      (client.wait_complete(s.ref("ok", "v1"), kTimeout) == std::optional<std::string>(wasm)));
  BOOST_TEST(s.proxy->process().running());
}

// PROXY_REGISTRY_ALLOW widens the default: a listed registry is served, others still refused.
BOOST_AUTO_TEST_CASE(an_allowed_registry_is_served) {
  Stack s;
  Registry other;
  RegistryPusher other_pusher(other.url());
  const std::string wasm = random_wasm(2000, 62);
  other_pusher.push_wasm("app", "v1", wasm);
  s.start_proxy({"PROXY_REGISTRY_ALLOW=" + other.host()});
  PropletClient client(s.broker.url(), s.channel);
  const std::string app = other.host() + "/app:v1";
  client.request(app);
  BOOST_TEST((client.wait_complete(app, kTimeout) == std::optional<std::string>(wasm)));
  client.request("evil.example/app:v1");
  const auto refused = client.wait_status("evil.example/app:v1", kTimeout);
  BOOST_TEST_REQUIRE(refused.has_value());
  BOOST_TEST(refused->at("error").value("code", "") == "not_allowed");
}

// A channel publishing in a loop hears "busy" past its burst, logged about once a second rather
// than once per message; another channel is served as if nothing happened; and the flooding one is
// served again once its bucket refilled.
BOOST_AUTO_TEST_CASE(a_flooding_channel_hears_busy_and_others_are_served) {
  Stack s;
  const std::string wasm = random_wasm(2000, 63);
  s.pusher.push_wasm("ok", "v1", wasm);
  Mosquitto& broker = s.broker;
  ProxyProcess proxy({"PROPLET_MQTT_ADDRESS=" + broker.url(), "PROPLET_CHANNEL_ID=flood,calm",
                      "PROXY_REGISTRY_URL=" + s.registry.url(), "PROXY_RATE_LIMIT=2",
                      "PROXY_RATE_BURST=10", "PROXY_LOG_LEVEL=debug"});
  auto clients = PropletClient::connect_many(broker.url(), {"flood", "calm"});
  PropletClient& flood = *clients[0];
  PropletClient& calm = *clients[1];
  const std::string app = s.ref("ok", "v1");
  // Tokens refill with the time the proxy takes to decide on the flood, which on a loaded machine
  // lags the time it takes to publish it: the bound comes from the proxy's clock. Its first
  // decision comes after this (the system clock, which its log shows too).
  const auto started = std::chrono::system_clock::now();
  constexpr int kFlood = 40;
  for (int i = 0; i < kFlood; ++i)
    flood.publish_raw(flood.request_topic(), R"({"app_name":"nope)" + std::to_string(i) + "\"}");
  int busy = 0, answered = 0;
  for (int i = 0; i < kFlood; ++i) {
    const auto status = flood.wait_status("nope" + std::to_string(i), kTimeout);
    BOOST_TEST_REQUIRE(status.has_value());
    ++answered;
    if (status->at("error").value("code", "") == "busy") {
      ++busy;
      BOOST_TEST(status->at("error").value("message", "").find("PROXY_RATE_LIMIT") !=
                 std::string::npos);
    }
  }
  BOOST_TEST(answered == kFlood);
  // Each flood request is logged (accepted, or rejected) after the rate limiter decided on it.
  const std::string log = proxy.log();
  std::optional<std::chrono::system_clock::time_point> last_decision;
  {
    std::istringstream in(log);
    for (std::string line; std::getline(in, line);) {
      const bool about_flood = line.find("request accepted app_name=nope") != std::string::npos ||
                               (line.find("request rejected") != std::string::npos &&
                                line.find("app_name=nope") != std::string::npos);
      const auto at = about_flood ? log_line_time(line) : std::nullopt;
      if (at && (!last_decision || *at > *last_decision)) last_decision = at;
    }
  }
  BOOST_TEST_REQUIRE(last_decision.has_value(), log);
  // + 1 ms: the log's timestamps are cut down to the millisecond.
  const double seconds = std::chrono::duration<double>(*last_decision + 1ms - started).count();
  BOOST_TEST_MESSAGE("the proxy decided on the flood within " << seconds << " s");
  // Admitted: the burst and what refilled meanwhile; the rest are busy.
  const int admitted_max = 10 + static_cast<int>(seconds * 2) + 1;
  BOOST_TEST(busy >= kFlood - admitted_max);
  BOOST_TEST(busy <= kFlood - 10);
  // One warning for the flood (two if it straddled a second), the rest at debug.
  const std::size_t warned = count_lines(log, " warning request rejected", "code=busy");
  BOOST_TEST(warned >= 1u);
  BOOST_TEST(warned <= 1u + static_cast<std::size_t>(seconds) + 1u);

  calm.request(app);
  BOOST_TEST((calm.wait_complete(app, kTimeout) == std::optional<std::string>(wasm)));

  // Served again once its bucket has refilled: asked until it is not busy (a refused request takes
  // no token).
  for (const auto deadline = std::chrono::steady_clock::now() + 60s;;) {
    flood.forget(app);
    flood.request(app);
    const auto status = flood.wait_status(app, kTimeout);
    BOOST_TEST_REQUIRE(status.has_value());
    if (status->value("state", "") != "failed" || status->at("error").value("code", "") != "busy") {
      break;
    }
    BOOST_TEST_REQUIRE((std::chrono::steady_clock::now() < deadline), "still busy after 60 s");
    std::this_thread::sleep_for(200ms);  // pacing: asking does not refill it
  }
  BOOST_TEST((flood.wait_complete(app, kTimeout) == std::optional<std::string>(wasm)));
  BOOST_TEST(proxy.process().stop(30s) == 0);
}
