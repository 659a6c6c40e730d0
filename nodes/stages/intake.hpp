#pragma once
// The request messages received and not yet read (PROXY_INTAKE_LIMIT). What a flood can cost is
// bounded here, before anything else sees it, and the bound is shared fairly between channels:
// messages wait per channel and are read round robin, one per channel in turn, so that a channel
// publishing in a loop delays each other channel's next request by at most one message. Past the
// bound a message is dropped unread: the newest of the channel with the most waiting when that
// channel has at least two more than the newcomer's, else the newcomer. So a flood drops its own
// messages, and a quiet channel's request is not the one dropped while a channel has two or more
// waiting.
//
// Thread-safe: Paho's thread offers, the request stage takes.

#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "nodes/common/refusal_log.hpp"
#include "nodes/model/metrics.hpp"
#include "nodes/model/transfer.hpp"

namespace pp {

class Intake {
 public:
  explicit Intake(std::size_t limit) : limit_(limit) {}

  struct Offered {
    // The caller puts one "read the next" token into the request stage. There is one per message
    // waiting (a message kept in place of a dropped one takes over its token), so the stage's own
    // queue is bounded by the limit too.
    bool token = false;
    std::optional<std::string> dropped;  // the topic of the message dropped to keep the bound
  };
  // `key` names the channel (tenant and channel); the message is copied only when it is kept.
  Offered offer(const std::string& key, std::string_view topic, std::string_view payload);
  // The next message, round robin over the channels. Call once per token (nullopt otherwise).
  std::optional<Incoming> take();

  std::size_t size() const;      // messages waiting
  std::size_t take_peak();       // the most waiting at once since the last call
  std::size_t channels() const;  // channels with messages waiting

 private:
  const std::size_t limit_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::deque<Incoming>> waiting_;
  std::deque<std::string> turn_;  // channels with messages waiting, in the order they are read
  std::size_t size_ = 0;
  std::size_t peak_ = 0;
};

// The door of the request stage, on Paho's thread: a message over PROXY_MAX_REQUEST_BYTES, or one
// the full intake gives up, is dropped (counted, and logged at most once a second); the others
// wait in the Intake. Decided before anything is copied or queued, so that a flood costs at most
// the intake (PROXY_INTAKE_LIMIT × PROXY_MAX_REQUEST_BYTES) however fast it comes: the request
// stage refuses, at its own pace, only what the intake holds. A dropped request gets no status:
// there is nothing to answer it with that costs less than what was refused.
class RequestIntake {
 public:
  RequestIntake(std::size_t max_request_bytes, std::size_t limit, Metrics& metrics)
      : max_request_bytes_(max_request_bytes), limit_(limit), metrics_(metrics), intake_(limit) {}

  // True when the request stage is to read one more message (see Intake::Offered::token).
  bool offer(std::string_view topic, std::string_view payload);
  std::optional<Incoming> take() { return intake_.take(); }
  // Logs what the drop log held back (see RefusalLog).
  void flush_log(RefusalLog::Clock::time_point now);

  std::size_t size() const { return intake_.size(); }
  std::size_t take_peak() { return intake_.take_peak(); }

 private:
  const std::size_t max_request_bytes_;
  const std::size_t limit_;
  Metrics& metrics_;
  Intake intake_;
  RefusalLog drops_;
};

}  // namespace pp
