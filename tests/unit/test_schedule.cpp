#define BOOST_TEST_MODULE schedule
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "nodes/model/schedule.hpp"

namespace {

// A transfer's life as the download and the request stage see it, one step per entry:
//   "stream N"          the module is known, N chunks, streamed
//   "select N: a b"     the module is known, N chunks, only a and b sent
//   "cut K"             the stream cut chunk K
//   "join" / "join: a b" / "join@sha256:x"   a request joins (all chunks / some / pinned)
//   "end"               the stream cut its last chunk
//   "next"              the download takes the next pending chunk
// The transcript records what each step answered.
std::vector<std::string> run(const std::vector<std::string>& steps) {
  pp::ChunkSchedule s;
  std::vector<std::string> out;
  const auto numbers = [](const std::string& text) {
    std::vector<std::uint64_t> v;
    std::size_t pos = 0;
    while (pos < text.size()) {
      std::size_t used = 0;
      v.push_back(std::stoull(text.substr(pos), &used));
      pos += used;
    }
    return v;
  };
  for (const std::string& step : steps) {
    if (step.starts_with("stream ")) {
      s.start_stream(std::stoull(step.substr(7)), "sha256:a");
    } else if (step.starts_with("select ")) {
      const auto colon = step.find(':');
      s.start_selection(std::stoull(step.substr(7)), "sha256:a", numbers(step.substr(colon + 1)));
    } else if (step.starts_with("cut ")) {
      s.cut(std::stoull(step.substr(4)));
    } else if (step.starts_with("join")) {
      std::vector<std::uint64_t> chunks;
      std::string digest;
      if (step.starts_with("join:")) chunks = numbers(step.substr(5));
      if (step.starts_with("join@")) digest = step.substr(5);
      switch (s.join(chunks, digest)) {
        case pp::ChunkSchedule::Join::joined:
          out.push_back("joined");
          break;
        case pp::ChunkSchedule::Join::refused:
          out.push_back("refused");
          break;
        case pp::ChunkSchedule::Join::out_of_range:
          out.push_back("out of range");
          break;
      }
    } else if (step == "end") {
      out.push_back(s.stream_ended() ? "end: last" : "end: more");
    } else if (step == "next") {
      const auto n = s.take_next();
      out.push_back(std::to_string(n.idx) + (n.last ? " last" : ""));
    } else {
      throw std::runtime_error("bad step " + step);
    }
  }
  return out;
}

struct Case {
  std::string name;
  std::vector<std::string> steps;
  std::vector<std::string> expected;
};

}  // namespace

BOOST_AUTO_TEST_CASE(schedules) {
  const std::vector<Case> cases = {
      {"a lone request: the stream's last chunk ends it",
       {"stream 3", "cut 0", "cut 1", "end"},
       {"end: last"}},
      {"joined before the module is known: the stream serves both",
       {"join", "stream 3", "cut 0", "cut 1", "end"},
       {"joined", "end: last"}},
      {"joined after chunk 1: chunks 0 and 1 are resent after the last",
       {"stream 4", "cut 0", "cut 1", "join", "cut 2", "end", "next", "next"},
       {"joined", "end: more", "0", "1 last"}},
      {"two late joiners: each missing chunk is resent once",
       {"stream 4", "cut 0", "join", "cut 1", "join", "cut 2", "end", "next", "next"},
       {"joined", "joined", "end: more", "0", "1 last"}},
      {"joined while resending: one more round, from where the resend is",
       {"stream 3", "cut 0", "cut 1", "join", "end", "next", "join", "next", "next", "next"},
       {"joined", "end: more", "0", "joined", "1", "2", "0 last"}},
      {"joined after the last chunk was cut: refused",
       {"stream 2", "cut 0", "end", "join"},
       {"end: last", "refused"}},
      {"joined after the last resend: refused",
       {"stream 2", "cut 0", "join", "end", "next", "join"},
       {"joined", "end: more", "0 last", "refused"}},
      {"particular chunks: only those already cut are resent",
       {"stream 5", "cut 0", "cut 1", "join: 1 3", "cut 2", "cut 3", "end", "next"},
       {"joined", "end: more", "1 last"}},
      {"particular chunks all still to come: nothing is resent",
       {"stream 5", "cut 0", "join: 3 4", "end"},
       {"joined", "end: last"}},
      {"particular chunks out of range", {"stream 3", "join: 1 3"}, {"out of range"}},
      {"particular chunks before the module is known: refused", {"join: 0"}, {"refused"}},
      {"a pin that matches joins, another does not",
       {"stream 2", "join@sha256:a", "join@sha256:b"},
       {"joined", "refused"}},
      {"a pin before the module is known: refused", {"join@sha256:a"}, {"refused"}},
      {"a selection sends just its chunks, in order",
       {"select 6: 4 1 4", "next", "next"},
       {"1", "4 last"}},
      {"a selection joined by a request for other chunks",
       {"select 6: 2", "join: 5", "next", "next"},
       {"joined", "2", "5 last"}},
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.name) {
      BOOST_TEST(run(c.steps) == c.expected, boost::test_tools::per_element());
    }
  }
}

