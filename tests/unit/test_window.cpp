#define BOOST_TEST_MODULE window
#include <atomic>
#include <boost/test/unit_test.hpp>
#include <string>
#include <thread>
#include <vector>

#include "nodes/model/window.hpp"

BOOST_AUTO_TEST_CASE(grants_up_to_capacity_then_queues) {
  pp::ChunkWindow w(2);
  std::vector<std::string> granted;
  BOOST_TEST(w.acquire_or_wait([&] { granted.push_back("a"); }));
  BOOST_TEST(w.acquire_or_wait([&] { granted.push_back("b"); }));
  BOOST_TEST(!w.acquire_or_wait([&] { granted.push_back("c"); }));
  BOOST_TEST(w.in_use() == 2u);
  BOOST_TEST(w.waiting() == 1u);
  BOOST_TEST(granted.empty());
}

BOOST_AUTO_TEST_CASE(released_credit_goes_to_the_longest_waiter) {
  pp::ChunkWindow w(1);
  std::vector<std::string> granted;
  BOOST_TEST(w.acquire_or_wait([] {}));
  BOOST_TEST(!w.acquire_or_wait([&] { granted.push_back("first"); }));
  BOOST_TEST(!w.acquire_or_wait([&] { granted.push_back("second"); }));
  w.release();
  BOOST_TEST(granted == std::vector<std::string>{"first"});
  BOOST_TEST(w.in_use() == 1u);  // the credit moved to the waiter, it did not come back
  w.release();
  BOOST_TEST((granted == std::vector<std::string>{"first", "second"}));
  w.release();
  BOOST_TEST(w.in_use() == 0u);
  BOOST_TEST(w.waiting() == 0u);
}

BOOST_AUTO_TEST_CASE(newcomer_cannot_overtake_waiters) {
  pp::ChunkWindow w(1);
  int grants = 0;
  BOOST_TEST(w.acquire_or_wait([] {}));
  BOOST_TEST(!w.acquire_or_wait([&] { ++grants; }));
  w.release();  // handed straight to the waiter
  BOOST_TEST(grants == 1);
  BOOST_TEST(!w.acquire_or_wait([] {}));  // so a newcomer still has to wait
}

BOOST_AUTO_TEST_CASE(grant_may_reenter_the_window) {
  pp::ChunkWindow w(1);
  bool regranted = false;
  BOOST_TEST(w.acquire_or_wait([] {}));
  BOOST_TEST(!w.acquire_or_wait([&] {
    w.release();  // a grant callback that gives its credit straight back must not deadlock
  }));
  BOOST_TEST(!w.acquire_or_wait([&] { regranted = true; }));
  w.release();
  BOOST_TEST(regranted);
}

// Downloads take credits on the I/O thread while the track stage and Paho's threads give them
// back: from several threads at once the window never grants more than its capacity, and every
// waiter is granted in the end. (Run under ThreadSanitizer too: see tests/run.)
BOOST_AUTO_TEST_CASE(credits_taken_and_returned_from_many_threads) {
  constexpr std::size_t kCapacity = 3;
  pp::ChunkWindow w(kCapacity);
  std::atomic<int> held{0}, peak{0}, granted{0};
  const auto hold = [&] {
    const int now = held.fetch_add(1) + 1;
    int seen = peak.load();
    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
    }
    granted.fetch_add(1);
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        std::atomic<bool> mine{false};
        if (w.acquire_or_wait([&] {
              hold();
              mine.store(true);
            })) {
          hold();
          mine.store(true);
        }
        while (!mine.load())
          std::this_thread::yield();
        held.fetch_sub(1);
        w.release();
      }
    });
  }
  for (auto& t : threads)
    t.join();
  BOOST_TEST(granted.load() == 2000);
  BOOST_TEST(peak.load() <= static_cast<int>(kCapacity));
  BOOST_TEST(w.in_use() == 0u);
  BOOST_TEST(w.waiting() == 0u);
}
