#pragma once
// The track stage (serial): settles chunk flights, records the first failure of each transfer and
// decides when a transfer is over: its download has ended and none of its chunks is in flight.
// It is the one place that reports outcomes, so every request ends in exactly one log line.

#include <functional>
#include <optional>

#include "pipeline/metrics.hpp"
#include "pipeline/transfer.hpp"
#include "pipeline/window.hpp"

namespace pp {

struct Outcome {
  TransferPtr transfer;  // null for a request refused before it became a transfer
  const RequestRejected* rejected = nullptr;
  std::optional<Error> error;  // nullopt: every chunk delivered and the digest verified
};

class Tracker {
 public:
  using OutcomeHook = std::function<void(const Outcome&)>;
  using ProgressHook = std::function<void(const Transfer&)>;

  // `on_outcome` publishes the requester's final status message; `on_progress` its "sending"
  // ones, at most once a second per transfer (and for the first chunk acknowledged).
  Tracker(ChunkWindow& window, Metrics& metrics, OutcomeHook on_outcome = {},
          ProgressHook on_progress = {})
      : window_(window),
        metrics_(metrics),
        on_outcome_(std::move(on_outcome)),
        on_progress_(std::move(on_progress)) {}

  // Returns the transfer `event` ended (its place in the transfer limit is free again), else null.
  TransferPtr on_event(const TrackEvent& event);

 private:
  TransferPtr settle(const ChunkSettled& s);
  TransferPtr fail(const TransferFailed& f);
  void reject(const RequestRejected& r);
  TransferPtr maybe_finish(const TransferPtr& t);
  static void record_failure(Transfer& t, const Error& e);
  void report_progress(Transfer& t);

  ChunkWindow& window_;
  Metrics& metrics_;
  OutcomeHook on_outcome_;
  ProgressHook on_progress_;
};

}  // namespace pp
