#pragma once
// Per-requester rate limiting (PROXY_RATE_LIMIT, PROXY_RATE_BURST): a token bucket per MQTT
// channel, so that one device publishing in a loop gets "busy" while every other channel is served
// as before. Requests are cheap to refuse and expensive to serve (registry round trips, a transfer
// slot), and the request topic is open to anything on the channel.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace pp {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  // `rate` requests per second on average, `burst` at once after a quiet spell; rate 0: no limit.
  RateLimiter(double rate, double burst);

  struct Verdict {
    bool admitted = true;
  };
  // Takes a token from `key`'s bucket. Thread-safe.
  Verdict admit(const std::string& key, Clock::time_point now);

  std::size_t keys() const;  // buckets held (full ones are forgotten as keys come and go)

 private:
  struct Bucket {
    double tokens = 0;
    Clock::time_point at;
  };
  void forget_full(Clock::time_point now);

  const double rate_;
  const double burst_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Bucket> buckets_;
  std::size_t prune_at_ = 1024;
};

}  // namespace pp
