#include "nodes/stages/publish.hpp"

#include <algorithm>
#include <condition_variable>
#include <nlohmann/json.hpp>

#include "nodes/clients/mqtt/topics.hpp"
#include "nodes/common/log.hpp"

namespace pp {

void ChunkPublisher::publish(const PublicationPtr& chunk, Settled settled) {
  send(Parked{chunk, std::move(settled)});
}

void ChunkPublisher::send(Parked p) {
  const PublicationPtr chunk = p.chunk;
  const TransferPtr& t = chunk->transfer;
  bool held = false;
  {
    std::lock_guard lock(mutex_);
    p.connection = epoch_;
    held = !open_;
    // Closed (the broker is away, or just back): held until resume(), which takes the same lock.
    if (held && !t->failed.load()) return parked_.push_back(std::move(p));
  }
  if (held) return unpark(std::move(p));  // its transfer failed: dropped, as when parked
  // A chunk that reaches here verified, so it goes out even when a later chunk has just failed
  // the transfer: the tracker holds the failed status until it settles, and the requester keeps
  // a prefix it can check. Only a chunk parked across the failure is dropped (unpark).
  // The message is kept (the window counts it) until the broker's ack: a lost connection means
  // publishing it again.
  client_.publish(
      mqtt::Topics::server(t->request.origin), chunk->message, qos_,
      [this, p = std::move(p)](mqtt::Publisher::Published result, std::string reason) mutable {
        const Publication& c = *p.chunk;
        if (result == mqtt::Publisher::Published::connection_lost) return park(std::move(p));
        std::optional<Error> error;
        if (result == mqtt::Publisher::Published::refused) {
          error = Error{errc::publish_failed,
                        "chunk " + std::to_string(c.idx) + ": " + std::move(reason)};
        }
        p.chunk->message = std::string();
        p.settled(ChunkSettled{c.transfer, c.idx, c.last,
                               result == mqtt::Publisher::Published::acknowledged, std::move(error),
                               c.chunks});
      });
}

void ChunkPublisher::park(Parked p) {
  {
    std::lock_guard lock(mutex_);
    // Checked under the lock: cancel_all marks transfers failed before drop_parked takes it, so a
    // chunk of a cancelled transfer is either dropped there or not parked at all. A publish lost
    // on the connection still current waits for the next one, even if the client has not said
    // yet that this one is gone: publishing it again now would fail again at once, and again, on
    // this very stack (a broker restart once overflowed it that way in the soak test).
    if ((!open_ || p.connection == epoch_) && !p.chunk->transfer->failed.load()) {
      parked_.push_back(std::move(p));
      return;
    }
  }
  // A new connection came up between the publish and here (its flush has passed), or the
  // transfer is over: nothing would flush it later.
  unpark(std::move(p));
}

void ChunkPublisher::unpark(Parked p) {
  const Publication& c = *p.chunk;
  if (c.transfer->failed.load()) {  // failed while parked: its requester has been told
    return p.settled(ChunkSettled{c.transfer, c.idx, c.last, false, cancelled_error(), c.chunks});
  }
  send(std::move(p));
}

void ChunkPublisher::on_connection(bool ready) {
  std::lock_guard lock(mutex_);
  if (ready) {
    ++epoch_;
  } else {
    open_ = false;
  }
}

void ChunkPublisher::resume() {
  std::vector<Parked> resume;
  {
    std::lock_guard lock(mutex_);
    open_ = true;
    resume.swap(parked_);
  }
  if (resume.empty()) return;
  // Cut order, so that each transfer's chunks go out in the order they would have.
  std::sort(resume.begin(), resume.end(),
            [](const Parked& a, const Parked& b) { return a.chunk->seq < b.chunk->seq; });
  log::info("publishing chunks held while the broker was away", {{"chunks", resume.size()}});
  for (Parked& p : resume)
    unpark(std::move(p));
}

void ChunkPublisher::drop_parked(const Error& error) {
  std::vector<Parked> dropped;
  {
    std::lock_guard lock(mutex_);
    dropped.swap(parked_);
  }
  for (Parked& p : dropped) {
    const Publication& c = *p.chunk;
    p.settled(ChunkSettled{c.transfer, c.idx, c.last, false, error, c.chunks});
  }
}

namespace {

// What every status message says of the module, once it is known.
void describe_module(nlohmann::json& j, const Transfer& t) {
  if (!t.module) return;
  j["digest"] = t.module->blob.digest;
  j["size"] = t.module->blob.size;
  j["total_chunks"] = t.module->total_chunks;
}

// Invalid UTF-8 from a hostile request must not stop the answer: replace it.
std::string status_text(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string outcome_message(const Outcome& o) {
  nlohmann::json j;
  if (o.transfer) {
    const Transfer& t = *o.transfer;
    j["app_name"] = t.request.app_name;
    describe_module(j, t);
    // A resend fetched with ranged GETs: the requester's check of the assembled module is the only
    // one there is.
    if (t.unverified()) j["verified"] = false;
    // Whether the registry was asked for the module's bytes (false) or the cache had them.
    if (t.module) j["cached"] = t.from_cache;
    // Only on a module whose repository has its signatures checked; verified:false is audit mode.
    if (t.module && t.module->signature && !o.error) {
      const trust::Verdict& v = t.module->signature->verdict;
      if (v.result == trust::Verdict::Result::verified) {
        j["signature"] = {{"verified", true}, {"key", v.key_id}, {"format", v.format}};
      } else {
        j["signature"] = {
            {"verified", false}, {"result", trust::to_string(v.result)}, {"reason", v.reason}};
      }
    }
    j["duration_ms"] =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t.request.received)
            .count();
  } else {
    j["app_name"] = o.rejected->app_name;
  }
  j["state"] = o.error ? "failed" : "completed";
  if (o.error) j["error"] = {{"code", o.error->code}, {"message", o.error->message}};
  return status_text(j);
}

}  // namespace

void ChunkPublisher::publish_status(const mqtt::Origin& origin, std::string message,
                                    std::function<void()> done) {
  const auto where = status_topic_.for_origin(origin);
  // Not from a request topic (nobody to answer), or status messages are off.
  if (origin.channel.empty() || !where) {
    if (done) done();
    return;
  }
  const std::string topic = *where;
  // Not parked like chunks: a status message is news, and stale after a broker restart.
  client_.publish(
      topic, std::move(message), 1,
      [topic, done = std::move(done)](mqtt::Publisher::Published result, std::string reason) {
        if (result != mqtt::Publisher::Published::acknowledged) {
          log::warn("status message not delivered", {{"topic", topic}, {"error", reason}});
        }
        if (done) done();
      });
}

void ChunkPublisher::publish_outcome(const Outcome& outcome, std::function<void()> done) {
  if (outcome.transfer) {
    return publish_status(outcome.transfer->request.origin, outcome_message(outcome),
                          std::move(done));
  }
  if (refusal_statuses_.fetch_add(1) >= kMaxRefusalStatuses) {
    refusal_statuses_.fetch_sub(1);
    statuses_dropped_.fetch_add(1, std::memory_order_relaxed);
    RefusalLog::HeldBack held_back;
    if (drop_log_.note("", outcome.error->code, RefusalLog::Clock::now(), held_back)) {
      log::warn("answer to a refused request dropped",
                {{"app_name", outcome.rejected->app_name},
                 {"code", outcome.error->code},
                 {"error", std::to_string(kMaxRefusalStatuses) +
                               " answers to refused requests are already waiting for the broker"},
                 log::if_set("held_back", held_back.describe())});
    }
    if (done) done();
    return;
  }
  publish_status(outcome.rejected->origin, outcome_message(outcome),
                 [this, done = std::move(done)] {
                   refusal_statuses_.fetch_sub(1);
                   if (done) done();
                 });
}

void ChunkPublisher::publish_progress(const Transfer& t, std::string_view state) {
  nlohmann::json j;
  j["app_name"] = t.request.app_name;
  j["state"] = state;
  describe_module(j, t);
  if (state == "sending") j["chunks_sent"] = t.tracked.delivered();
  publish_status(t.request.origin, status_text(j));
}

bool ChunkPublisher::fail_all(const std::vector<TransferPtr>& transfers, const Error& error,
                              std::chrono::milliseconds timeout) {
  struct Pending {
    std::mutex mutex;
    std::condition_variable done;
    std::size_t left;
  };
  auto pending = std::make_shared<Pending>();
  pending->left = transfers.size();
  for (const auto& t : transfers) {
    publish_outcome(Outcome{t, nullptr, error}, [pending] {
      std::lock_guard lock(pending->mutex);
      if (--pending->left == 0) pending->done.notify_all();
    });
  }
  std::unique_lock lock(pending->mutex);
  return pending->done.wait_for(lock, timeout, [&] { return pending->left == 0; });
}

}  // namespace pp
