#include "nodes/stages/intake.hpp"

#include <algorithm>
#include <utility>

#include "nodes/clients/mqtt/topics.hpp"
#include "nodes/common/log.hpp"

namespace pp {

Intake::Offered Intake::offer(const std::string& key, std::string_view topic,
                              std::string_view payload) {
  Offered out;
  std::lock_guard lock(mutex_);
  if (size_ >= limit_) {
    // The channel with the most waiting gives up its newest, if that makes the channels more even
    // (it has two more than the newcomer's own); else the newcomer goes, and nothing is copied.
    // So a drop never empties a channel.
    const auto own = waiting_.find(key);
    const std::size_t mine = own == waiting_.end() ? 0 : own->second.size();
    auto victim = waiting_.end();
    for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
      if (victim == waiting_.end() || it->second.size() > victim->second.size()) victim = it;
    }
    if (victim == waiting_.end() || victim->second.size() < mine + 2) {
      out.dropped = std::string(topic);
      return out;
    }
    out.dropped = std::move(victim->second.back().topic);
    victim->second.pop_back();
    --size_;
  }
  out.token = !out.dropped;  // else the dropped message's token serves this one
  auto [it, added] = waiting_.try_emplace(key);
  if (it->second.empty()) turn_.push_back(key);
  it->second.push_back(Incoming{std::string(topic), Payload(payload)});
  peak_ = std::max(peak_, ++size_);
  return out;
}

std::optional<Incoming> Intake::take() {
  std::lock_guard lock(mutex_);
  if (!turn_.empty()) {
    std::string key = std::move(turn_.front());
    turn_.pop_front();
    const auto it = waiting_.find(key);
    Incoming next = std::move(it->second.front());
    it->second.pop_front();
    --size_;
    if (it->second.empty()) {
      waiting_.erase(it);
    } else {
      turn_.push_back(std::move(key));
    }
    return next;
  }
  return std::nullopt;
}

std::size_t Intake::size() const {
  std::lock_guard lock(mutex_);
  return size_;
}

std::size_t Intake::take_peak() {
  std::lock_guard lock(mutex_);
  return std::exchange(peak_, size_);
}

std::size_t Intake::channels() const {
  std::lock_guard lock(mutex_);
  return waiting_.size();
}

}  // namespace pp

namespace pp {

bool RequestIntake::offer(std::string_view topic, std::string_view payload) {
  std::string dropped_topic;
  const char* reason = "too_large";
  std::string why =
      "larger than PROXY_MAX_REQUEST_BYTES (" + std::to_string(max_request_bytes_) + " bytes)";
  bool token = false;
  if (payload.size() > max_request_bytes_) {
    metrics_.requests_dropped_too_large.fetch_add(1, std::memory_order_relaxed);
    dropped_topic = topic;
  } else {
    const auto origin = mqtt::Topics::origin_of_request(topic);
    Intake::Offered offered = intake_.offer(
        origin ? origin->tenant + '/' + origin->channel : std::string(), topic, payload);
    token = offered.token;
    if (!offered.dropped) return token;
    metrics_.requests_dropped_intake_full.fetch_add(1, std::memory_order_relaxed);
    dropped_topic = std::move(*offered.dropped);
    reason = "intake_full";
    why = std::to_string(limit_) +
          " received requests were waiting to be read (PROXY_INTAKE_LIMIT); the channel with the "
          "most waiting gave up its newest";
  }
  // One line a second for the whole intake, with what it held back.
  RefusalLog::HeldBack held_back;
  if (drops_.note("", reason, RefusalLog::Clock::now(), held_back)) {
    log::warn("request dropped unread", {{"topic", dropped_topic},
                                         {"reason", reason},
                                         {"error", why},
                                         log::if_set("held_back", held_back.describe())});
  }
  return token;
}

void RequestIntake::flush_log(RefusalLog::Clock::time_point now) {
  for (const auto& s : drops_.flush(now)) {
    log::warn("requests dropped unread without a line of their own",
              {{"held_back", s.held_back.describe()}});
  }
}

}  // namespace pp
