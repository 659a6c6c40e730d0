#pragma once
// The propeller-proxy binary under test, run as its own process (as operators run it), configured
// only through its environment.

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/support/metrics.hpp"
#include "tests/support/process.hpp"
#include "tests/support/registry_push.hpp"

#ifndef PP_PROXY_BINARY
#error "PP_PROXY_BINARY must name the propeller-proxy binary"
#endif

namespace pp::test {

// When the proxy wrote a line of its text log, from its timestamp ("2026-12-02T15:02:17.123+00:00",
// spdlog's %z; "+0000" is read too): the system clock, in milliseconds, cut down rather than
// rounded. nullopt if the line does not start with one.
inline std::optional<std::chrono::system_clock::time_point> log_line_time(const std::string& line) {
  std::tm tm{};
  int ms = 0, offset_h = 0, offset_m = 0;
  char sign = 0;
  int used = 0;
  if (std::sscanf(line.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c%2d%n", &tm.tm_year, &tm.tm_mon,
                  &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms, &sign, &offset_h,
                  &used) != 9 ||
      (sign != '+' && sign != '-')) {
    return std::nullopt;
  }
  const char* rest = line.c_str() + used;
  if (*rest == ':') ++rest;
  if (std::sscanf(rest, "%2d", &offset_m) != 1) return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  const std::chrono::minutes offset((offset_h * 60 + offset_m) * (sign == '-' ? -1 : 1));
  return std::chrono::system_clock::from_time_t(::timegm(&tm)) - offset +
         std::chrono::milliseconds(ms);
}

class ProxyProcess {
 public:
  // `env`: "K=V" entries on top of a clean slate (no inherited PROPLET_*/PROXY_* variables).
  // Waits until the proxy logs that it is subscribed, unless `wait_ready` is false (then only
  // until it logs that it is starting, which it does once its HTTP endpoint listens, or until it
  // exits: a configuration error, say).
  // PROXY_HTTP_PORT defaults to a free port, so that proxies of parallel tests do not collide; one
  // taken between being picked and being bound makes the proxy exit ("cannot listen on the HTTP
  // endpoint's address"), and it is started again on a fresh one, a few times. A PROXY_HTTP_PORT
  // in `env` is used as it is.
  explicit ProxyProcess(std::vector<std::string> env, bool wait_ready = true) {
    const std::optional<int> given_port = setting_of(env, "PROXY_HTTP_PORT");
    if (const auto host = string_setting_of(env, "PROXY_HTTP_HOST")) http_host_ = *host;
    for (int attempt = 1;; ++attempt) {
      http_port_ = given_port ? *given_port : free_port();
      process_.emplace(std::vector<std::string>{PP_PROXY_BINARY},
                       with_clean_slate(env, http_port_, dir_.path()), log_path());
      const Start started = wait_started(wait_ready, std::chrono::seconds(30));
      if (started == Start::port_taken && !given_port && attempt < kAttempts) {
        // Kept aside, out of log(): what tests read is the proxy that runs.
        process_.reset();
        std::filesystem::rename(log_path(),
                                dir_.file("proxy-attempt" + std::to_string(attempt) + ".log"));
        continue;
      }
      if (wait_ready && started != Start::ready) {
        throw std::runtime_error("propeller-proxy did not become ready:\n" + log());
      }
      return;
    }
  }

  ChildProcess& process() { return *process_; }
  int http_port() const { return http_port_; }
  std::string log() const { return read_file(log_path()); }
  std::string log_path() const { return dir_.file("proxy.log"); }

