// A fleet's load: many distinct apps through few transfer slots, and a small app that must not
// wait behind a large one (the in-flight window is shared fairly), against the real broker and
// registry.
#define BOOST_TEST_MODULE fleet
#include <algorithm>
#include <boost/test/unit_test.hpp>

#include "tests/integration/stack.hpp"
#include "tests/support/metrics.hpp"

using namespace pp::test;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_CASE(twenty_apps_through_four_slots_all_complete) {
  Stack s;
  std::vector<std::pair<std::string, std::string>> apps;
  for (int i = 0; i < 20; ++i) {
    const std::string repo = "fleet" + std::to_string(i);
    apps.emplace_back(s.ref(repo, "v1"), random_wasm(40'000 + 5'000 * i, 200 + i));
    s.pusher.push_wasm(repo, "v1", apps.back().second);
  }
  s.start_proxy({"PROXY_MAX_TRANSFERS=4", "PROXY_CHUNK_SIZE=16384"});
  PropletClient client(s.broker.url(), s.channel);
  for (const auto& [app, wasm] : apps)
    client.request(app);
  for (const auto& [app, wasm] : apps) {
    BOOST_TEST_CONTEXT(app) {
      BOOST_TEST((client.wait_complete(app, 30s) == std::optional<std::string>(wasm)));
      // The final status follows every chunk: a late or repeated one would have come by then.
      BOOST_TEST_REQUIRE(client.wait_status(app, 30s).has_value());
      const auto a = client.snapshot(app);
      BOOST_TEST(a.in_order);
      BOOST_TEST(a.duplicates == 0u);
    }
  }
  // Queued requests were served in arrival order: each started (resolving) before the next.
  const std::string log = s.proxy->log();
  std::size_t last = 0;
  for (const auto& [app, wasm] : apps) {
    const auto at = log.find("request accepted app_name=" + app + " ");
    BOOST_TEST_REQUIRE(at != std::string::npos, app);
    BOOST_TEST(at >= last, app);
    last = at;
  }
}

// Head of line: a 1 MB app requested just after a 64 MB one completes first, because a released
// window credit goes to the download that has waited longest.
BOOST_AUTO_TEST_CASE(a_small_app_is_not_stuck_behind_a_large_one) {
  Stack s;
  const std::string big = random_wasm(64u << 20, 301), small = random_wasm(1u << 20, 302);
  s.pusher.push_wasm("big", "v1", big);
  s.pusher.push_wasm("small", "v1", small);
  s.start_proxy({"PROXY_CHUNK_SIZE=65536", "PROXY_CHUNK_WINDOW=2"});
  PropletClient client(s.broker.url(), s.channel, 1, /*keep_bytes=*/false);
  client.request(s.ref("big", "v1"));
  BOOST_TEST(s.proxy->wait_log("request accepted app_name=" + s.ref("big", "v1"), 30s));
  client.request(s.ref("small", "v1"));
  BOOST_TEST_REQUIRE(client.wait_complete(s.ref("small", "v1"), 60s).has_value());
  const auto big_then = client.snapshot(s.ref("big", "v1"));
  BOOST_TEST(!big_then.complete, big_then.distinct << " of " << big_then.total_chunks);
  BOOST_TEST(client.snapshot(s.ref("small", "v1")).streamed_sha256 == sha256_digest(small));
  BOOST_TEST_REQUIRE(client.wait_complete(s.ref("big", "v1"), 120s).has_value());
  BOOST_TEST(client.snapshot(s.ref("big", "v1")).streamed_sha256 == sha256_digest(big));
}

// 10 000 transfers, each on a channel of its own (so that none joins another). Once they are
// answered the proxy holds no per-transfer state: no transfer record, no coalescing entry,
// nothing queued or in flight.
BOOST_AUTO_TEST_CASE(ten_thousand_transfers_leave_no_state_behind) {
  Stack s;
  const std::string wasm = random_wasm(2000, 310);
  s.pusher.push_wasm("many", "v1", wasm);
  // Room for all of them at once, waiting to be read and waiting for a transfer slot: this is
  // about what a transfer leaves behind, not about bursts past the intake (test_flood).
  s.start_proxy({"PROPLET_CHANNEL_ID=+", "PROXY_QUEUE_LIMIT=10000", "PROXY_INTAKE_LIMIT=10000",
                 "PROXY_LOG_LEVEL=info"});
  PropletClient client(s.broker.url(), s.channel);
  const std::string payload = R"({"app_name":")" + s.ref("many", "v1") + R"("})";
  constexpr int kTransfers = 10'000;
  for (int i = 0; i < kTransfers; ++i) {
    client.publish_raw("channels/n" + std::to_string(i) + "/messages/registry/proplet", payload);
  }
  const std::string url = "http://127.0.0.1:" + std::to_string(s.proxy->http_port()) + "/metrics";
  const auto completed = [&] {
    return series(http_get(url, {}, 30s).body,
                  R"(propeller_proxy_requests_total{outcome="completed"})");
  };
  const auto deadline = std::chrono::steady_clock::now() + 300s;
  while (completed() < kTransfers && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(250ms);
  }
  const std::vector<std::string> left = {R"(propeller_proxy_requests_total{outcome="failed"})",
                                         "propeller_proxy_requests_joined_total",
                                         "propeller_proxy_active_transfers",
                                         "propeller_proxy_transfer_objects",
                                         "propeller_proxy_joinable_transfers",
                                         "propeller_proxy_queue_depth",
                                         "propeller_proxy_window_in_use"};
  // The last transfers' records go just after their outcome is counted: wait for that.
  std::string m;
  for (const auto settle = std::chrono::steady_clock::now() + 60s;;) {
    m = http_get(url, {}, 30s).body;
    const bool clean = std::all_of(left.begin(), left.end(),
                                   [&](const std::string& name) { return series(m, name) == 0; });
    if (clean || std::chrono::steady_clock::now() > settle) break;
    std::this_thread::sleep_for(100ms);
  }
  BOOST_TEST(series(m, R"(propeller_proxy_requests_total{outcome="completed"})") == kTransfers);
  for (const std::string& name : left) {
    BOOST_TEST(series(m, name) == 0, name << " = " << series(m, name));
  }
  // One download, whatever the fleet does: every other transfer read the cached module.
  BOOST_TEST(series(m, "propeller_proxy_cache_misses_total") == 1);
  BOOST_TEST(series(m, "propeller_proxy_cache_hits_total") == kTransfers - 1);
}
