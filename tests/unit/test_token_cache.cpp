// The registry token cache: what it answers, and what it drops when tokens expire or it is full.
#define BOOST_TEST_MODULE token_cache
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>
#include <string>
#include <vector>

#include "nodes/clients/oci/token_cache.hpp"

namespace bdata = boost::unit_test::data;
using pp::oci::TokenCache;
using namespace std::chrono_literals;

namespace {

const TokenCache::Clock::time_point t0 = TokenCache::Clock::now();

// One step: at `at` after t0, `put` a token for `key` valid for `valid` (or, without `valid`, look
// `key` up), then expect exactly `held` to be found at that moment.
struct Step {
  std::chrono::seconds at;
  std::string key;
  std::optional<std::chrono::seconds> valid;
  std::vector<std::string> held;
};

struct Case {
  std::string name;
  std::size_t capacity;
  std::vector<Step> steps;
};

std::ostream& operator<<(std::ostream& os, const Case& c) {
  return os << c.name;
}

const std::vector<std::string> kKeys = {"r|a", "r|b", "r|c", "r|d", "s|a"};

const Case kCases[] = {
    {"a token is answered until it expires",
     4,
     {{0s, "r|a", 10s, {"r|a"}}, {9s, "r|a", {}, {"r|a"}}, {10s, "r|a", {}, {}}}},
    {"a token put again replaces the old one, without making room",
     2,
     {{0s, "r|a", 10s, {"r|a"}},
      {0s, "r|b", 5s, {"r|a", "r|b"}},
      {1s, "r|a", 20s, {"r|a", "r|b"}},
      {15s, "r|a", {}, {"r|a"}}}},
    {"when full, the expired go first, however late they expire",
     3,
     {{0s, "r|a", 2s, {"r|a"}},
      {0s, "r|b", 100s, {"r|a", "r|b"}},
      {0s, "r|c", 50s, {"r|a", "r|b", "r|c"}},
      {3s, "r|d", 60s, {"r|b", "r|c", "r|d"}}}},
    {"when full and none expired, the soonest to expire goes",
     3,
     {{0s, "r|a", 30s, {"r|a"}},
      {0s, "r|b", 10s, {"r|a", "r|b"}},
      {0s, "r|c", 20s, {"r|a", "r|b", "r|c"}},
      {1s, "r|d", 5s, {"r|a", "r|c", "r|d"}},
      {2s, "s|a", 40s, {"r|a", "r|c", "s|a"}}}},
    {"every expired token is dropped when one is added",
     4,
     {{0s, "r|a", 1s, {"r|a"}},
      {0s, "r|b", 1s, {"r|a", "r|b"}},
      {0s, "r|c", 9s, {"r|a", "r|b", "r|c"}},
      {5s, "r|d", 9s, {"r|c", "r|d"}}}},
    {"capacity 0 keeps nothing", 0, {{0s, "r|a", 10s, {}}}},
};

}  // namespace

BOOST_DATA_TEST_CASE(tokens_expire_and_the_cache_stays_bounded, bdata::make(kCases), c) {
  TokenCache cache(c.capacity);
  for (std::size_t i = 0; i < c.steps.size(); ++i) {
    const Step& s = c.steps[i];
    BOOST_TEST_CONTEXT("step " << i << " at " << s.at.count() << " s") {
      const auto now = t0 + s.at;
      if (s.valid) {
        cache.put(s.key, "token-" + s.key + "-" + std::to_string(i), now + *s.valid, now);
      } else {
        cache.find(s.key, now);
      }
      // Counted before the lookups below, which would drop what expired themselves.
      BOOST_TEST(cache.size(now) == s.held.size());
      std::vector<std::string> held;
      for (const auto& key : kKeys)
        if (cache.find(key, now)) held.push_back(key);
      BOOST_TEST(held == s.held, boost::test_tools::per_element());
    }
  }
}

BOOST_AUTO_TEST_CASE(the_token_answered_is_the_latest_put) {
  TokenCache cache;
  cache.put("r|a", "first", t0 + 10s, t0);
  cache.put("r|a", "second", t0 + 10s, t0);
  BOOST_TEST(cache.find("r|a", t0).value_or("") == "second");
}

BOOST_AUTO_TEST_CASE(a_flood_of_scopes_holds_no_more_than_the_capacity) {
  TokenCache cache;
  for (int i = 0; i < 10'000; ++i) {
    const auto now = t0 + std::chrono::milliseconds(i);
    cache.put("r|repository:flood" + std::to_string(i) + ":pull", std::string(1500, 't'), now + 54s,
              now);
  }
  BOOST_TEST(cache.size(t0 + 10s) == TokenCache::kDefaultCapacity);
  // The latest scopes are kept: they expire last.
  BOOST_TEST(cache.find("r|repository:flood9999:pull", t0 + 10s).has_value());
  BOOST_TEST(!cache.find("r|repository:flood0:pull", t0 + 10s).has_value());
}
