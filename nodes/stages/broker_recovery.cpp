#include "nodes/stages/broker_recovery.hpp"

#include <algorithm>

#include "nodes/common/log.hpp"

namespace pp {

void BrokerRecovery::stop() {
  std::lock_guard lock(alive_->mutex);
  alive_->recovery = nullptr;
}

void BrokerRecovery::on_connection(bool ready) {
  publisher_.on_connection(ready);
  std::uint64_t change = 0;
  {
    std::lock_guard lock(connection_mutex_);
    change = ++connection_changes_;
    if (!ready) {
      if (!lost_at_) lost_at_ = Clock::now();  // a loss during the delay keeps the first one's time
      return;
    }
    if (!lost_at_) {
      publisher_.resume();  // nothing was lost: nothing to wait for
      return;
    }
  }
  io_.post_after(resume_delay_, [alive = alive_, change] {
    std::lock_guard lock(alive->mutex);
    if (!alive->recovery) return;
    if (auto back = alive->recovery->due(change)) alive->recovery->back_(*back);
  });
}

std::optional<BrokerBack> BrokerRecovery::due(std::uint64_t change) {
  std::lock_guard lock(connection_mutex_);
  if (change != connection_changes_ || !lost_at_) return std::nullopt;  // lost again meanwhile
  return BrokerBack{*lost_at_, change};
}

std::vector<TransferPtr> BrokerRecovery::on_back(const BrokerBack& back) {
  {
    std::lock_guard lock(connection_mutex_);
    if (back.change != connection_changes_) return {};  // lost again meanwhile: its turn comes
    lost_at_.reset();
  }
  std::vector<TransferPtr> resends;
  std::uint64_t transfers = 0, chunks = 0;
  for (const TransferPtr& t : active_.snapshot()) {
    std::vector<std::uint64_t> again = t->tracked.acks_.to_resend();
    if (again.empty()) continue;
    ++transfers;
    chunks += again.size();
    // Resent after its stream, as for a request joining it; one that is ending does it once over.
    if (t->schedule.resend(again) != ChunkSchedule::Join::joined) {
      t->tracked.resend_when_over_.insert(t->tracked.resend_when_over_.end(), again.begin(),
                                          again.end());
    }
  }
  for (const TransferPtr& t : recently_finished_) {
    if (t->tracked.acks_.stale(back.lost_at)) continue;
    std::vector<std::uint64_t> again = t->tracked.acks_.to_resend();
    ++transfers;
    chunks += again.size();
    if (auto r = resend(*t, std::move(again))) resends.push_back(std::move(r));
  }
  recently_finished_.clear();
  recently_finished_count_.store(0);
  log::info("publishing again after the broker came back",
            {{"transfers", transfers}, {"chunks_again", chunks}});
  publisher_.resume();
  return resends;
}

std::vector<TransferPtr> BrokerRecovery::on_finished(const TransferPtr& t) {
  if (t->tracked.error_) return {};
  // It was ending when the broker came back: what it kept serves the resends now.
  if (!t->tracked.resend_when_over_.empty()) {
    if (auto r = resend(*t, std::move(t->tracked.resend_when_over_))) return {std::move(r)};
    return {};
  }
  if (!t->tracked.acks_.stale(Clock::now())) {
    recently_finished_.push_back(t);
    if (recently_finished_.size() > kRecentlyFinished) recently_finished_.pop_front();
    recently_finished_count_.store(recently_finished_.size());
  }
  return {};
}

TransferPtr BrokerRecovery::resend(const Transfer& old, std::vector<std::uint64_t> chunks) {
  std::sort(chunks.begin(), chunks.end());
  chunks.erase(std::unique(chunks.begin(), chunks.end()), chunks.end());
  Request request = old.request;
  request.chunks = std::move(chunks);
  request.digest = old.module->blob.digest;
  request.received = Clock::now();
  TransferPtr t = active_.make(std::move(request), old.ref, Made::after_broker_restart);
  t->module_file = old.module_file;
  t->from_cache = old.from_cache;
  t->signature = old.module->signature;
  if (auto error = resolution_.start(*t, old.module->manifest_digest, old.module->blob, false)) {
    log::warn("cannot send again what the broker may have lost",
              {{"app_name", old.request.app_name}, {"error", error->message}});
    return nullptr;
  }
  return t;
}

}  // namespace pp
