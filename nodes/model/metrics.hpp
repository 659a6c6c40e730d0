#pragma once
// The service's counters, rendered in the Prometheus text format by GET /metrics. Updated from any
// thread without locks (except the per-code error counts, updated once per failed request).

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace pp {

// Latency histogram with fixed buckets (seconds).
class Histogram {
 public:
  static constexpr std::array<double, 11> kBounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                     0.5,   1,    2.5,   5,    10};
  void observe(double seconds);
  // Appends the _bucket, _sum and _count lines of metric `name`.
  void render(std::string& out, const std::string& name) const;

 private:
  std::array<std::atomic<std::uint64_t>, kBounds.size()> buckets_{};
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_micros_{0};
};

// Values read at scrape time from their owners.
struct Gauges {
  std::uint64_t active_transfers = 0;
  std::uint64_t transfer_objects = 0;    // per-transfer state in memory
  std::uint64_t joinable_transfers = 0;  // entries of the coalescing table
  std::uint64_t intake = 0;              // received messages waiting to be read
  std::uint64_t statuses_dropped = 0;    // answers to refused requests not sent (a flood)
  std::uint64_t queue_depth = 0;         // accepted requests waiting for a transfer slot
  std::uint64_t window_in_use = 0;
  std::uint64_t window_capacity = 0;
  std::uint64_t mqtt_reconnects = 0;
  bool ready = false;
  // The module cache's counters (PROXY_CACHE_DIR); all 0 when it is off.
  std::uint64_t cache_hits = 0;
  std::uint64_t cache_misses = 0;
  std::uint64_t cache_evictions = 0;
  std::uint64_t cache_bytes = 0;
  std::uint64_t cache_modules = 0;
  std::uint64_t cache_records = 0;
  // What is kept across requests and keyed by what requests name: its size.
  std::uint64_t token_cache_entries = 0;    // registry tokens, by registry and scope
  std::uint64_t basic_auth_registries = 0;  // registries that asked for Basic credentials
  std::uint64_t rate_limit_buckets = 0;     // by tenant and channel
};

struct Metrics {
  std::atomic<std::uint64_t> requests_completed{0};
  std::atomic<std::uint64_t> requests_failed{0};
  std::atomic<std::uint64_t> requests_rejected{0};
  std::atomic<std::uint64_t> requests_joined{0};  // answered by a transfer already under way
  // Dropped unread, without an answer: over PROXY_MAX_REQUEST_BYTES, or the intake was full.
  std::atomic<std::uint64_t> requests_dropped_too_large{0};
  std::atomic<std::uint64_t> requests_dropped_intake_full{0};
  std::atomic<std::uint64_t> chunks_published{0};
  std::atomic<std::uint64_t> bytes_published{0};  // blob bytes (before base64)
  Histogram registry_seconds;                     // registry requests, until the response head
  // Signature checks made (not verdicts taken from the cache), by result; `error`: the registry
  // could not be asked, so there is no verdict.
  std::atomic<std::uint64_t> signatures_verified{0};
  std::atomic<std::uint64_t> signatures_unsigned{0};
  std::atomic<std::uint64_t> signatures_invalid{0};
  std::atomic<std::uint64_t> signatures_error{0};

  void count_error(const std::string& code);
  std::string render(const Gauges& gauges) const;

 private:
  mutable std::mutex errors_mutex_;
  std::map<std::string, std::uint64_t> errors_;
};

}  // namespace pp
