#include "nodes/clients/oci/auth_file.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "nodes/clients/oci/base64.hpp"

namespace pp::oci {
namespace {

using nlohmann::json;

// Auth files are a few kilobytes; anything far larger is not one and is not read into memory.
constexpr std::uintmax_t max_auth_file_size = 4 * 1024 * 1024;

constexpr std::array<std::string_view, 3> docker_hub_hosts = {"registry-1.docker.io", "docker.io",
                                                              "index.docker.io"};

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && lowercase(s.substr(0, prefix.size())) == prefix;
}

// "https://Host:5000/v2/" -> "host:5000": the host[:port] an auth file key names, lowercased.
std::string key_host(std::string_view key) {
  for (std::string_view scheme : {"https://", "http://"}) {
    if (starts_with_ci(key, scheme)) {
      key.remove_prefix(scheme.size());
      break;
    }
  }
  const std::size_t slash = key.find('/');
  if (slash != std::string_view::npos) key = key.substr(0, slash);
  return lowercase(key);
}

bool is_docker_hub(std::string_view host) {
  for (std::string_view h : docker_hub_hosts) {
    if (host == h) return true;
  }
  return false;
}

// How well an auths key names `registry`: 0 the very same text, 1 the same host[:port] with a
// scheme, path or other letter case, 2 another name of Docker Hub; nullopt when it names another.
std::optional<int> key_rank(std::string_view key, std::string_view registry) {
  if (registry.empty()) return std::nullopt;
  if (key == registry) return 0;
  const std::string host = key_host(key);
  const std::string wanted = key_host(registry);
  if (host.empty()) return std::nullopt;
  if (host == wanted) return 1;
  if (is_docker_hub(host) && is_docker_hub(wanted)) return 2;
  return std::nullopt;
}

// A string member: absent -> "", wrong type -> nullopt.
std::optional<std::string> string_member(const json& object, const char* key) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::string();
  if (!it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

// The credentials of one auths entry, or nullopt when it has none that can be used.
std::optional<Credentials> entry_credentials(const json& entry) {
  if (!entry.is_object()) return std::nullopt;
  const auto auth = string_member(entry, "auth");
  const auto token = string_member(entry, "identitytoken");
  const auto username = string_member(entry, "username");
  const auto password = string_member(entry, "password");
  if (!auth || !token || !username || !password) return std::nullopt;

  Credentials creds;
  creds.identity_token = *token;
  if (!auth->empty()) {
    const auto decoded = base64_decode(*auth);
    if (!decoded) return std::nullopt;
    const std::size_t colon = decoded->find(':');
    if (colon == std::string::npos) return std::nullopt;
    creds.username = decoded->substr(0, colon);
    creds.password = decoded->substr(colon + 1);
  } else {
    // Some tools write the fields apart instead of "auth".
    creds.username = *username;
    creds.password = *password;
  }
  if (!creds.identity_token.empty()) return creds;
  if (creds.username.empty()) return std::nullopt;  // "{}" (a credential helper's) or ":secret"
  return creds;
}

std::optional<std::string> read_small_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return std::nullopt;
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec || size > max_auth_file_size) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) return std::nullopt;
  return text;
}

std::optional<std::string> env_value(const EnvGet& env, const char* name) {
  auto value = env(name);
  if (!value || value->empty()) return std::nullopt;
  return value;
}

std::string join(std::string dir, std::string_view rest) {
  if (!dir.empty() && dir.back() == '/') dir.pop_back();
  dir += rest;
  return dir;
}

}  // namespace

std::vector<std::string> auth_file_candidates(const EnvGet& env) {
  std::vector<std::string> out;
  if (auto file = env_value(env, "REGISTRY_AUTH_FILE")) out.push_back(*file);
  if (auto dir = env_value(env, "XDG_RUNTIME_DIR")) {
    out.push_back(join(*dir, "/containers/auth.json"));
  }
  if (auto home = env_value(env, "HOME")) out.push_back(join(*home, "/.docker/config.json"));
  return out;
}

std::optional<Credentials> credentials_from_json(std::string_view text, std::string_view registry) {
  const json root = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (!root.is_object()) return std::nullopt;  // also the "discarded" value of invalid JSON
  const auto auths = root.find("auths");
  if (auths == root.end() || !auths->is_object()) return std::nullopt;

  // Best rank first; within a rank, the keys' (sorted) order. A matching entry that cannot be
  // used (empty, bad base64) gives way to the next matching one.
  for (int rank = 0; rank <= 2; ++rank) {
    for (const auto& [key, entry] : auths->items()) {
      const auto r = key_rank(key, registry);
      if (!r || *r != rank) continue;
      if (auto creds = entry_credentials(entry)) return creds;
    }
  }
  return std::nullopt;
}

std::optional<Credentials> find_credentials(std::string_view registry, const EnvGet& env) {
  for (const std::string& path : auth_file_candidates(env)) {
    const auto text = read_small_file(path);
    if (!text) continue;  // missing, unreadable or not a file
    if (auto creds = credentials_from_json(*text, registry)) return creds;
  }
  return std::nullopt;
}

}  // namespace pp::oci
