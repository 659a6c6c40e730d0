#include "nodes/model/window.hpp"

#include <cassert>
#include <utility>

namespace pp {

ChunkWindow::ChunkWindow(std::size_t capacity) : capacity_(capacity) {
  assert(capacity > 0);
}

bool ChunkWindow::acquire_or_wait(Grant on_grant) {
  std::lock_guard lock(mutex_);
  if (in_use_ < capacity_) {
    ++in_use_;
    return true;
  }
  waiters_.push_back(std::move(on_grant));
  return false;
}

void ChunkWindow::release() {
  Grant next;
  {
    std::lock_guard lock(mutex_);
    assert(in_use_ > 0);
    if (waiters_.empty()) {
      --in_use_;
      return;
    }
    next = std::move(waiters_.front());  // the credit passes on: in_use_ is unchanged
    waiters_.pop_front();
  }
  next();
}

std::size_t ChunkWindow::in_use() const {
  std::lock_guard lock(mutex_);
  return in_use_;
}

std::size_t ChunkWindow::waiting() const {
  std::lock_guard lock(mutex_);
  return waiters_.size();
}

}  // namespace pp
