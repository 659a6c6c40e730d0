// A fleet's load: many distinct apps through few transfer slots, and a small app that must not
// wait behind a large one (the in-flight window is shared fairly), against the real broker and
// registry.
#define BOOST_TEST_MODULE fleet
#include <boost/test/unit_test.hpp>

#include "tests/integration/stack.hpp"

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
  BOOST_TEST(s.proxy->wait_log("request accepted app_name=" + s.ref("big", "v1"), 5s));
  client.request(s.ref("small", "v1"));
  BOOST_TEST_REQUIRE(client.wait_complete(s.ref("small", "v1"), 60s).has_value());
  const auto big_then = client.snapshot(s.ref("big", "v1"));
  BOOST_TEST(!big_then.complete, big_then.distinct << " of " << big_then.total_chunks);
  BOOST_TEST(client.snapshot(s.ref("small", "v1")).streamed_sha256 == sha256_digest(small));
  BOOST_TEST_REQUIRE(client.wait_complete(s.ref("big", "v1"), 120s).has_value());
  BOOST_TEST(client.snapshot(s.ref("big", "v1")).streamed_sha256 == sha256_digest(big));
}
