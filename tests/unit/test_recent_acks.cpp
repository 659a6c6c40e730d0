#define BOOST_TEST_MODULE recent_acks
#include <boost/test/unit_test.hpp>
#include <vector>

#include "nodes/recent_acks.hpp"

using pp::RecentAcks;
using namespace std::chrono_literals;
using Chunks = std::vector<std::uint64_t>;

namespace {
const RecentAcks::Clock::time_point t0 = RecentAcks::Clock::now();
}

// Each row: chunks acknowledged at the given times (window 3), then a loss: what is sent again.
BOOST_AUTO_TEST_CASE(after_a_loss_the_last_window_and_the_last_seconds_are_sent_again) {
  struct Ack {
    std::uint64_t idx;
    std::chrono::milliseconds at;
  };
  struct Row {
    const char* what;
    std::vector<Ack> acks;
    std::chrono::milliseconds lost_at;
    Chunks resent;
  };
  const std::vector<Row> rows = {
      {"nothing acknowledged", {}, 0ms, {}},
      {"all within the horizon", {{0, 0ms}, {1, 10ms}, {2, 20ms}, {3, 30ms}}, 100ms, {0, 1, 2, 3}},
      {"old ones beyond the window go",
       {{0, 0ms}, {1, 10ms}, {2, 8000ms}, {3, 8010ms}, {4, 8020ms}, {5, 8030ms}},
       8100ms,
       {2, 3, 4, 5}},
      {"the window's worth, however old",
       {{0, 0ms}, {1, 10ms}, {2, 20ms}, {3, 30ms}},
       60'000ms,
       {1, 2, 3}},
      {"acknowledged after the loss too (a kept session's retries)",
       {{0, 0ms}, {1, 20'000ms}},
       10'000ms,
       {0, 1}},
      {"a resent chunk counts once", {{0, 0ms}, {1, 10ms}, {0, 20ms}}, 30ms, {0, 1}},
  };
  for (const auto& r : rows) {
    BOOST_TEST_CONTEXT(r.what) {
      RecentAcks acks;
      for (const auto& a : r.acks)
        acks.acknowledged(a.idx, t0 + a.at, 3);
      BOOST_TEST(acks.to_resend(t0 + r.lost_at, 3) == r.resent, boost::test_tools::per_element());
    }
  }
}

// What is kept is bounded by the horizon and the window, and by kMaxKept whatever the rate.
BOOST_AUTO_TEST_CASE(what_is_kept_is_bounded) {
  RecentAcks acks;
  for (std::uint64_t i = 0; i < 100'000; ++i)
    acks.acknowledged(i, t0 + std::chrono::milliseconds(i), 10);
  BOOST_TEST(acks.size() <= 5001u + 10u);  // the last 5 s, at one a millisecond
  RecentAcks fast;
  for (std::uint64_t i = 0; i < 100'000; ++i)
    fast.acknowledged(i, t0, 10);
  BOOST_TEST(fast.size() == RecentAcks::kMaxKept);
  BOOST_TEST(!fast.stale(t0 + 4s));
  BOOST_TEST(fast.stale(t0 + 6s));
  BOOST_TEST(RecentAcks().stale(t0));
}
