#include "tests/support/registry.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/registry_push.hpp"

namespace pp::test {
namespace {

// accesslog enabled makes the registry write one Apache "combined" line per completed request
// (next to its own logrus "response completed" line, which we ignore).
constexpr std::string_view kDefaultConfig = R"(version: 0.1
log:
  level: info
  formatter: text
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: {{root}}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{{port}}
  secret: pp-test-http-secret
)";

// Query parameter of the marker requests used to flush the access log; excluded from results.
constexpr std::string_view kBarrierParam = "pp-log-barrier=";

constexpr int kAttempts = 5;
constexpr auto kStartTimeout = std::chrono::seconds(30);

// Whether the registry logged listening on `port` (":N"), and with TLS (", tls") or not.
bool listening(const std::string& log, const std::string& port, bool& tls) {
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    const auto at = line.find("msg=\"listening on ");
    if (at == std::string::npos) continue;
    const auto p = line.find(port, at);
    if (p != std::string::npos && p + port.size() < line.size() &&
        !std::isdigit(static_cast<unsigned char>(line[p + port.size()]))) {
      tls = line.find(", tls", p) != std::string::npos;
      return true;
    }
  }
  return false;
}

std::string replace_all(std::string text, std::string_view from, std::string_view to) {
  for (auto pos = text.find(from); pos != std::string::npos;
       pos = text.find(from, pos + to.size())) {
    text.replace(pos, from.size(), to);
  }
  return text;
}

std::string registry_binary() {
  const char* bin = std::getenv("PP_REGISTRY_BIN");
  return bin != nullptr && *bin != '\0' ? bin : "docker-registry";
}

// Splits off the text before the first `sep`; nullopt if `sep` is absent.
std::optional<std::string_view> take_until(std::string_view& rest, std::string_view sep) {
  const auto pos = rest.find(sep);
  if (pos == std::string_view::npos) return std::nullopt;
  const std::string_view head = rest.substr(0, pos);
  rest.remove_prefix(pos + sep.size());
  return head;
}

std::optional<std::uint64_t> to_number(std::string_view digits) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return value;
}

// Parses the combined format (hand-rolled: std::regex trips GCC 12 warnings under sanitizers):
// 127.0.0.1 - - [25/Nov/2026:17:14:50 +0000] "GET /v2/ HTTP/1.1" 200 2 "" "curl/7.88.1"
std::optional<AccessLogEntry> parse_access_line(std::string_view line) {
  const auto client = take_until(line, " [");  // "<host> <ident> <user>"
  if (!client || std::count(client->begin(), client->end(), ' ') != 2) return std::nullopt;
  if (!take_until(line, "] \"")) return std::nullopt;
  const auto request = take_until(line, "\" ");
  if (!request) return std::nullopt;
  std::string_view req = *request;
  const auto method = take_until(req, " ");
  const auto uri = take_until(req, " ");
  if (!method || !uri || !req.starts_with("HTTP/")) return std::nullopt;
  const auto status = take_until(line, " ");
  const auto bytes = line.substr(0, line.find(' '));
  const auto status_value = status ? to_number(*status) : std::nullopt;
  if (!status_value) return std::nullopt;
  return AccessLogEntry{std::string(*method), std::string(*uri), static_cast<int>(*status_value),
                        to_number(bytes).value_or(0)};
}

}  // namespace

RegistryOptions htpasswd_registry(const std::string& user, const std::string& password) {
  TempDir tmp("pp-htpasswd-");
  ChildProcess p({"htpasswd", "-nbB", user, password}, {}, tmp.file("out"));
  if (p.wait_exit(std::chrono::seconds(20)).value_or(-1) != 0)
    throw std::runtime_error("htpasswd failed: " + p.log());
  const std::string out = p.log();
  return RegistryOptions{
      .extra_yaml = "auth:\n  htpasswd:\n    realm: test\n    path: {{dir}}/htpasswd\n",
      .files = {{"htpasswd", out.substr(0, out.find('\n')) + "\n"}}};
}

