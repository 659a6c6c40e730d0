#include "nodes/recent_acks.hpp"

#include <algorithm>

namespace pp {

void RecentAcks::acknowledged(std::uint64_t idx, Clock::time_point at, std::size_t keep) {
  acks_.emplace_back(idx, at);
  while (acks_.size() > kMaxKept || (acks_.size() > keep && acks_.front().second < at - kHorizon)) {
    acks_.pop_front();
  }
}

std::vector<std::uint64_t> RecentAcks::to_resend(Clock::time_point lost_at,
                                                 std::size_t keep) const {
  std::vector<std::uint64_t> out;
  for (std::size_t i = 0; i < acks_.size(); ++i) {
    if (i + keep >= acks_.size() || acks_[i].second >= lost_at - kHorizon) {
      out.push_back(acks_[i].first);
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool RecentAcks::stale(Clock::time_point now) const {
  return acks_.empty() || acks_.back().second < now - kHorizon;
}

}  // namespace pp
