#define BOOST_TEST_MODULE rate_limit
#include <atomic>
#include <boost/test/unit_test.hpp>
#include <string>
#include <thread>
#include <vector>

#include "nodes/common/rate_limit.hpp"

using pp::RateLimiter;
using namespace std::chrono_literals;

namespace {
const RateLimiter::Clock::time_point t0 = RateLimiter::Clock::now();
}

// Each row: at `at` after t0, `n` requests from `key`, of which `admitted` pass.
BOOST_AUTO_TEST_CASE(token_bucket_per_key) {
  struct Step {
    std::chrono::milliseconds at;
    std::string key;
    int n, admitted;
  };
  // 20/s, burst 100: the defaults.
  const std::vector<Step> steps = {
      {0ms, "t/a", 100, 100},     // a full bucket takes a burst
      {0ms, "t/a", 5, 0},         // then nothing
      {0ms, "t/b", 100, 100},     // another channel has its own bucket
      {50ms, "t/a", 2, 1},        // 50 ms refill one token
      {1050ms, "t/a", 25, 20},    // a second refills 20
      {7000ms, "t/a", 150, 100},  // a long quiet spell refills no more than the burst
      {7000ms, "u/a", 1, 1},      // tenant and channel together are the key
  };
  RateLimiter limiter(20, 100);
  for (const auto& s : steps) {
    BOOST_TEST_CONTEXT(s.key << " at " << s.at.count() << " ms") {
      int admitted = 0;
      for (int i = 0; i < s.n; ++i)
        admitted += limiter.admit(s.key, t0 + s.at).admitted ? 1 : 0;
      BOOST_TEST(admitted == s.admitted);
    }
  }
}

BOOST_AUTO_TEST_CASE(rate_zero_means_no_limit) {
  RateLimiter limiter(0, 100);
  for (int i = 0; i < 10'000; ++i)
    BOOST_TEST_REQUIRE(limiter.admit("t/a", t0).admitted);
  BOOST_TEST(limiter.keys() == 0u);
}

// Keys come from topics, which requesters choose: buckets that refilled are forgotten, so memory
// stays bounded by the keys active within one refill time.
BOOST_AUTO_TEST_CASE(refilled_buckets_are_forgotten) {
  RateLimiter limiter(10, 10);  // refills in 1 s
  for (int i = 0; i < 5000; ++i)
    limiter.admit("old/" + std::to_string(i), t0);
  BOOST_TEST(limiter.keys() == 5000u);
  for (int i = 0; i < 5000; ++i)
    limiter.admit("new/" + std::to_string(i), t0 + 2s);
  BOOST_TEST(limiter.keys() <= 5000u + 1024u);
  // A forgotten key starts again with a full bucket: it lost nothing.
  int admitted = 0;
  for (int i = 0; i < 20; ++i)
    admitted += limiter.admit("old/0", t0 + 2s).admitted ? 1 : 0;
  BOOST_TEST(admitted == 10);
}

// Requests arrive on whichever thread the graph's request stage runs: the buckets are shared
// (also run under ThreadSanitizer by tests/run). No more than the burst is admitted in a burst.
BOOST_AUTO_TEST_CASE(admits_from_many_threads_exactly_the_burst) {
  RateLimiter limiter(1, 100);
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        if (limiter.admit("k" + std::to_string(i % 3), t0).admitted) admitted.fetch_add(1);
        limiter.admit("t" + std::to_string(t) + "/" + std::to_string(i), t0);
      }
    });
  }
  for (auto& t : threads)
    t.join();
  BOOST_TEST(admitted.load() == 300);  // three keys, a burst of 100 each
}
