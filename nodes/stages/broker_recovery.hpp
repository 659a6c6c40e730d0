#pragma once
// What a broker restart may cost, sent again. The broker connection lost, publishing closes
// (chunks park, see ChunkPublisher); back, it reopens PROXY_MQTT_RESUME_DELAY later, once what the
// broker may have lost is scheduled again (see RecentAcks): proplets reconnect on their own
// schedule, and what is published before they are subscribed again reaches nobody. Running
// transfers send those chunks again after their stream; finished ones (kept a few seconds for
// this) and those ending get a new transfer that sends them from what they kept of their module.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "nodes/clients/oci/http_io.hpp"
#include "nodes/model/active_transfers.hpp"
#include "nodes/model/transfer.hpp"
#include "nodes/stages/publish.hpp"
#include "nodes/stages/resolution.hpp"

namespace pp {

class BrokerRecovery {
 public:
  // `back` takes what the track stage is to act on (on_back) once a connection that came back has
  // lasted `resume_delay`; it runs on `io`'s thread.
  BrokerRecovery(const ModuleResolution& resolution, ActiveTransfers& active,
                 ChunkPublisher& publisher, oci::HttpIo& io, std::chrono::milliseconds resume_delay,
                 std::function<void(BrokerBack)> back)
      : resolution_(resolution),
        active_(active),
        publisher_(publisher),
        io_(io),
        resume_delay_(resume_delay),
        back_(std::move(back)) {}
  ~BrokerRecovery() { stop(); }
  // From now on the timers still to come call `back` no more (and none is calling it on return).
  void stop();
  BrokerRecovery(const BrokerRecovery&) = delete;
  BrokerRecovery& operator=(const BrokerRecovery&) = delete;

  // The connection came up or went down (the connection's thread).
  void on_connection(bool ready);

  // The track stage's part. Each returns the transfers it made to send chunks again, for the
  // admission queue.
  std::vector<TransferPtr> on_back(const BrokerBack& back);
  // `t` is over: it is kept a few seconds for what a broker restart could cost its requesters, or
  // sends now what it was asked to send again while it was ending.
  std::vector<TransferPtr> on_finished(const TransferPtr& t);

  std::size_t recently_finished() const { return recently_finished_count_.load(); }

 private:
  // The resume delay of `change` is over: what track is to act on, unless the connection was lost
  // again meanwhile.
  std::optional<BrokerBack> due(std::uint64_t change);
  // A new transfer that sends `chunks` of `old` again, from what `old` kept of its module.
  TransferPtr resend(const Transfer& old, std::vector<std::uint64_t> chunks);

  const ModuleResolution& resolution_;
  ActiveTransfers& active_;
  ChunkPublisher& publisher_;
  oci::HttpIo& io_;
  const std::chrono::milliseconds resume_delay_;
  const std::function<void(BrokerBack)> back_;
  // Lets a timer on the I/O thread reach this only while it exists.
  struct Alive {
    explicit Alive(BrokerRecovery* r) : recovery(r) {}
    std::mutex mutex;
    BrokerRecovery* recovery;
  };
  std::shared_ptr<Alive> alive_ = std::make_shared<Alive>(this);

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
