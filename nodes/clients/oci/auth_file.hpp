#pragma once
// Registry credentials from the container tools' auth files, as podman, skopeo and docker read
// them: $REGISTRY_AUTH_FILE, then ${XDG_RUNTIME_DIR}/containers/auth.json, then
// ~/.docker/config.json (the first file that exists and has an entry for the registry wins).

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pp::oci {

struct Credentials {
  std::string username;
  std::string password;
  std::string
      identity_token;  // an OAuth2 refresh token ("identitytoken"), used instead of a password
};

// Looks an environment variable up (nullopt when unset or empty).
using EnvGet = std::function<std::optional<std::string>(const char*)>;

// The files to try, in order, for this environment (only those whose variables are set).
std::vector<std::string> auth_file_candidates(const EnvGet& env);

// The credentials for `registry` (host[:port]) in one auth file's JSON text:
// {"auths": {"<key>": {"auth": "<base64 user:password>", "identitytoken": "…"}}}. Keys match the
// registry exactly or with a scheme and/or path ("https://ghcr.io", "ghcr.io/v2/"); Docker Hub
// ("registry-1.docker.io") also matches the legacy keys "docker.io", "index.docker.io" and
// "https://index.docker.io/v1/". nullopt when there is no usable entry (invalid JSON, bad base64,
// no ':' in the decoded auth: all nullopt, never an exception).
std::optional<Credentials> credentials_from_json(std::string_view json, std::string_view registry);

// Reads the candidates in order and returns the first match.
std::optional<Credentials> find_credentials(std::string_view registry, const EnvGet& env);

}  // namespace pp::oci
