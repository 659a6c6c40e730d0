// A real CNCF distribution registry (Debian `docker-registry`, 2.8) on a free 127.0.0.1 port with
// filesystem storage in a temp dir and the access log enabled, so tests can count requests.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/support/process.hpp"

namespace pp::test {

// How to deviate from the default configuration. In extra_yaml and config_template these
// placeholders are replaced: {{port}} (HTTP port), {{root}} (storage root directory) and {{dir}}
// (the registry's temp dir, where `files` are written). Designated initializers read well:
//   Registry reg({.extra_yaml = "auth:\n  htpasswd:\n    realm: r\n    path: {{dir}}/htpasswd\n",
//                 .files = {{"htpasswd", "user:$2y$..."}}});
struct RegistryOptions {
  // Appended to the default config: new top-level sections only (e.g. `auth:` or
  // `notifications:`); repeating version/log/storage/http would be a duplicate YAML key.
  std::string extra_yaml{};
  // A complete config replacing the default one (use it to change log/storage/http).
  // Keep `log.accesslog.disabled: false` if you use count_requests().
  std::string config_template{};
  // "K=V" / "-K" for the registry process; REGISTRY_<SECTION>_<KEY> variables override config keys.
  std::vector<std::string> env{};
  // Files written into {{dir}} before the first start: (name, contents), e.g. an htpasswd file.
  std::vector<std::pair<std::string, std::string>> files{};
};

// A registry that asks for `user` and `password` with a Basic challenge (htpasswd auth; the bcrypt
// entry made with `htpasswd -nbB` from apache2-utils). Throws std::runtime_error if htpasswd fails.
RegistryOptions htpasswd_registry(const std::string& user, const std::string& password);

// One access-log line ("combined" format, written when a request completes).
struct AccessLogEntry {
  std::string method{};
  std::string uri{};  // as requested, including the query
  int status = 0;
  std::uint64_t bytes = 0;  // response body bytes written
};

class Registry {
 public:
  // Starts `docker-registry serve <dir>/config.yml` ($PP_REGISTRY_BIN overrides the binary) and
  // waits up to 30 s until it logs that it listens on its port and GET /v2/ gets an HTTP answer;
  // throws std::runtime_error with the log. A port taken between being picked and being bound
  // makes the registry exit: it is started again on a fresh port, a few times.
  explicit Registry(RegistryOptions options = {});
  // Registry("auth: ...") appends extra_yaml. A template, so that a braced
  // Registry({.extra_yaml = ...}) is unambiguous (it cannot deduce S).
  template <typename S>
  requires std::convertible_to<S, std::string>
  explicit Registry(S&& extra_yaml)
      : Registry(RegistryOptions{.extra_yaml = std::string(std::forward<S>(extra_yaml))}) {}
  ~Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  int port() const { return port_; }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string url() const { return "http://" + host(); }
  const std::string& dir() const { return dir_.path(); }
  bool running() { return process_ && process_->running(); }
  pid_t pid() const { return process_ ? process_->pid() : -1; }

  void stop();
  // Restarts on the same port with the same config and storage (pushed content survives). Throws
  // like the constructor, without trying other ports.
  void start();
  // stdout+stderr over all starts (appended to, never truncated; not the attempts that found
  // their port taken).
  std::string log() const { return read_file(log_path()); }
  std::string log_path() const { return dir_.file("registry.log"); }

  // Completed requests from the access log, over all starts. While the registry runs, a marker
  // request is sent first and awaited in the log, so requests that completed (client side) before
  // the call are included: the registry writes the log line just after sending the response.
  std::vector<AccessLogEntry> access_log() const;
  // Access-log lines whose method equals `method` and whose URI contains `path_substring`.
  int count_requests(std::string_view method, std::string_view path_substring) const;

 private:
  enum class Launch { ready, port_taken, failed };
  // Starts the registry on the config written and waits for it.
  Launch launch();
  std::string failure() const;
  void sync_access_log() const;

  TempDir dir_;
  int port_ = 0;
  std::vector<std::string> env_;
  bool tls_ = false;  // it said so when it started listening
  mutable std::optional<ChildProcess> process_;
  mutable std::atomic<int> barrier_seq_{0};
};

}  // namespace pp::test
