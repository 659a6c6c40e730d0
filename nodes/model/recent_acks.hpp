#pragma once
// What the broker acknowledged of a transfer lately. An acknowledged chunk is the broker's to
// deliver, and a broker that dies (or restarts without persistence) loses what it held for
// subscribers that had not read it yet. So after a lost connection the chunks it may have died
// holding are sent again.
//
// How much that is does not depend on time but on the broker's own bound: a broker queues at
// most so many messages per subscriber (mosquitto: max_queued_messages 1000 plus
// max_inflight_messages 20) and drops what comes beyond, restart or not. So the last `keep`
// acknowledged (PROXY_MQTT_BROKER_QUEUE) are what it can have died holding, however slow the
// machine or the subscriber. (A rule in seconds, which this replaced, lost a stalled device's
// chunks on a slow machine where the transfer took longer than those seconds.)
//
// Owned by the track stage.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

namespace pp {

class RecentAcks {
 public:
  using Clock = std::chrono::steady_clock;
  // A transfer whose last chunk the broker acknowledged this long before a loss is taken to be
  // delivered: only for finished transfers, which keep their module file open while they wait.
  static constexpr auto kHorizon = std::chrono::seconds(5);

  void acknowledged(std::uint64_t idx, Clock::time_point at, std::size_t keep);
  // The chunks to send again after a loss: ascending, each once.
  std::vector<std::uint64_t> to_resend() const;
  // The last acknowledgement is older than kHorizon before `now`.
  bool stale(Clock::time_point now) const;
  std::size_t size() const { return acks_.size(); }

 private:
  std::deque<std::uint64_t> acks_;  // in acknowledgement order
  Clock::time_point last_{};
};

}  // namespace pp
