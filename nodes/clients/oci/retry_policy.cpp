#include "nodes/clients/oci/retry_policy.hpp"

#include <algorithm>
#include <charconv>

namespace pp::oci {

bool RetryPolicy::retryable_status(long status) {
  return status == 408 || status == 429 || (status >= 500 && status <= 599);
}

std::chrono::milliseconds RetryPolicy::delay(int attempt,
                                             std::optional<std::string_view> retry_after,
                                             double jitter) const {
  if (retry_after) {
    std::string_view v = *retry_after;
    while (!v.empty() && v.front() == ' ')
      v.remove_prefix(1);
    while (!v.empty() && v.back() == ' ')
      v.remove_suffix(1);
    long long seconds = 0;
    const auto r = std::from_chars(v.data(), v.data() + v.size(), seconds);
    if (r.ec == std::errc{} && r.ptr == v.data() + v.size() && seconds >= 0) {
      return std::min<std::chrono::milliseconds>(std::chrono::seconds(seconds), retry_after_cap);
    }
    // An HTTP date (or garbage): fall back to the exponential step.
  }
  const int shift = std::clamp(attempt - 1, 0, 20);
  const auto step = std::min<std::chrono::milliseconds>(base * (1LL << shift), cap);
  jitter = std::clamp(jitter, 0.0, 1.0);
  return std::chrono::milliseconds(
      static_cast<long long>(static_cast<double>(step.count()) * (0.5 + 0.5 * jitter)));
}

}  // namespace pp::oci
