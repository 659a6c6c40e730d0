#include "nodes/stages/track.hpp"

#include "nodes/common/fault.hpp"
#include "nodes/common/log.hpp"

namespace pp {

namespace {
long long elapsed_ms(const Transfer& t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t.request.received)
      .count();
}
}  // namespace

TransferPtr Tracker::on_event(const TrackEvent& event) {
  // A settled chunk's credit comes back first, before anything that could throw: abandon() can
  // then take it as returned.
  if (const auto* s = std::get_if<ChunkSettled>(&event)) {
    ++s->transfer->tracked.settled_;
    window_.release();
  }
  fault_point("track", app_name_of(event));
  return std::visit(
      [this](const auto& e) -> TransferPtr {
        using E = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<E, ChunkSettled>) {
          return settle(e);
        } else if constexpr (std::is_same_v<E, TransferFailed>) {
          return fail(e);
        } else if constexpr (std::is_same_v<E, BrokerBack>) {
          return nullptr;  // the graph acts on it (resends), with what track knows
        } else {
          reject(e);
          return nullptr;
        }
      },
      event);
}

void Tracker::flush_log(RefusalLog::Clock::time_point now) {
  for (const auto& s : refusals_.flush(now)) {
    log::warn("requests rejected without a line of their own",
              {{"channel", s.channel.empty() ? "(any)" : s.channel},
               {"held_back", s.held_back.describe()}});
  }
}

TransferPtr Tracker::abandon(const TrackEvent& event, Error error) {
  if (const auto* rejected = std::get_if<RequestRejected>(&event)) {
    log::error(
        "request not answered",
        {{"topic", rejected->topic}, {"app_name", rejected->app_name}, {"error", error.message}});
    return nullptr;
  }
  if (std::holds_alternative<BrokerBack>(event)) {
    log::error("chunks the broker may have lost are not sent again", {{"error", error.message}});
    return nullptr;
  }
  const TransferPtr& t = std::holds_alternative<ChunkSettled>(event)
                             ? std::get<ChunkSettled>(event).transfer
                             : std::get<TransferFailed>(event).transfer;
  record_failure(*t, error);
  // The event's credit came back in on_event. The transfer is over if this was its last item,
  // else once its download sees the failure.
  if (const auto* f = std::get_if<TransferFailed>(&event)) {
    if (!t->tracked.emitted_) t->tracked.emitted_ = f->chunks;
  } else if (const auto& s = std::get<ChunkSettled>(event); s.last) {
    t->tracked.emitted_ = s.chunks;
  }
  return maybe_finish(t);
}

void Tracker::record_failure(Transfer& t, const Error& e) {
  t.failed.store(true);  // stops the download at its next bytes
  if (!t.tracked.error_) t.tracked.error_ = e;
}

TransferPtr Tracker::settle(const ChunkSettled& s) {
  Transfer& t = *s.transfer;
  if (s.delivered) {
    t.tracked.acks_.acknowledged(s.idx, Clock::now(), broker_queue_);
    ++t.tracked.delivered_;
    metrics_.chunks_published.fetch_add(1, std::memory_order_relaxed);
    metrics_.bytes_published.fetch_add(chunk_length(t.module->blob.size, t.chunk_size, s.idx),
                                       std::memory_order_relaxed);
  }
  if (s.error) record_failure(t, *s.error);
  if (s.last) t.tracked.emitted_ = s.chunks;
  if (s.delivered && !s.last && !t.tracked.error_) report_progress(t);
  return maybe_finish(s.transfer);
}

// Once a second is enough to see a transfer move, and bounds the status traffic a large module
// causes to its duration, not its chunk count.
void Tracker::report_progress(Transfer& t) {
  const auto now = Clock::now();
  if (t.tracked.delivered_ > 1 && now - t.tracked.last_progress_ < std::chrono::seconds(1)) return;
  t.tracked.last_progress_ = now;
  if (t.tracked.delivered_ > 1) {
    log::info("transfer progress", {{"app_name", t.request.app_name},
                                    {"acknowledged", t.tracked.delivered_},
                                    {"total_chunks", t.module->total_chunks},
                                    {"duration_ms", elapsed_ms(t)}});
  }
  if (on_progress_) on_progress_(t);
}

TransferPtr Tracker::fail(const TransferFailed& f) {
  Transfer& t = *f.transfer;
  if (t.tracked.finished_) return nullptr;  // e.g. failed by a stage's guard, then by its download
  record_failure(t, f.error);
  // A stage's guard may fail a transfer before its download does: the first count stands.
  if (!t.tracked.emitted_) t.tracked.emitted_ = f.chunks;
  return maybe_finish(f.transfer);
}

