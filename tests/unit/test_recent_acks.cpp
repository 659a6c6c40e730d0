#define BOOST_TEST_MODULE recent_acks
#include <boost/test/unit_test.hpp>
#include <vector>

#include "nodes/model/recent_acks.hpp"

using pp::RecentAcks;
using namespace std::chrono_literals;
using Chunks = std::vector<std::uint64_t>;

namespace {
const RecentAcks::Clock::time_point t0 = RecentAcks::Clock::now();
}

// Each row: chunks acknowledged in this order, a broker that queues 3 per subscriber, then a
// loss: what is sent again. Time plays no part: a slow machine loses what a fast one does.
BOOST_AUTO_TEST_CASE(after_a_loss_the_last_broker_queue_of_chunks_is_sent_again) {
  struct Row {
    const char* what;
    Chunks acked;
    Chunks resent;
  };
  const std::vector<Row> rows = {
      {"nothing acknowledged", {}, {}},
      {"fewer than the broker holds: all of them", {0, 1}, {0, 1}},
      {"exactly what it holds", {0, 1, 2}, {0, 1, 2}},
      {"older ones it would have dropped anyway go", {0, 1, 2, 3, 4, 5}, {3, 4, 5}},
      {"in index order, whatever the acknowledgement order", {5, 3, 4}, {3, 4, 5}},
      {"a resent chunk counts once", {0, 1, 0}, {0, 1}},
  };
  for (const auto& r : rows) {
    BOOST_TEST_CONTEXT(r.what) {
      RecentAcks acks;
      for (std::size_t i = 0; i < r.acked.size(); ++i)
        acks.acknowledged(r.acked[i], t0 + std::chrono::hours(i), 3);  // however slow
      BOOST_TEST(acks.to_resend() == r.resent, boost::test_tools::per_element());
    }
  }
}

// What is kept is bounded by the broker's queue whatever the rate, and a transfer is stale (its
// chunks taken to be delivered) kHorizon after its last acknowledgement.
BOOST_AUTO_TEST_CASE(what_is_kept_is_bounded_and_goes_stale) {
  RecentAcks acks;
  for (std::uint64_t i = 0; i < 100'000; ++i)
    acks.acknowledged(i, t0, 1020);
  BOOST_TEST(acks.size() == 1020u);
  BOOST_TEST(!acks.stale(t0 + 4s));
  BOOST_TEST(acks.stale(t0 + 6s));
  BOOST_TEST(RecentAcks().stale(t0));
}
