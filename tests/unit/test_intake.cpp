#define BOOST_TEST_MODULE intake
#include <atomic>
#include <boost/test/unit_test.hpp>
#include <string>
#include <thread>
#include <vector>

#include "nodes/stages/intake.hpp"

using pp::Intake;

namespace {

// Offers `payload` on channel `key` (the topic says which, for the drops).
Intake::Offered offer(Intake& intake, const std::string& key, const std::string& payload) {
  return intake.offer(key, "t/" + key, payload);
}

std::string take_all(Intake& intake) {
  std::string order;
  while (auto next = intake.take())
    order += next->payload.view();
  return order;
}

}  // namespace

// Each row: a message offered on a channel to an intake bounded at 4; whether it is kept with a
// token of its own, and which topic was dropped to keep the bound.
BOOST_AUTO_TEST_CASE(past_the_bound_the_channel_with_the_most_drops_its_newest) {
  struct Row {
    std::string key, payload;
    bool token;
    std::string dropped;  // empty: none
  };
  const std::vector<Row> rows = {
      {"a", "a1", true, ""},     {"a", "a2", true, ""},
      {"a", "a3", true, ""},     {"b", "b1", true, ""},  // full: a3 a2 a1 b1
      {"a", "a4", false, "t/a"},                         // a has the most: its newcomer goes
      {"c", "c1", false, "t/a"},                         // a gives up its newest (a3) for c
      {"b", "b2", false, "t/b"},                         // a 2, b 1, c 1: b is not 2 behind a
      {"c", "c2", false, "t/c"},                         // nor is c
  };
  Intake intake(4);
  for (const auto& r : rows) {
    BOOST_TEST_CONTEXT(r.payload) {
      const auto offered = offer(intake, r.key, r.payload);
      BOOST_TEST(offered.token == r.token);
      BOOST_TEST(offered.dropped.value_or("") == r.dropped);
      BOOST_TEST(intake.size() <= 4u);
    }
  }
  // Read one per channel in turn, in the order the channels first had something waiting.
  BOOST_TEST(take_all(intake) == "a1b1c1a2");
  BOOST_TEST(intake.size() == 0u);
  BOOST_TEST(intake.channels() == 0u);
}

// A channel publishing in a loop cannot keep another's one request out, nor delay it by more than
// a message: it is read in the next round.
BOOST_AUTO_TEST_CASE(a_flood_does_not_crowd_out_a_quiet_channel) {
  Intake intake(256);
  std::size_t tokens = 0;
  for (int i = 0; i < 10'000; ++i)
    tokens += offer(intake, "flood", "f").token ? 1 : 0;
  const auto quiet = offer(intake, "quiet", "q");
  BOOST_TEST(quiet.dropped.has_value());  // one of the flood's, to make room
  BOOST_TEST(*quiet.dropped == "t/flood");
  BOOST_TEST(tokens == 256u);  // one per message waiting, whatever was offered
  BOOST_TEST(intake.take()->payload.view() == "f");
  BOOST_TEST(intake.take()->payload.view() == "q");
  std::size_t left = 0;
  while (intake.take())
    ++left;
  BOOST_TEST(left == 254u);  // 256 waiting: the flood's 255 and the quiet one
}

// Channels come from topics, which requesters choose: a flood over many channels is bounded all
// the same, and nothing is kept for channels with nothing waiting.
BOOST_AUTO_TEST_CASE(many_channels_share_the_bound) {
  Intake intake(100);
  for (int i = 0; i < 5000; ++i)
    offer(intake, "c" + std::to_string(i), std::string(100, 'x'));
  BOOST_TEST(intake.size() == 100u);
  BOOST_TEST(intake.channels() == 100u);
  while (intake.take()) {
  }
  BOOST_TEST(intake.channels() == 0u);
  BOOST_TEST(!intake.take().has_value());
}

// Paho's thread offers while the request stage takes (also run under ThreadSanitizer by
// tests/run): every message kept is taken exactly once, and one token is handed out for each.
BOOST_AUTO_TEST_CASE(offered_and_taken_from_other_threads) {
  Intake intake(64);
  std::atomic<std::size_t> tokens{0}, dropped{0}, taken{0};
  std::atomic<bool> offering{true};
  std::thread reader([&] {
    while (offering.load() || tokens.load() > taken.load()) {
      if (tokens.load() > taken.load() && intake.take()) taken.fetch_add(1);
    }
  });
  std::vector<std::thread> offerers;
  for (int t = 0; t < 2; ++t) {
    offerers.emplace_back([&, t] {
      for (int i = 0; i < 20'000; ++i) {
        const auto offered = offer(intake, "c" + std::to_string((t * 7 + i) % 5), "x");
        tokens.fetch_add(offered.token ? 1 : 0);
        dropped.fetch_add(offered.dropped ? 1 : 0);
      }
    });
  }
  for (auto& t : offerers)
    t.join();
  offering = false;
  reader.join();
  BOOST_TEST(taken.load() == tokens.load());
  BOOST_TEST(taken.load() + dropped.load() == 40'000u);
  BOOST_TEST(intake.size() == 0u);
}

// Large messages are held in pages of their own, which go back to the system as each is read
// (see Payload); small ones and copies read the same.
BOOST_AUTO_TEST_CASE(payloads_small_and_large_keep_their_bytes) {
  for (const std::size_t n : {std::size_t{0}, std::size_t{15}, pp::Payload::kMapped - 1,
                              pp::Payload::kMapped, std::size_t{100'000}}) {
    BOOST_TEST_CONTEXT(n << " bytes") {
      std::string bytes(n, 'x');
      for (std::size_t i = 0; i < n; ++i)
        bytes[i] = static_cast<char>('a' + i % 26);
      pp::Payload p(bytes);
      BOOST_TEST(p.view() == bytes);
      pp::Payload copy = p;
      pp::Payload moved = std::move(p);
      BOOST_TEST(copy.view() == bytes);
      BOOST_TEST(moved.view() == bytes);
      copy = moved;
      moved = pp::Payload("short");
      BOOST_TEST(copy.view() == bytes);
      BOOST_TEST(moved.view() == "short");
    }
  }
}