Registry::Registry(RegistryOptions options) : dir_("pp-registry-"), env_(std::move(options.env)) {
  const std::string root = dir_.file("storage");
  std::filesystem::create_directories(root);
  std::string config = options.config_template.empty() ? std::string(kDefaultConfig)
                                                       : std::move(options.config_template);
  config += "\n" + options.extra_yaml + "\n";
  config = replace_all(std::move(config), "{{root}}", root);
  config = replace_all(std::move(config), "{{dir}}", dir_.path());
  for (const auto& [name, contents] : options.files)
    write_file(dir_.file(name), contents);
  // A port taken between being picked and being bound (by a test running beside this one) makes
  // the registry exit: it is started again on a fresh one, a few times.
  for (int attempt = 1;; ++attempt) {
    port_ = free_port();
    write_file(dir_.file("config.yml"), replace_all(config, "{{port}}", std::to_string(port_)));
    const Launch launched = launch();
    if (launched == Launch::ready) return;
    if (launched == Launch::port_taken && attempt < kAttempts) {
      // Kept aside, out of log(): the access log that tests count is the running registry's.
      std::filesystem::rename(log_path(),
                              dir_.file("registry-attempt" + std::to_string(attempt) + ".log"));
      continue;
    }
    throw std::runtime_error(failure());
  }
}

Registry::Launch Registry::launch() {
  const std::size_t from = log().size();
  process_.emplace(std::vector<std::string>{registry_binary(), "serve", dir_.file("config.yml")},
                   env_, log_path());
  const std::string port = ":" + std::to_string(port_);
  const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  for (;;) {
    const std::string all = log();
    const std::string since = all.substr(std::min(from, all.size()));
    // Its own word that it listens on its port ("listening on 127.0.0.1:N" or "..., tls"): an
    // HTTP answer there could come from whoever took the port. Then the answer, to be sure it
    // serves.
    if (listening(since, port, tls_) && process_->running()) {
      try {
        if (http_get(url() + "/v2/", {}, std::chrono::seconds(10)).status > 0) return Launch::ready;
      } catch (const std::runtime_error&) {
        // not answering yet
      }
    }
    if (!process_->running()) {
      process_.reset();
      return since.find("address already in use") != std::string::npos ? Launch::port_taken
                                                                       : Launch::failed;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      process_.reset();  // stopped
      return Launch::failed;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string Registry::failure() const {
  return "docker-registry did not start on port " + std::to_string(port_) + "; log:\n" + log();
}

void Registry::start() {
  if (running()) return;
  // The same port: a restart keeps the address clients and references use. Something else may
  // bind it while the registry is away (it is a port the kernel can hand out again); the start
  // then fails, naming it in the log, instead of a test talking to someone else's server. That is
  // rare (the gap is the length of a restart, among some 28 000 ports) and loud, and a test of a
  // registry restart needs the same address.
  if (launch() != Launch::ready) throw std::runtime_error(failure());
}

void Registry::stop() {
  if (process_) process_->stop();
  process_.reset();
}

void Registry::sync_access_log() const {
  if (!process_) return;
  const std::string marker = std::string(kBarrierParam) + std::to_string(++barrier_seq_);
  // Over TLS when it serves TLS (a plain request there is refused before it is logged); any
  // certificate will do: this only flushes the log.
  const std::string base = (tls_ ? "https://" : "http://") + host();
  try {
    http_request("GET", base + "/v2/?" + marker, {}, std::nullopt, std::chrono::seconds(30),
                 /*verify_tls=*/false);
  } catch (const std::runtime_error& e) {
    if (!process_->running()) return;  // it died: its log is final
    // Counts could miss requests that completed: fail loudly instead.
    throw std::runtime_error("cannot flush the registry's access log: " + std::string(e.what()));
  }
  // Without the marker's line, counts could miss requests that completed: fail loudly instead.
  const std::string needle = marker + " HTTP/";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (log().find(needle) == std::string::npos) {
    if (std::chrono::steady_clock::now() >= deadline) {
      throw std::runtime_error("the registry's access log never showed " + marker);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

std::vector<AccessLogEntry> Registry::access_log() const {
  sync_access_log();
  std::vector<AccessLogEntry> entries;
  std::istringstream in(log());
  // Only complete lines: the registry may be in the middle of writing the last one.
  for (std::string line; std::getline(in, line);) {
    if (in.eof()) break;
    auto entry = parse_access_line(line);
    if (entry && entry->uri.find(kBarrierParam) == std::string::npos) {
      entries.push_back(std::move(*entry));
    }
  }
  return entries;
}

int Registry::count_requests(std::string_view method, std::string_view path_substring) const {
  int count = 0;
  for (const AccessLogEntry& e : access_log()) {
    if (e.method == method && e.uri.find(path_substring) != std::string::npos) ++count;
  }
  return count;
}

}  // namespace pp::test
