#pragma once
// One thread that runs tasks one at a time in the order they were posted, and a periodic task
// between them: work that must not hold up the thread that asks for it (the module cache's
// stores and evictions, off the pipeline's serial verify stage).

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace pp {

class TaskThread {
 public:
  // `periodic` runs every `period` on the thread; none when it is empty.
  explicit TaskThread(std::chrono::milliseconds period = {}, std::function<void()> periodic = {});
  // Runs the tasks already posted, then stops.
  ~TaskThread();
  TaskThread(const TaskThread&) = delete;
  TaskThread& operator=(const TaskThread&) = delete;

  // Thread-safe. A task is destroyed, and so lets go of what it holds, as soon as it has run.
  void post(std::function<void()> task);
  // Returns once every task posted before the call has run and been destroyed.
  void drain();

 private:
  void run();

  const std::chrono::milliseconds period_;
  const std::function<void()> periodic_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  std::deque<std::function<void()>> tasks_;
  std::uint64_t posted_ = 0;
  std::uint64_t finished_ = 0;
  bool stopping_ = false;
  std::thread thread_;  // last: started once the rest is set up
};

}  // namespace pp
