// A real mosquitto broker on a free 127.0.0.1 port, configured for large chunked transfers.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "tests/support/process.hpp"

namespace pp::test {

class Mosquitto {
 public:
  // Starts the broker and waits (10 s) until it accepts connections; throws std::runtime_error
  // with the broker log on failure. The binary is $PP_MOSQUITTO_BIN or /usr/sbin/mosquitto.
  // `extra_config` is appended to the generated config (more listeners: TLS, WebSockets).
  explicit Mosquitto(const std::string& extra_config = "");
  ~Mosquitto() = default;
  Mosquitto(const Mosquitto&) = delete;
  Mosquitto& operator=(const Mosquitto&) = delete;

  int port() const { return port_; }
  std::string url() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
  bool running() { return process_ && process_->running(); }
  // PID of the broker, -1 when stopped (e.g. for vm_hwm_kib).
  pid_t pid() const { return process_ ? process_->pid() : -1; }

  // Stops the broker (SIGTERM, then SIGKILL). Clients see the connection drop.
  void stop();
  // Kills it (SIGKILL), as a crash would: without persistence, what it held is gone.
  void kill();
  // Starts it again on the same port with the same config; no-op if running.
  void start();
  // The broker's stdout+stderr over all starts.
  std::string log() const { return read_file(log_path()); }
  std::string log_path() const { return dir_.file("mosquitto.log"); }

 private:
  TempDir dir_;
  int port_;
  std::optional<ChildProcess> process_;
};

}  // namespace pp::test
