#include "nodes/common/task_thread.hpp"

#include <exception>

#include "nodes/common/log.hpp"

namespace pp {

namespace {

void run_guarded(const std::function<void()>& task) {
  try {
    task();
  } catch (const std::exception& e) {  // a task's failure is its own; the thread goes on
    log::error("background task failed", {{"error", e.what()}});
  }
}

}  // namespace

TaskThread::TaskThread(std::chrono::milliseconds period, std::function<void()> periodic)
    : period_(period), periodic_(std::move(periodic)), thread_([this] { run(); }) {}

TaskThread::~TaskThread() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void TaskThread::post(std::function<void()> task) {
  {
    std::lock_guard lock(mutex_);
    tasks_.push_back(std::move(task));
    ++posted_;
  }
  wake_.notify_one();
}

void TaskThread::drain() {
  std::unique_lock lock(mutex_);
  const std::uint64_t target = posted_;
  done_.wait(lock, [&] { return finished_ >= target; });
}

void TaskThread::run() {
  const bool has_periodic = periodic_ && period_.count() > 0;
  auto next_periodic = std::chrono::steady_clock::now() + period_;
  std::unique_lock lock(mutex_);
  for (;;) {
    const auto ready = [&] { return stopping_ || !tasks_.empty(); };
    if (has_periodic) {
      wake_.wait_until(lock, next_periodic, ready);
    } else {
      wake_.wait(lock, ready);
    }
    // Before the tasks: a steady stream of them must not starve it.
    if (has_periodic && !stopping_ && std::chrono::steady_clock::now() >= next_periodic) {
      lock.unlock();
      run_guarded(periodic_);
      lock.lock();
      next_periodic = std::chrono::steady_clock::now() + period_;
      continue;
    }
    if (tasks_.empty()) {
      if (stopping_) return;
      continue;
    }
    std::function<void()> task = std::move(tasks_.front());
    tasks_.pop_front();
    lock.unlock();
    run_guarded(task);
    task = nullptr;
    lock.lock();
    ++finished_;
    done_.notify_all();
  }
}

}  // namespace pp
