// A real mosquitto broker on a free 127.0.0.1 port, configured for large chunked transfers.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>

#include "tests/support/process.hpp"

namespace pp::test {

class Mosquitto {
 public:
  // Starts the broker and waits (30 s) until it says all its listeners are open; throws
  // std::runtime_error with the broker log on failure. A port taken between being picked and being
  // bound (by a test running beside this one) makes the broker exit: it is started again on fresh
  // ports, a few times. The binary is $PP_MOSQUITTO_BIN or /usr/sbin/mosquitto.
  // `extra_config` is appended to the generated config (more listeners: TLS, WebSockets); each
  // `{{port:NAME}}` in it becomes a free port of its own, picked afresh with the others on a retry:
  // listener_port("NAME") tells which.
  explicit Mosquitto(const std::string& extra_config = "");
  ~Mosquitto() = default;
  Mosquitto(const Mosquitto&) = delete;
  Mosquitto& operator=(const Mosquitto&) = delete;

  int port() const { return port_; }
  // The port `{{port:NAME}}` of the extra config became; throws std::out_of_range for another name.
  int listener_port(const std::string& name) const { return extra_ports_.at(name); }
  std::string url() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
  bool running() { return process_ && process_->running(); }
  // PID of the broker, -1 when stopped (e.g. for vm_hwm_kib).
  pid_t pid() const { return process_ ? process_->pid() : -1; }

  // Stops the broker (SIGTERM, then SIGKILL). Clients see the connection drop.
  void stop();
  // Kills it (SIGKILL), as a crash would: without persistence, what it held is gone.
  void kill();
  // Starts it again on the same ports with the same config; no-op if running. Throws like the
  // constructor, without trying other ports.
  void start();
  // The broker's stdout+stderr over all starts (not the attempts that found a port taken).
  std::string log() const { return read_file(log_path()); }
  std::string log_path() const { return dir_.file("mosquitto.log"); }

 private:
  enum class Launch { ready, port_taken, failed };
  // Starts the broker on the config written and waits for it.
  Launch launch();
  std::string failure() const;

  TempDir dir_;
  std::string extra_config_;  // as given, with its {{port:NAME}}
  int port_ = 0;
  std::map<std::string, int> extra_ports_;
  std::optional<ChildProcess> process_;
};

}  // namespace pp::test
