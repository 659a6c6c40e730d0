#include "nodes/model/active_transfers.hpp"

#include "nodes/common/log.hpp"

namespace pp {

TransferPtr ActiveTransfers::make(Request request, oci::Reference ref, Made made) {
  return std::make_shared<Transfer>(next_id_.fetch_add(1), std::move(request), std::move(ref),
                                    chunk_size_, made);
}

TransferPtr ActiveTransfers::admit(Request&& request, oci::Reference ref, std::size_t queue_limit) {
  if (queued_.fetch_add(1) >= queue_limit) {
    queued_.fetch_sub(1);
    return nullptr;
  }
  TransferPtr t = make(std::move(request), std::move(ref));
  std::lock_guard lock(mutex_);
  active_.emplace(t->id, t);
  return t;
}

void ActiveTransfers::enqueue(const TransferPtr& t) {
  queued_.fetch_add(1);
  std::lock_guard lock(mutex_);
  active_.emplace(t->id, t);
}

void ActiveTransfers::finished(std::uint64_t id) {
  std::lock_guard lock(mutex_);
  active_.erase(id);
}

void ActiveTransfers::cancel_all(const Error& error) {
  for (const auto& t : snapshot()) {
    if (!t->failed.exchange(true)) {
      log::warn("cancelling transfer",
                {{"app_name", t->request.app_name}, {"reason", error.message}});
    }
  }
}

std::vector<TransferPtr> ActiveTransfers::snapshot() const {
  std::vector<TransferPtr> transfers;
  std::lock_guard lock(mutex_);
  transfers.reserve(active_.size());
  for (const auto& [id, t] : active_)
    transfers.push_back(t);
  return transfers;
}

std::size_t ActiveTransfers::size() const {
  std::lock_guard lock(mutex_);
  return active_.size();
}

}  // namespace pp