BOOST_AUTO_TEST_CASE(counts_requests_and_resends) {
  pp::ChunkSchedule s;
  s.start_stream(3, "sha256:a");
  s.cut(0);
  BOOST_TEST((s.join({}, "") == pp::ChunkSchedule::Join::joined));
  BOOST_TEST((s.join({}, "") == pp::ChunkSchedule::Join::joined));
  s.cut(1);
  BOOST_TEST(!s.stream_ended());
  BOOST_TEST(s.take_next().last);
  BOOST_TEST(s.requests() == 3u);
  BOOST_TEST(s.resent() == 1u);
  BOOST_TEST(s.sent() == 4u);
  BOOST_TEST(s.total_chunks() == 3u);
}

// The download and the request stage use one schedule from two threads: whatever the
// interleaving, every request that joined sees every chunk at least once from the moment it
// joined on. (Run under ThreadSanitizer too: see tests/run.)
BOOST_AUTO_TEST_CASE(joins_racing_the_download_miss_nothing) {
  constexpr std::uint64_t kChunks = 200;
  for (int round = 0; round < 20; ++round) {
    pp::ChunkSchedule s;
    s.start_stream(kChunks, "sha256:a");
    std::mutex mutex;
    std::vector<std::uint64_t> sent;  // what the download emitted, in order
    const auto emit = [&](std::uint64_t idx) {
      std::lock_guard lock(mutex);
      sent.push_back(idx);
    };
    std::thread download([&] {
      for (std::uint64_t idx = 0; idx + 1 < kChunks; ++idx) {
        s.cut(idx);  // before the chunk goes out, as the cutter does
        emit(idx);
      }
      bool last = s.stream_ended();
      emit(kChunks - 1);
      while (!last) {
        const auto next = s.take_next();
        emit(next.idx);
        last = next.last;
      }
    });
    std::vector<std::size_t> joined_at;  // positions in `sent` when a join succeeded
    std::thread joiner([&] {
      for (int i = 0; i < 50; ++i) {
        std::size_t at = 0;
        {
          std::lock_guard lock(mutex);
          at = sent.size();
        }
        if (s.join({}, "") == pp::ChunkSchedule::Join::joined) joined_at.push_back(at);
        std::this_thread::yield();
      }
    });
    download.join();
    joiner.join();
    for (const std::size_t at : joined_at) {
      std::vector<bool> seen(kChunks, false);
      for (std::size_t i = at; i < sent.size(); ++i)
        seen[sent[i]] = true;
      BOOST_TEST_REQUIRE(std::count(seen.begin(), seen.end(), false) == 0,
                         "a request that joined at " << at << " missed chunks");
    }
    BOOST_TEST(s.requests() == 1 + joined_at.size());
  }
}
