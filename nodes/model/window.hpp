#pragma once
// The in-flight chunk window: at most `capacity` chunks exist between their cut and the broker's
// acknowledgement of their publish, across all transfers. This is the process's memory bound.
//
// It is a credit limiter rather than a tbb::flow::limiter_node because the producer of chunks is
// the HTTP I/O thread, outside the graph: a limiter_node can only reject what is pushed into it
// (the chunk would then have to be buffered or dropped), while a credit taken *before* the cut lets
// the download pause instead (CURL_WRITEFUNC_PAUSE) and no byte is ever buffered for lack of room.
//
// Fairness: a released credit goes to the longest waiter, so concurrent transfers take turns and a
// small app is not stuck behind a large one.

#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>

namespace pp {

class ChunkWindow {
 public:
  using Grant = std::function<void()>;

  explicit ChunkWindow(std::size_t capacity);

  // Takes a credit and returns true, or returns false and queues `on_grant`, which is called (on
  // the releasing thread, outside any lock) once a credit has been handed to it.
  bool acquire_or_wait(Grant on_grant);
  // Returns a credit: to the longest waiter, else to the pool.
  void release();

  std::size_t capacity() const { return capacity_; }
  std::size_t in_use() const;
  std::size_t waiting() const;

 private:
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::size_t in_use_ = 0;
  std::deque<Grant> waiters_;
};

}  // namespace pp
