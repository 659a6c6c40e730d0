#include "nodes/clients/oci/token_cache.hpp"

#include <algorithm>

namespace pp::oci {

std::optional<std::string> TokenCache::find(const std::string& key, Clock::time_point now) {
  const auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  if (it->second.expires <= now) {
    entries_.erase(it);
    return std::nullopt;
  }
  return it->second.token;
}

void TokenCache::put(const std::string& key, std::string token, Clock::time_point expires,
                     Clock::time_point now) {
  if (capacity_ == 0) return;
  if (const auto it = entries_.find(key); it != entries_.end()) {
    it->second = Entry{std::move(token), expires};
    return;
  }
  drop_expired(now);  // at most capacity_ entries, once per token fetched
  if (entries_.size() >= capacity_) {
    entries_.erase(std::min_element(
        entries_.begin(), entries_.end(),
        [](const auto& a, const auto& b) { return a.second.expires < b.second.expires; }));
  }
  entries_.emplace(key, Entry{std::move(token), expires});
}

std::size_t TokenCache::size(Clock::time_point now) {
  drop_expired(now);
  return entries_.size();
}

void TokenCache::drop_expired(Clock::time_point now) {
  std::erase_if(entries_, [now](const auto& entry) { return entry.second.expires <= now; });
}

}  // namespace pp::oci
