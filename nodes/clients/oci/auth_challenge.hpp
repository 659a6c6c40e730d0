#pragma once
// WWW-Authenticate challenges (RFC 7235) as registries send them, e.g.
//   Bearer
//   realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/hello:pull"
//   Basic realm="Registry Realm"

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace pp::oci {

struct Challenge {
  std::string scheme;                         // lowercased: "bearer", "basic", …
  std::map<std::string, std::string> params;  // keys lowercased (realm, service, scope, error, …)
};

// All challenges of a header value, in order. Parameters may be tokens or quoted strings (with
// backslash escapes); whitespace around '=' and ',' is allowed; a challenge may carry a token68
// instead of parameters (kept under the key ""). Malformed input yields the challenges that parsed
// before the damage, never an exception.
std::vector<Challenge> parse_www_authenticate(std::string_view header);

// The first challenge with `scheme` (lowercase), or nullptr.
const Challenge* find_challenge(const std::vector<Challenge>& challenges, std::string_view scheme);

// "repository:<repository>:pull", the scope a pull of `repository` needs.
std::string pull_scope(std::string_view repository);

}  // namespace pp::oci
