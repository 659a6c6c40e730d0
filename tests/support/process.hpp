// Process and filesystem helpers for integration tests: free ports, temp dirs and child processes
// (real servers) that are always cleaned up.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/temp_dir.hpp"

namespace pp::test {

// A port on 127.0.0.1 that was free a moment ago (bind to port 0, read it back, close). Anything
// may take it before it is bound again: only for servers whose start notices that and starts
// again on another (Mosquitto, Registry and ProxyProcess do). A server of our own binds port 0
// and reads its port back.
int free_port();

// A port on 127.0.0.1 held bound, not listening, while this lives: a connection to it is refused,
// and nothing else can bind it meanwhile (SO_REUSEADDR is not set, so not even a socket that sets
// it). For a test that needs an address where certainly nothing answers.
class ReservedPort {
 public:
  ReservedPort();
  ~ReservedPort();
  ReservedPort(const ReservedPort&) = delete;
  ReservedPort& operator=(const ReservedPort&) = delete;
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// True once something accepts TCP connections on 127.0.0.1:<port>, false after `timeout`.
bool wait_for_tcp(int port, std::chrono::milliseconds timeout);

// Reads a whole file; empty string if it cannot be opened.
std::string read_file(const std::string& path);

// Writes (truncates) a whole file; throws std::runtime_error on failure.
void write_file(const std::string& path, std::string_view contents);

// A child started with fork/exec in its own process group, stdin from /dev/null and
// stdout+stderr appended to a log file. Always stopped (SIGTERM, then SIGKILL) on destruction.
class ChildProcess {
 public:
  // argv[0] is looked up in PATH (of the child's environment) unless it contains a '/'.
  // env_overrides: "K=V" adds or replaces K (an empty V keeps K set to ""), "-K" removes K.
  // Throws std::runtime_error if the program cannot be started.
  ChildProcess(std::vector<std::string> argv, std::vector<std::string> env_overrides,
               std::string log_path);
  ~ChildProcess();
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  // False once the process has exited (it is reaped then and its exit status remembered).
  bool running();
  // SIGTERM to the process group, up to `grace` to exit, then SIGKILL. Returns the exit code
  // (WEXITSTATUS) or 128+signal. Idempotent: later calls return the same value.
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(5));
  // SIGKILL to the process group and reap.
  void kill9();
  // The exit code once the process exits on its own within `timeout`; nullopt if still running.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  // Exit code if it has exited (same encoding as stop()).
  std::optional<int> exit_code() const { return exit_code_; }
  const std::string& log_path() const { return log_path_; }
  std::string log() const { return read_file(log_path_); }

 private:
  bool try_reap();
  void signal_group(int sig) const;

  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::string log_path_;
};

// Peak resident set size (VmHWM) of a live process in KiB; nullopt if unavailable. Must be
// called before the process is reaped (a zombie has no memory statistics).
std::optional<long> vm_hwm_kib(pid_t pid);
// Its resident set now, likewise.
std::optional<long> vm_rss_kib(pid_t pid);

}  // namespace pp::test
