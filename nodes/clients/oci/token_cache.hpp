#pragma once
// The bearer tokens registries' token realms handed out, by "registry|scope". Requests name the
// repositories, and so the scopes: the keys are the requesters' to choose, so expired tokens are
// dropped and the number of entries is capped. Not thread-safe: its owner locks.

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>

namespace pp::oci {

class TokenCache {
 public:
  using Clock = std::chrono::steady_clock;

  // An edge fleet's apps live in tens of repositories on a few registries, one pull scope each:
  // 512 holds every scope of a large fleet with room to spare, and bounds what a flood of requests
  // for made-up repositories can make the proxy keep to 512 tokens (about 1 MiB of typical 1-2 KiB
  // JWTs, 32 MiB at worst since a token answer is read up to 64 KiB). A scope pushed out by such a
  // flood costs one token request when it is next used.
  static constexpr std::size_t kDefaultCapacity = 512;

  explicit TokenCache(std::size_t capacity = kDefaultCapacity) : capacity_(capacity) {}

  // `key`'s token while it is valid at `now`; an expired one is dropped.
  std::optional<std::string> find(const std::string& key, Clock::time_point now);
  // Keeps `token` for `key` until `expires`, dropping the tokens expired at `now`. When the cache
  // is still full, the token that expires soonest makes room.
  void put(const std::string& key, std::string token, Clock::time_point expires,
           Clock::time_point now);
  // Tokens still valid at `now` (the expired ones are dropped on the way).
  std::size_t size(Clock::time_point now);

 private:
  struct Entry {
    std::string token;
    Clock::time_point expires;
  };
  void drop_expired(Clock::time_point now);

  const std::size_t capacity_;
  std::map<std::string, Entry> entries_;
};

}  // namespace pp::oci