  bool wait_log(const std::string& needle, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (log().find(needle) != std::string::npos) return true;
      if (!process_->running()) return log().find(needle) != std::string::npos;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  // Until no transfer is under way (propeller_proxy_active_transfers is 0 on /metrics): every
  // transfer accepted so far has ended, and its final status has been handed to Paho (a transfer
  // counts as active until then). A request the proxy has received but not yet accepted is not
  // counted: wait for its "request accepted" line first (the request stage takes requests one by
  // one, in arrival order). False after `timeout`.
  bool wait_idle(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    return wait_series(
        "propeller_proxy_active_transfers", [](double v) { return v == 0; }, timeout);
  }

  // Until the series `name` on /metrics holds `ok`. False after `timeout`, or once the proxy is
  // gone.
  template <class Ok>
  bool wait_series(const std::string& name, Ok ok,
                   std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    const std::string url = "http://" + http_host_ + ":" + std::to_string(http_port_) + "/metrics";
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      try {
        const double v = series(http_get(url, {}, std::chrono::seconds(10)).body, name);
        if (v >= 0 && ok(v)) return true;
      } catch (const std::runtime_error&) {
        // not answering (yet, or any more): the deadline decides
      }
      if (std::chrono::steady_clock::now() >= deadline || !process_->running()) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  // Peak resident memory (VmHWM) so far; read while the process is alive.
  long peak_rss_kib() {
    const auto kib = vm_hwm_kib(process_->pid());
    if (!kib) throw std::runtime_error("cannot read VmHWM of the proxy");
    return *kib;
  }

 private:
  enum class Start { ready, started, port_taken, exited, timed_out };
  static constexpr int kAttempts = 5;

  // Until the "ready" event (or, without `ready`, the "starting" one), in either log format, or
  // until the proxy exits.
  Start wait_started(bool ready, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const std::string text = log();
      if (text.find(kReadyText) != std::string::npos) return Start::ready;
      if (text.find(kReadyJson) != std::string::npos) return Start::ready;
      if (!ready && (text.find(kStartingText) != std::string::npos ||
                     text.find(kStartingJson) != std::string::npos)) {
        return Start::started;
      }
      if (!process_->running()) {
        return log().find(kCannotListen) != std::string::npos ? Start::port_taken : Start::exited;
      }
      if (std::chrono::steady_clock::now() >= deadline) return Start::timed_out;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  static constexpr const char* kReadyText = " info ready subscriptions=";
  static constexpr const char* kReadyJson = R"("msg":"ready")";
  // Logged once the HTTP endpoint listens.
  static constexpr const char* kStartingText = " info starting broker=";
  static constexpr const char* kStartingJson = R"("msg":"starting")";
  static constexpr const char* kCannotListen = "cannot listen on the HTTP endpoint's address";

  // The value of the last `name`=... in `env`.
  static std::optional<std::string> string_setting_of(const std::vector<std::string>& env,
                                                      const std::string& name) {
    std::optional<std::string> value;
    for (const std::string& e : env) {
      if (e.starts_with(name + "=")) value = e.substr(name.size() + 1);
    }
    return value;
  }
  static std::optional<int> setting_of(const std::vector<std::string>& env,
                                       const std::string& name) {
    const auto value = string_setting_of(env, name);
    if (!value) return std::nullopt;
    return std::atoi(value->c_str());
  }

  static std::vector<std::string> with_clean_slate(std::vector<std::string> env, int http_port,
                                                   const std::string& dir) {
    std::vector<std::string> out;
    // Every setting, alias included, comes from the test alone.
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string_view entry(*e);
      if (entry.starts_with("PROXY_") || entry.starts_with("PROPLET_")) {
        out.push_back("-" + std::string(entry.substr(0, entry.find('='))));
      }
    }
    out.push_back("PROXY_HTTP_PORT=" + std::to_string(http_port));
    // No config.toml of the directory the tests run in: a test that wants one names it.
    out.push_back("PROXY_CONFIG_FILE=/dev/null");
    // No auth file of the machine's user is read unless a test provides one.
    out.push_back("-REGISTRY_AUTH_FILE");
    out.push_back("-XDG_RUNTIME_DIR");
    out.push_back("HOME=/nonexistent");
    // A cache of its own, which starts empty: a test that shares one, or keeps one across
    // restarts, names it.
    out.push_back("-XDG_CACHE_HOME");
    out.push_back("PROXY_CACHE_DIR=" + dir + "/cache");
    // Nor does the machine's HTTP proxy decide where requests go.
    for (const char* name : {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                             "ALL_PROXY", "no_proxy", "NO_PROXY"}) {
      out.push_back(std::string("-") + name);
    }
    out.insert(out.end(), env.begin(), env.end());
    return out;
  }

  TempDir dir_{"pp-proxy-"};
  std::string http_host_ = "127.0.0.1";
  int http_port_ = 0;
  std::optional<ChildProcess> process_;
};

}  // namespace pp::test
