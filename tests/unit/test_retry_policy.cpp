#define BOOST_TEST_MODULE retry_policy
#include <boost/test/unit_test.hpp>

#include "nodes/clients/oci/retry_policy.hpp"

using namespace std::chrono_literals;
using pp::oci::RetryPolicy;

BOOST_AUTO_TEST_CASE(which_statuses_are_retried) {
  struct Case {
    long status;
    bool retried;
  };
  const Case cases[] = {{200, false}, {206, false}, {301, false}, {400, false}, {401, false},
                        {403, false}, {404, false}, {405, false}, {408, true},  {409, false},
                        {416, false}, {429, true},  {500, true},  {502, true},  {503, true},
                        {504, true},  {599, true},  {600, false}};
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.status) {
      BOOST_TEST(RetryPolicy::retryable_status(c.status) == c.retried);
    }
  }
}

BOOST_AUTO_TEST_CASE(delays_grow_with_jitter_and_honour_retry_after) {
  const RetryPolicy p;
  struct Case {
    int attempt;
    std::optional<std::string_view> retry_after;
    double jitter;
    std::chrono::milliseconds expected;
  };
  const Case cases[] = {
      {1, std::nullopt, 0.0, 100ms},
      {1, std::nullopt, 0.999999, 199ms},
      {2, std::nullopt, 0.0, 200ms},
      {3, std::nullopt, 1.0, 800ms},
      {7, std::nullopt, 1.0, 10000ms},
      {30, std::nullopt, 1.0, 10000ms},  // capped
      {1, "2", 0.5, 2000ms},
      {1, " 3 ", 0.0, 3000ms},
      {1, "0", 0.9, 0ms},
      {1, "3600", 0.0, 60000ms},                         // capped
      {2, "Wed, 21 Oct 2026 07:28:00 GMT", 0.0, 200ms},  // a date: the exponential step
      {1, "-5", 0.0, 100ms},
      {1, "soon", 1.0, 200ms},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT("attempt " << c.attempt << " retry-after "
                                  << std::string(c.retry_after.value_or("-")) << " jitter "
                                  << c.jitter) {
      BOOST_TEST(p.delay(c.attempt, c.retry_after, c.jitter).count() == c.expected.count());
    }
  }
}
