#pragma once
// Every accepted request until the track stage reports it, so that shutdown can cancel them all,
// or answer them should the graph itself have dropped them (Pipeline::broken); and how many wait
// for a transfer slot (PROXY_QUEUE_LIMIT). Shared by the request stage, fetch, track and the
// Pipeline's own API, hence the locks.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "nodes/model/transfer.hpp"

namespace pp {

class ActiveTransfers {
 public:
  explicit ActiveTransfers(std::size_t chunk_size) : chunk_size_(chunk_size) {}

  // A new transfer answering `request` with what `ref` names, not yet active.
  TransferPtr make(Request request, oci::Reference ref, Made made = Made::by_request);
  // A new transfer answering `request`, accepted and waiting for a transfer slot; null when
  // `queue_limit` already wait, and then nothing is made and `request` is left as it was (a flood
  // of refusals costs no transfer).
  TransferPtr admit(Request&& request, oci::Reference ref, std::size_t queue_limit);
  // `t`, which the proxy made for requesters accepted once already, waits for a transfer slot,
  // beyond the queue limit.
  void enqueue(const TransferPtr& t);
  void dequeued() { queued_.fetch_sub(1); }  // it has a transfer slot
  void finished(std::uint64_t id);           // reported: no longer active
  // Marks every active transfer failed (their downloads stop at their next bytes; track reports
  // them with the error that comes first, read as the cancellation), logging `error` for each.
  void cancel_all(const Error& error);

  std::vector<TransferPtr> snapshot() const;
  std::size_t size() const;
  std::size_t queued() const { return queued_.load(); }

 private:
  const std::size_t chunk_size_;
  std::atomic<std::uint64_t> next_id_{1};
  std::atomic<std::size_t> queued_{0};
  mutable std::mutex mutex_;
  std::unordered_map<std::uint64_t, TransferPtr> active_;
};

}  // namespace pp
