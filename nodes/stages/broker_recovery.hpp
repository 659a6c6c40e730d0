#pragma once
// What a broker restart may cost, sent again. The broker connection lost, publishing closes
// (chunks park, see ChunkPublisher); back, it reopens PROXY_MQTT_RESUME_DELAY later, once what the
// broker may have lost is scheduled again (see RecentAcks): proplets reconnect on their own
// schedule, and what is published before they are subscribed again reaches nobody. Running
// transfers send those chunks again after their stream; finished ones (kept a few seconds for
// this) and those ending get a new transfer that sends them from what they kept of their module.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <vector>

#include "nodes/model/active_transfers.hpp"
#include "nodes/model/transfer.hpp"
#include "nodes/stages/publish.hpp"
#include "nodes/stages/resolution.hpp"

namespace pp {

class BrokerRecovery {
 public:
  BrokerRecovery(const ModuleResolution& resolution, ActiveTransfers& active,
                 ChunkPublisher& publisher)
      : resolution_(resolution), active_(active), publisher_(publisher) {}

  // Paho's thread. The connection that came back after a loss is change number `*result`: call
  // due() with it once the resume delay is over. Nullopt when there is nothing to wait for.
  std::optional<std::uint64_t> on_connection(bool ready);
  // The resume delay of `change` is over: what track is to act on, unless the connection was lost
  // again meanwhile.
  std::optional<BrokerBack> due(std::uint64_t change);

  // The track stage's part. Each returns the transfers it made to send chunks again, for the
  // admission queue.
  std::vector<TransferPtr> on_back(const BrokerBack& back);
  // `t` is over: it is kept a few seconds for what a broker restart could cost its requesters, or
  // sends now what it was asked to send again while it was ending.
  std::vector<TransferPtr> on_finished(const TransferPtr& t);

  std::size_t recently_finished() const { return recently_finished_count_.load(); }

 private:
  // A new transfer that sends `chunks` of `old` again, from what `old` kept of its module.
  TransferPtr resend(const Transfer& old, std::vector<std::uint64_t> chunks);

  const ModuleResolution& resolution_;
  ActiveTransfers& active_;
  ChunkPublisher& publisher_;

  std::mutex connection_mutex_;
  std::optional<Clock::time_point> lost_at_;  // lost then, and not resumed since
  std::uint64_t connection_changes_ = 0;
  // Finished transfers whose last chunks a broker restart could still cost their requesters
  // (acknowledged within RecentAcks::kHorizon), newest last; track stage only. Bounded, for the
  // files they keep open.
  static constexpr std::size_t kRecentlyFinished = 64;
  std::deque<TransferPtr> recently_finished_;
  std::atomic<std::size_t> recently_finished_count_{0};
};

}  // namespace pp
