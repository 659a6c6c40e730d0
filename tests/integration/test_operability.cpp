// What operators watch: the HTTP endpoint's /health, /ready and /metrics, where it listens, and
// logs that are parseable and free of secrets.
#define BOOST_TEST_MODULE operability
#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "tests/integration/stack.hpp"
#include "tests/support/metrics.hpp"

using namespace pp::test;
using namespace std::chrono_literals;

namespace {

// 0 while nothing listens yet.
long status_of(const std::string& url) {
  try {
    return http_get(url, {}, 30s).status;
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
      http_get("http://127.0.0.1:" + std::to_string(s.proxy->http_port()) + "/health", {}, 30s);
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.body == R"({"status":"ok","service":"proxy"})");
}

BOOST_AUTO_TEST_CASE(ready_follows_the_broker_connection) {
  Stack s;
  s.start_proxy();
  const std::string ready = "http://127.0.0.1:" + std::to_string(s.proxy->http_port()) + "/ready";
  BOOST_TEST(status_of(ready) == 200);
  s.broker.stop();
  BOOST_TEST(wait_status(ready, 503, 30s));
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
  BOOST_TEST(wait_status(ready, 503, 30s));
  s.broker.start();
  BOOST_TEST(wait_status(ready, 200, 20s));
  // And then it serves.
  const std::string wasm = random_wasm(1000, 3);
  s.pusher.push_wasm("late", "v1", wasm);
  PropletClient client(s.broker.url(), s.channel);
  client.request(s.ref("late", "v1"));
  BOOST_TEST(client.wait_complete(s.ref("late", "v1"), 30s).has_value());
}

BOOST_AUTO_TEST_CASE(json_logs_are_one_object_per_line_with_fields) {
  Stack s;
  const std::string wasm = random_wasm(2000, 4);
  s.pusher.push_wasm("json", "v1", wasm);
  s.start_proxy({"PROXY_LOG_FORMAT=json"});
  PropletClient client(s.broker.url(), s.channel);
  client.request(s.ref("json", "v1"));
  BOOST_TEST_REQUIRE(client.wait_complete(s.ref("json", "v1"), 30s).has_value());
  BOOST_TEST(s.proxy->wait_log(R"("msg":"transfer completed")", 30s));
  std::istringstream lines(s.proxy->log());
  std::string line;
  int completed = 0, parsed = 0;
  while (std::getline(lines, line)) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    BOOST_TEST_REQUIRE(j.is_object(), "not a JSON object: " << line);
    ++parsed;
    BOOST_TEST(j.at("ts").is_string());
    BOOST_TEST(j.at("level").is_string());
    BOOST_TEST(j.at("msg").is_string());
    if (j["msg"] == "transfer completed") {
      ++completed;
      BOOST_TEST(j.at("app_name") == s.ref("json", "v1"));
      BOOST_TEST(j.at("digest") == sha256_digest(wasm));
      BOOST_TEST(j.at("duration_ms").is_number());
      BOOST_TEST(j.at("size") == 2000);
    }
  }
  BOOST_TEST(parsed >= 3);
  BOOST_TEST(completed == 1);
}

// Registry credentials, tokens and the MQTT password never reach a log line, at any level, whether
// the request succeeds or is refused.
// The endpoint listens where PROXY_HTTP_HOST says: loopback only by default, so that a proxy
// outside a container does not show its metrics to the network.
BOOST_AUTO_TEST_CASE(the_endpoint_listens_on_the_configured_address_only) {
  Stack s;
  s.start_proxy();
  const std::string port = std::to_string(s.proxy->http_port());
  BOOST_TEST(status_of("http://127.0.0.1:" + port + "/health") == 200);
  BOOST_TEST(status_of("http://127.0.0.2:" + port + "/health") == 0);
  // Held on 127.0.0.1 for the test: nothing else can answer there.
  const ReservedPort held;
  s.start_proxy({"PROXY_HTTP_HOST=127.0.0.2", "PROXY_HTTP_PORT=" + std::to_string(held.port())});
  const std::string moved = std::to_string(s.proxy->http_port());
  BOOST_TEST(wait_status("http://127.0.0.2:" + moved + "/health", 200, 30s));
  BOOST_TEST(status_of("http://127.0.0.1:" + moved + "/health") == 0);
}

