#include "nodes/common/rate_limit.hpp"

#include <algorithm>

namespace pp {

RateLimiter::RateLimiter(double rate, double burst) : rate_(rate), burst_(std::max(burst, 1.0)) {}

RateLimiter::Verdict RateLimiter::admit(const std::string& key, Clock::time_point now) {
  if (rate_ <= 0) return {};
  std::lock_guard lock(mutex_);
  auto [it, added] = buckets_.try_emplace(key);
  Bucket& b = it->second;
  if (added) {
    b.tokens = burst_;
    b.at = now;
    // Topics name channels, so keys are not ours to bound: buckets that refilled are dropped,
    // which forgets nothing (a new bucket starts full).
    if (buckets_.size() >= prune_at_) forget_full(now);
  }
  const std::chrono::duration<double> elapsed = now - b.at;
  b.tokens = std::min(burst_, b.tokens + std::max(0.0, elapsed.count()) * rate_);
  b.at = std::max(b.at, now);
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return {};
  }
  return {false};
}

void RateLimiter::forget_full(Clock::time_point now) {
  const std::chrono::duration<double> refill(burst_ / rate_);
  std::erase_if(buckets_, [&](const auto& entry) { return now - entry.second.at >= refill; });
  prune_at_ = std::max<std::size_t>(1024, buckets_.size() * 2);
}

std::size_t RateLimiter::keys() const {
  std::lock_guard lock(mutex_);
  return buckets_.size();
}

}  // namespace pp
