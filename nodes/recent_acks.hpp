#pragma once
// What the broker acknowledged of a transfer lately. An acknowledged chunk is the broker's to
// deliver, and a broker that dies (or restarts without persistence) loses what it held for
// subscribers that had not read it yet. So after a lost connection the chunks it may have died
// holding are sent again: the last `keep` acknowledged of each transfer (the window's worth), and
// every one acknowledged within kHorizon before the loss, or since.
//
// Owned by the track stage.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

namespace pp {

class RecentAcks {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr auto kHorizon = std::chrono::seconds(5);
  // Whatever the rate, no more than this is kept (with 1-byte chunks, 5 s can be millions).
  static constexpr std::size_t kMaxKept = 16384;

  void acknowledged(std::uint64_t idx, Clock::time_point at, std::size_t keep);
  // The chunks to send again after a loss at `lost_at`: ascending, each once.
  std::vector<std::uint64_t> to_resend(Clock::time_point lost_at, std::size_t keep) const;
  // The last acknowledgement is older than kHorizon before `now`: nothing here is worth keeping.
  bool stale(Clock::time_point now) const;
  std::size_t size() const { return acks_.size(); }

 private:
  std::deque<std::pair<std::uint64_t, Clock::time_point>> acks_;  // in acknowledgement order
};

}  // namespace pp
