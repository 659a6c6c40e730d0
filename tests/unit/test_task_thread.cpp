// The thread the module cache's stores and evictions run on.
#define BOOST_TEST_MODULE task_thread
#include <atomic>
#include <boost/test/unit_test.hpp>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "nodes/common/task_thread.hpp"

using pp::TaskThread;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_CASE(tasks_run_in_the_order_posted_and_drain_waits_for_them) {
  std::vector<int> order;
  TaskThread thread;
  for (int i = 0; i < 100; ++i)
    thread.post([&order, i] { order.push_back(i); });
  thread.drain();
  BOOST_TEST_REQUIRE(order.size() == 100u);
  for (int i = 0; i < 100; ++i)
    BOOST_TEST(order[static_cast<std::size_t>(i)] == i);
}

// What a task holds (a writer's lock, a file) is let go of as soon as it has run.
BOOST_AUTO_TEST_CASE(a_task_lets_go_of_what_it_holds_once_it_has_run) {
  auto held = std::make_shared<int>(1);
  std::weak_ptr<int> watch = held;
  TaskThread thread;
  thread.post([held = std::move(held)] {});
  thread.drain();
  BOOST_TEST(watch.expired());
}

BOOST_AUTO_TEST_CASE(destruction_runs_what_was_posted) {
  std::atomic<int> ran{0};
  {
    TaskThread thread;
    for (int i = 0; i < 50; ++i)
      thread.post([&ran] {
        std::this_thread::sleep_for(1ms);
        ++ran;
      });
  }
  BOOST_TEST(ran.load() == 50);
}

BOOST_AUTO_TEST_CASE(the_periodic_task_runs_even_while_tasks_keep_coming) {
  std::atomic<int> periodic{0};
  TaskThread thread(20ms, [&periodic] { ++periodic; });
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (periodic.load() < 3 && std::chrono::steady_clock::now() < deadline) {
    thread.post([] { std::this_thread::sleep_for(1ms); });
    std::this_thread::sleep_for(500us);
  }
  BOOST_TEST(periodic.load() >= 3);
}

// A task that throws is logged; the thread goes on with the next.
BOOST_AUTO_TEST_CASE(a_task_that_throws_does_not_stop_the_thread) {
  bool ran = false;
  TaskThread thread;
  thread.post([] { throw std::runtime_error("disk on fire"); });
  thread.post([&ran] { ran = true; });
  thread.drain();
  BOOST_TEST(ran);
}
