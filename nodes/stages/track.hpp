#pragma once
// The track stage (serial): settles chunk flights, records the first failure of each transfer and
// decides when a transfer is over: its download has ended and none of its chunks is in flight.
// It is the one place that reports outcomes, so every request ends in exactly one log line.

#include <cstddef>
#include <functional>
#include <optional>
#include <vector>

#include "nodes/common/refusal_log.hpp"
#include "nodes/model/active_transfers.hpp"
#include "nodes/model/join_table.hpp"
#include "nodes/model/metrics.hpp"
#include "nodes/model/transfer.hpp"
#include "nodes/model/window.hpp"
#include "nodes/stages/broker_recovery.hpp"

namespace pp {

class Tracker {
 public:
  using OutcomeHook = std::function<void(const Outcome&)>;
  using ProgressHook = std::function<void(const Transfer&)>;

  // `on_outcome` publishes the requester's final status message; `on_progress` its "sending"
  // ones, at most once a second per transfer (and for the first chunk acknowledged). Refusals are
  // logged at most once a second per channel and code (see RefusalLog). Each transfer remembers its
  // last `broker_queue` acknowledged chunks (see RecentAcks).
  Tracker(ChunkWindow& window, Metrics& metrics, std::size_t broker_queue,
          OutcomeHook on_outcome = {}, ProgressHook on_progress = {})
      : window_(window),
        metrics_(metrics),
        broker_queue_(broker_queue),
        on_outcome_(std::move(on_outcome)),
        on_progress_(std::move(on_progress)) {}

  // Returns the transfer `event` ended (its place in the transfer limit is free again), else null.
  TransferPtr on_event(const TrackEvent& event);
  // on_event failed on `event` with `error` (an internal error): fails its transfer as far as the
  // event tells, and returns the transfer when that ended it.
  TransferPtr abandon(const TrackEvent& event, Error error);
  // Logs what the refusal log held back; about once a second. Thread-safe.
  void flush_log(RefusalLog::Clock::time_point now);

 private:
  TransferPtr settle(const ChunkSettled& s);
  TransferPtr fail(const TransferFailed& f);
  void reject(const RequestRejected& r);
  TransferPtr maybe_finish(const TransferPtr& t);
  static void record_failure(Transfer& t, const Error& e);
  void report_progress(Transfer& t);

  ChunkWindow& window_;
  Metrics& metrics_;
  RefusalLog refusals_;  // how refused requests are logged in a flood
  const std::size_t broker_queue_;
  OutcomeHook on_outcome_;
  ProgressHook on_progress_;
};

// The track stage: the Tracker, and what follows a transfer's end. It leaves the tables, its
// transfer slot is free again, and the proxy may make new transfers for its requesters: one that
// downloads again a cached module found corrupt, and those that send again what a broker restart
// may have cost (see BrokerRecovery).
class TrackStage {
 public:
  TrackStage(Tracker& tracker, BrokerRecovery& recovery, JoinTable& joins, ActiveTransfers& active)
      : tracker_(tracker), recovery_(recovery), joins_(joins), active_(active) {}

  enum Port : std::size_t { slot_free, again };
  struct Next {
    bool slot_free = false;          // a transfer ended
    std::vector<TransferPtr> again;  // transfers the proxy made, for the admission queue
  };
  Next operator()(const TrackEvent& event);
  // operator() failed on `event` with `error` (an internal error): see Tracker::abandon.
  Next abandon(const TrackEvent& event, Error error);

 private:
  Next finished(const TransferPtr& t);
  TransferPtr retry_without_cache(const Transfer& corrupt);
  // `transfers` wait for a transfer slot, beyond PROXY_QUEUE_LIMIT: their requesters were
  // accepted once already.
  std::vector<TransferPtr> enqueued(std::vector<TransferPtr> transfers);

  Tracker& tracker_;
  BrokerRecovery& recovery_;
  JoinTable& joins_;
  ActiveTransfers& active_;
};

}  // namespace pp
