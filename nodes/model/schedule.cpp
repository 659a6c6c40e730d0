#include "nodes/model/schedule.hpp"

namespace pp {

void ChunkSchedule::start_stream(std::uint64_t total_chunks, std::string digest) {
  std::lock_guard lock(mutex_);
  started_ = true;
  streamed_ = true;
  total_ = total_chunks;
  digest_ = std::move(digest);
  pending_.assign(total_chunks, false);
}

void ChunkSchedule::start_selection(std::uint64_t total_chunks, std::string digest,
                                    const std::vector<std::uint64_t>& chunks) {
  std::lock_guard lock(mutex_);
  started_ = true;
  total_ = total_chunks;
  digest_ = std::move(digest);
  pending_.assign(total_chunks, false);
  cut_ = total_chunks;  // nothing will be streamed
  for (const std::uint64_t idx : chunks)
    mark_pending(idx);
}

void ChunkSchedule::mark_pending(std::uint64_t idx) {
  if (pending_[idx]) return;
  pending_[idx] = true;
  ++pending_count_;
}

ChunkSchedule::Join ChunkSchedule::join(const std::vector<std::uint64_t>& chunks,
                                        std::string_view digest) {
  return add(chunks, digest, true);
}

ChunkSchedule::Join ChunkSchedule::resend(const std::vector<std::uint64_t>& chunks) {
  if (chunks.empty()) return Join::joined;  // (empty would mean every chunk to add())
  return add(chunks, {}, false);
}

ChunkSchedule::Join ChunkSchedule::add(const std::vector<std::uint64_t>& chunks,
                                       std::string_view digest, bool request) {
  std::lock_guard lock(mutex_);
  if (closed_) return Join::refused;
  if ((!chunks.empty() || !digest.empty()) && !started_) return Join::refused;
  if (!digest.empty() && digest != digest_) return Join::refused;
  for (const std::uint64_t idx : chunks) {
    if (idx >= total_) return Join::out_of_range;
  }
  // What the stream has not cut yet reaches the newcomer as it is cut; the rest is resent.
  if (chunks.empty()) {
    for (std::uint64_t idx = 0; idx < cut_; ++idx)
      mark_pending(idx);
  } else {
    for (const std::uint64_t idx : chunks) {
      if (idx < cut_) mark_pending(idx);
    }
  }
  if (request) ++requests_;
  return Join::joined;
}

void ChunkSchedule::cut(std::uint64_t idx) {
  std::lock_guard lock(mutex_);
  cut_ = idx + 1;
}

bool ChunkSchedule::stream_ended() {
  std::lock_guard lock(mutex_);
  cut_ = total_;
  closed_ = pending_count_ == 0;
  return closed_;
}

ChunkSchedule::Next ChunkSchedule::take_next() {
  std::lock_guard lock(mutex_);
  if (pending_count_ == 0) return Next{0, true};  // misuse: end rather than loop
  std::uint64_t idx = scan_ < total_ ? scan_ : 0;
  while (!pending_[idx])
    idx = idx + 1 < total_ ? idx + 1 : 0;
  pending_[idx] = false;
  --pending_count_;
  scan_ = idx + 1;
  ++resent_;
  closed_ = pending_count_ == 0;
  return Next{idx, closed_};
}

std::uint64_t ChunkSchedule::total_chunks() const {
  std::lock_guard lock(mutex_);
  return total_;
}

std::uint64_t ChunkSchedule::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

std::uint64_t ChunkSchedule::resent() const {
  std::lock_guard lock(mutex_);
  return resent_;
}

std::uint64_t ChunkSchedule::sent() const {
  std::lock_guard lock(mutex_);
  return (streamed_ ? cut_ : 0) + resent_;
}

}  // namespace pp
