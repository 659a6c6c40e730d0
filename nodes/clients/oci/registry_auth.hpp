#pragma once
// How the proxy authorises its registry requests: it answers the registry's 401 challenges the way
// docker and oras do. A Bearer challenge sends it to the token realm for a token with the scope the
// registry named (anonymously, or with credentials as HTTP Basic, or with an identity token as an
// OAuth2 refresh token), cached per (registry, scope) until it expires; a Basic challenge makes it
// send credentials. Credentials belong to one registry: PROXY_REGISTRY_USERNAME/PASSWORD to
// PROXY_REGISTRY_URL's host, auth-file entries to theirs; nothing is sent anywhere else.

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "nodes/clients/oci/auth_file.hpp"
#include "nodes/clients/oci/http_io.hpp"
#include "nodes/clients/oci/reference.hpp"
#include "nodes/clients/oci/token_cache.hpp"
#include "nodes/common/error.hpp"

namespace pp::oci {

struct RegistryOptions;

class RegistryAuth {
 public:
  using Clock = std::chrono::steady_clock;

  RegistryAuth(HttpIo& io, const RegistryOptions& options, EnvGet env);

  // Adds to `request` what `ref`'s registry accepted before: a cached token, the static token, or
  // Basic credentials. Thread-safe.
  void authorize(HttpRequest& request, const Reference& ref);

  // After a 401 with `www_authenticate`: obtains what the challenge asks for. `done(nullopt)`
  // means a retry can succeed; an Error says why not (with a hint). Runs `done` on the I/O thread.
  void meet(const Reference& ref, const std::string& www_authenticate,
            std::function<void(std::optional<Error>)> done);

  // For /metrics: tokens held (unexpired), and registries remembered as asking for Basic.
  std::size_t cached_tokens();
  std::size_t basic_registries();

  // Registry hosts are the requesters' to choose where PROXY_REGISTRY_ALLOW is "*", and each one
  // that answers with a Basic challenge is remembered: past this many, they are all forgotten,
  // which costs each of them one more 401 before its credentials are sent again.
  static constexpr std::size_t kMaxBasicRegistries = 256;

 private:
  std::optional<Credentials> credentials_for(const std::string& registry);
  void fetch_token(const Reference& ref, const std::map<std::string, std::string>& params,
                   std::function<void(std::optional<Error>)> done);

  HttpIo& io_;
  const RegistryOptions& options_;
  EnvGet env_;
  std::mutex mutex_;
  TokenCache tokens_;            // by "registry|scope"
  std::set<std::string> basic_;  // registries that asked for Basic credentials
};

// "a b/c" -> "a%20b%2Fc" (RFC 3986 unreserved characters kept).
std::string url_encode(std::string_view s);

}  // namespace pp::oci
