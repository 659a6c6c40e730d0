#pragma once
// When and how soon a registry request is tried again: connection errors, timeouts, 408, 429 and
// 5xx are transient; other statuses are answers. Delays grow exponentially with jitter (so a fleet
// does not retry in step) and honour the registry's Retry-After, within bounds.

#include <chrono>
#include <optional>
#include <string_view>

namespace pp::oci {

struct RetryPolicy {
  int max_attempts = 5;  // the first try and PROXY_HTTP_RETRIES (default 4) more
  std::chrono::milliseconds base{200};
  std::chrono::milliseconds cap{10'000};
  std::chrono::milliseconds retry_after_cap{60'000};

  static bool retryable_status(long status);
  // Delay before attempt `attempt` (1 = the first retry). `jitter` in [0, 1) spreads it over
  // [50%, 100%] of the exponential step; a Retry-After in seconds replaces the step (capped).
  std::chrono::milliseconds delay(int attempt, std::optional<std::string_view> retry_after,
                                  double jitter) const;
};

}  // namespace pp::oci
