#define BOOST_TEST_MODULE refusal_log
#include <boost/test/unit_test.hpp>
#include <string>
#include <vector>

#include "nodes/common/refusal_log.hpp"

using pp::RefusalLog;
using namespace std::chrono_literals;

namespace {
const RefusalLog::Clock::time_point t0 = RefusalLog::Clock::now();
}

// Each row: at `at` after t0, a refusal with `code` on `channel`; whether it gets a line of its
// own, and what that line says was held back before it.
BOOST_AUTO_TEST_CASE(one_line_a_second_per_channel_with_what_it_held_back) {
  struct Row {
    std::chrono::milliseconds at;
    std::string channel, code;
    bool line;
    std::string held_back;
  };
  const std::vector<Row> rows = {
      {0ms, "t/a", "not_allowed", true, ""},
      {1ms, "t/a", "not_allowed", false, ""},
      {2ms, "t/a", "invalid_request", false, ""},
      {3ms, "t/a", "not_allowed", false, ""},
      {4ms, "t/b", "busy", true, ""},  // another channel has its own line
      {999ms, "t/a", "busy", false, ""},
      {1000ms, "t/a", "busy", true, "4 (busy 1, invalid_request 1, not_allowed 2)"},
      {1001ms, "u/a", "busy", true, ""},  // tenant and channel together are the key
  };
  RefusalLog refusals;
  for (const auto& r : rows) {
    BOOST_TEST_CONTEXT(r.channel << " " << r.code << " at " << r.at.count() << " ms") {
      RefusalLog::HeldBack held;
      BOOST_TEST(refusals.note(r.channel, r.code, t0 + r.at, held) == r.line);
      if (r.line) BOOST_TEST(held.describe() == r.held_back);
    }
  }
}

// A flood that stops is still accounted for: once its second is over, flush() reports what was
// held back, and forgets the channel.
BOOST_AUTO_TEST_CASE(flush_reports_what_a_finished_flood_held_back) {
  RefusalLog refusals;
  RefusalLog::HeldBack held;
  BOOST_TEST(refusals.note("t/a", "not_allowed", t0, held));
  for (int i = 0; i < 500; ++i)
    BOOST_TEST(!refusals.note("t/a", "not_allowed", t0 + 1ms, held));
  BOOST_TEST(refusals.flush(t0 + 500ms).empty());  // its second is not over
  const auto summaries = refusals.flush(t0 + 1s);
  BOOST_TEST_REQUIRE(summaries.size() == 1u);
  BOOST_TEST(summaries[0].channel == "t/a");
  BOOST_TEST(summaries[0].held_back.describe() == "500 (not_allowed 500)");
  BOOST_TEST(refusals.channels() == 0u);
  BOOST_TEST(refusals.flush(t0 + 3s).empty());
  BOOST_TEST(refusals.note("t/a", "not_allowed", t0 + 3s, held));  // a new flood: a new line
  BOOST_TEST(held.describe().empty());
}

// Topics name channels, so requesters choose the keys: at most kLinesPerSecond lines a second
// over all channels, the rest counted into one summary, and only channels that had a line are
// remembered.
BOOST_AUTO_TEST_CASE(many_channels_share_a_line_budget) {
  RefusalLog refusals;
  std::size_t lines = 0;
  for (int i = 0; i < 10'000; ++i) {
    RefusalLog::HeldBack held;
    lines += refusals.note("t/" + std::to_string(i), "not_allowed", t0 + 10ms, held) ? 1 : 0;
  }
  BOOST_TEST(lines == RefusalLog::kLinesPerSecond);
  BOOST_TEST(refusals.channels() == RefusalLog::kLinesPerSecond);
  const auto summaries = refusals.flush(t0 + 2s);
  BOOST_TEST_REQUIRE(summaries.size() == 1u);
  BOOST_TEST(summaries[0].channel.empty());
  BOOST_TEST(summaries[0].held_back.count == 10'000u - RefusalLog::kLinesPerSecond);
  BOOST_TEST(refusals.channels() == 0u);
  // The budget is per second: the next second has lines again.
  RefusalLog::HeldBack held;
  BOOST_TEST(refusals.note("t/x", "busy", t0 + 2s, held));
}