BOOST_AUTO_TEST_CASE(secrets_never_reach_the_log) {
  const std::string user = "fleet", password = "pw-Zq8-never-logged";
  TempDir tmp("pp-secrets-");
  Stack s(htpasswd_registry(user, password));

  const std::vector<std::string> secrets = {
      password,
      "thing-key-never-logged",
      "tok-never-logged",
      base64_encode(user + ":" + password),  // what an Authorization: Basic header would carry
      "Authorization",
      "authorization"};
  const std::string wasm = random_wasm(5000, 6);
  write_file(tmp.file("app.wasm"), wasm);
  ChildProcess push(
      {PP_PROXY_BINARY, "push", tmp.file("app.wasm"), s.ref("private", "v1"), "--registry-url",
       s.registry.url(), "--authenticate", "true", "--registry-username", user,
       "--registry-password", password, "--log-level", "debug"},
      {}, tmp.file("push.log"));
  BOOST_TEST_REQUIRE(push.wait_exit(30s).value_or(-1) == 0, push.log());

  s.start_proxy({"PROXY_AUTHENTICATE=true", "PROXY_REGISTRY_USERNAME=" + user,
                 "PROXY_REGISTRY_PASSWORD=" + password, "PROPLET_THING_ID=proxy-1",
                 "PROPLET_THING_KEY=thing-key-never-logged"});
  PropletClient client(s.broker.url(), s.channel);
  client.request(s.ref("private", "v1"));
  BOOST_TEST(client.wait_complete(s.ref("private", "v1"), 30s).has_value());
  client.request(s.ref("private", "missing"));
  BOOST_TEST(s.proxy->wait_log("code=not_found", 30s));
  const std::string good_log = s.proxy->log();
  // Nor does the HTTP endpoint show any.
  std::string endpoint;
  for (const char* path : {"/health", "/ready", "/metrics"}) {
    endpoint +=
        http_get("http://127.0.0.1:" + std::to_string(s.proxy->http_port()) + path, {}, 30s).body;
  }
  BOOST_TEST(endpoint.find("propeller_proxy_") != std::string::npos);
  s.stop_proxy();

  // A wrong secret: refused, and still not logged.
  s.start_proxy({"PROXY_REGISTRY_TOKEN=tok-never-logged"});
  client.request(s.ref("private", "v1"));
  BOOST_TEST(s.proxy->wait_log("code=unauthorized", 30s));
  const std::string refused_log = s.proxy->log();

  for (const auto& secret : secrets) {
    BOOST_TEST_CONTEXT(secret) {
      BOOST_TEST(good_log.find(secret) == std::string::npos);
      BOOST_TEST(refused_log.find(secret) == std::string::npos);
      BOOST_TEST(push.log().find(secret) == std::string::npos);
      BOOST_TEST(endpoint.find(secret) == std::string::npos);
    }
  }
}

BOOST_AUTO_TEST_CASE(metrics_count_what_happened) {
  Stack s;
  const std::string wasm = random_wasm(250'000, 8);
  s.pusher.push_wasm("m", "v1", wasm);
  s.start_proxy({"PROXY_CHUNK_SIZE=100000"});
  const std::string url = "http://127.0.0.1:" + std::to_string(s.proxy->http_port()) + "/metrics";
  PropletClient client(s.broker.url(), s.channel);
  client.request(s.ref("m", "v1"));
  BOOST_TEST_REQUIRE(client.wait_complete(s.ref("m", "v1"), 30s).has_value());
  // Counted before its status is published; and it leaves the active transfers in the same step
  // of the serial track stage, which answers the refusal of the garbage below only after it.
  BOOST_TEST_REQUIRE(client.wait_status(s.ref("m", "v1"), 30s).has_value());
  client.request(s.ref("m", "missing"));
  BOOST_TEST_REQUIRE(client.wait_status(s.ref("m", "missing"), 30s).has_value());
  client.publish_raw(client.request_topic(), "garbage");
  BOOST_TEST_REQUIRE(client.wait_status("", 30s).has_value());

  const auto r = http_get(url, {}, 30s);
  BOOST_TEST(r.status == 200);
  const std::string& m = r.body;
  BOOST_TEST(series(m, R"(propeller_proxy_requests_total{outcome="completed"})") == 1);
  BOOST_TEST(series(m, R"(propeller_proxy_requests_total{outcome="failed"})") == 1);
  BOOST_TEST(series(m, R"(propeller_proxy_requests_total{outcome="rejected"})") == 1);
  BOOST_TEST(series(m, R"(propeller_proxy_errors_total{code="not_found"})") == 1);
  BOOST_TEST(series(m, R"(propeller_proxy_errors_total{code="invalid_request"})") == 1);
  BOOST_TEST(series(m, "propeller_proxy_chunks_published_total") == 3);
  BOOST_TEST(series(m, "propeller_proxy_bytes_published_total") == 250000);
  BOOST_TEST(series(m, "propeller_proxy_active_transfers") == 0);
  BOOST_TEST(series(m, "propeller_proxy_queue_depth") == 0);
  BOOST_TEST(series(m, "propeller_proxy_window_in_use") == 0);
  BOOST_TEST(series(m, "propeller_proxy_window_capacity") == 10);
  BOOST_TEST(series(m, "propeller_proxy_registry_request_seconds_count") >=
             3);  // 2 manifests, 1 blob
  BOOST_TEST(series(m, R"(propeller_proxy_registry_request_seconds_bucket{le="+Inf"})") ==
             series(m, "propeller_proxy_registry_request_seconds_count"));
  BOOST_TEST(series(m, "propeller_proxy_mqtt_reconnects_total") == 0);
  BOOST_TEST(series(m, "propeller_proxy_ready") == 1);

  // A broker restart is a reconnect.
  s.broker.stop();
  s.broker.start();
  const auto deadline = std::chrono::steady_clock::now() + 40s;
  while (series(http_get(url, {}, 30s).body, "propeller_proxy_mqtt_reconnects_total") != 1 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(200ms);
  }
  BOOST_TEST(series(http_get(url, {}, 30s).body, "propeller_proxy_mqtt_reconnects_total") == 1);
}
