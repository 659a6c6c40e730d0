#define BOOST_TEST_MODULE window
#include <boost/test/unit_test.hpp>
#include <string>
#include <vector>

#include "pipeline/window.hpp"

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
