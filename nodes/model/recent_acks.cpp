#include "nodes/model/recent_acks.hpp"

#include <algorithm>

namespace pp {

void RecentAcks::acknowledged(std::uint64_t idx, Clock::time_point at, std::size_t keep) {
  acks_.push_back(idx);
  while (acks_.size() > keep)
    acks_.pop_front();
  last_ = at;
}

std::vector<std::uint64_t> RecentAcks::to_resend() const {
  std::vector<std::uint64_t> out(acks_.begin(), acks_.end());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool RecentAcks::stale(Clock::time_point now) const {
  return acks_.empty() || last_ < now - kHorizon;
}

}  // namespace pp