TransferPtr Tracker::maybe_finish(const TransferPtr& ptr) {
  Transfer& t = *ptr;
  if (t.tracked.finished_ || !t.tracked.emitted_ || t.tracked.settled_ < *t.tracked.emitted_) {
    return nullptr;
  }
  t.tracked.finished_ = true;
  const std::uint64_t sent = t.schedule.sent();
  if (!t.tracked.error_ && t.tracked.delivered_ != sent) {
    // Cannot happen while every chunk cut is settled before the end; never report it as complete.
    t.tracked.error_ =
        Error{errc::publish_failed, "only " + std::to_string(t.tracked.delivered_) + " of " +
                                        std::to_string(sent) + " chunks delivered"};
  }
  const std::uint64_t requests = t.schedule.requests();
  if (t.tracked.error_ && t.tracked.error_->code == errc::cache_corrupt) {
    return ptr;  // not an outcome: the graph answers the request again, from the registry
  }
  if (t.tracked.error_) {
    metrics_.requests_failed.fetch_add(requests, std::memory_order_relaxed);
    metrics_.count_error(t.tracked.error_->code);
    log::error("transfer failed", {{"app_name", t.request.app_name},
                                   log::if_set("tenant", t.request.origin.tenant),
                                   {"channel", t.request.origin.channel},
                                   {"code", t.tracked.error_->code},
                                   {"requests", requests},
                                   {"duration_ms", elapsed_ms(t)},
                                   {"error", t.tracked.error_->message}});
  } else {
    metrics_.requests_completed.fetch_add(requests, std::memory_order_relaxed);
    log::info("transfer completed", {{"app_name", t.request.app_name},
                                     log::if_set("tenant", t.request.origin.tenant),
                                     {"channel", t.request.origin.channel},
                                     {"digest", t.module->blob.digest},
                                     {"size", t.module->blob.size},
                                     {"chunks", t.module->total_chunks},
                                     {"requests", requests},
                                     {"resent", t.schedule.resent()},
                                     log::if_set("after", t.made == Made::after_broker_restart
                                                              ? std::string("a broker restart")
                                                              : std::string()),
                                     {"duration_ms", elapsed_ms(t)}});
  }
  if (on_outcome_) on_outcome_(Outcome{ptr, nullptr, t.tracked.error_});
  return ptr;
}

void Tracker::reject(const RequestRejected& r) {
  metrics_.requests_rejected.fetch_add(1, std::memory_order_relaxed);
  metrics_.count_error(r.error.code);
  RefusalLog::HeldBack held_back;
  const bool own_line = refusals_.note(r.origin.tenant + '/' + r.origin.channel, r.error.code,
                                       RefusalLog::Clock::now(), held_back);
  (own_line ? log::warn : log::debug)("request rejected",
                                      {{"topic", r.topic},
                                       {"app_name", r.app_name},
                                       {"code", r.error.code},
                                       {"error", r.error.message},
                                       log::if_set("held_back", held_back.describe())});
  if (on_outcome_) on_outcome_(Outcome{nullptr, &r, r.error});
}

}  // namespace pp

namespace pp {

TrackStage::Next TrackStage::operator()(const TrackEvent& event) {
  if (const auto* back = std::get_if<BrokerBack>(&event)) {
    return Next{false, enqueued(recovery_.on_back(*back))};
  }
  return finished(tracker_.on_event(event));
}

TrackStage::Next TrackStage::abandon(const TrackEvent& event, Error error) {
  return finished(tracker_.abandon(event, std::move(error)));
}

TrackStage::Next TrackStage::finished(const TransferPtr& t) {
  if (!t) return {};
  joins_.close(t);
  active_.finished(t->id);
  Next next{true, recovery_.on_finished(t)};
  if (t->tracked.error_ && t->tracked.error_->code == errc::cache_corrupt) {
    next.again.push_back(retry_without_cache(*t));
  }
  next.again = enqueued(std::move(next.again));
  return next;
}

// A transfer whose cached module was corrupt ends without an answer; this one gives it.
TransferPtr TrackStage::retry_without_cache(const Transfer& corrupt) {
  log::warn("cached module was corrupt; downloading it again",
            {{"app_name", corrupt.request.app_name}, {"error", corrupt.tracked.error_->message}});
  TransferPtr t = active_.make(corrupt.request, corrupt.ref, Made::after_corrupt_cache);
  joins_.open(t);
  return t;
}

std::vector<TransferPtr> TrackStage::enqueued(std::vector<TransferPtr> transfers) {
  for (const TransferPtr& t : transfers)
    active_.enqueue(t);
  return transfers;
}

}  // namespace pp
