#pragma once
// The propeller-proxy binary under test, run as its own process (as operators run it), configured
// only through its environment.

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
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
  // Waits until the proxy logs that it is subscribed, unless `wait_ready` is false.
  // PROXY_HTTP_PORT defaults to a free port, so that proxies of parallel tests do not collide.
  explicit ProxyProcess(std::vector<std::string> env, bool wait_ready = true)
      : http_port_(free_port()),
        process_({PP_PROXY_BINARY}, with_clean_slate(std::move(env), http_port_, dir_.path()),
                 dir_.file("proxy.log")) {
    if (wait_ready && !wait_ready_line(std::chrono::seconds(15))) {
      throw std::runtime_error("propeller-proxy did not become ready:\n" + log());
    }
  }

  ChildProcess& process() { return process_; }
  int http_port() const { return http_port_; }
  std::string log() const { return process_.log(); }

  bool wait_log(const std::string& needle, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (log().find(needle) != std::string::npos) return true;
      if (!process_.running()) return log().find(needle) != std::string::npos;
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
    const std::string url = "http://127.0.0.1:" + std::to_string(http_port_) + "/metrics";
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      try {
        if (series(http_get(url, {}, std::chrono::seconds(10)).body,
                   "propeller_proxy_active_transfers") == 0) {
          return true;
        }
      } catch (const std::runtime_error&) {
        // not answering (yet, or any more): the deadline decides
      }
      if (std::chrono::steady_clock::now() >= deadline || !process_.running()) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  // Peak resident memory (VmHWM) so far; read while the process is alive.
  long peak_rss_kib() {
    const auto kib = vm_hwm_kib(process_.pid());
    if (!kib) throw std::runtime_error("cannot read VmHWM of the proxy");
    return *kib;
  }

 private:
  // The "ready" event, in either log format.
  bool wait_ready_line(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    do {
      const std::string text = log();
      if (text.find(kReadyText) != std::string::npos) return true;
      if (text.find(kReadyJson) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } while (process_.running() && std::chrono::steady_clock::now() < deadline);
    return false;
  }

  static constexpr const char* kReadyText = " info ready subscriptions=";
  static constexpr const char* kReadyJson = R"("msg":"ready")";

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
  int http_port_;
  ChildProcess process_;
};

}  // namespace pp::test
