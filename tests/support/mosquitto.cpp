#include "tests/support/mosquitto.hpp"

#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace pp::test {
namespace {

constexpr int kAttempts = 5;
constexpr auto kStartTimeout = std::chrono::seconds(30);

std::string mosquitto_binary() {
  const char* bin = std::getenv("PP_MOSQUITTO_BIN");
  return bin != nullptr && *bin != '\0' ? bin : "/usr/sbin/mosquitto";
}

// Large modules travel as many big QoS 1 messages: no size limit, deep queues, and the same
// inflight window the product is tuned for. Logging goes to stderr, which is our log file.
std::string config(int port) {
  return "listener " + std::to_string(port) +
         " 127.0.0.1\n"
         "allow_anonymous true\n"
         "set_tcp_nodelay true\n"
         "persistence false\n"
         "max_queued_messages 100000\n"
         "message_size_limit 0\n"
         "max_inflight_messages 20\n"
         "log_dest stderr\n"
         "connection_messages true\n";
}

// `text` with each {{port:NAME}} replaced by a fresh free port, recorded in `ports`.
std::string with_ports(std::string text, std::map<std::string, int>& ports) {
  ports.clear();
  for (auto at = text.find("{{port:"); at != std::string::npos; at = text.find("{{port:", at)) {
    const auto end = text.find("}}", at);
    if (end == std::string::npos) throw std::invalid_argument("unterminated {{port: in config");
    const std::string name = text.substr(at + 7, end - at - 7);
    auto [it, added] = ports.try_emplace(name, 0);
    if (added) it->second = free_port();
    const std::string port = std::to_string(it->second);
    text.replace(at, end + 2 - at, port);
    at += port.size();
  }
  return text;
}

bool has_line_with(const std::string& text, std::string_view a, std::string_view b) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.find(a) != std::string::npos && line.find(b) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

Mosquitto::Mosquitto(const std::string& extra_config)
    : dir_("pp-mosquitto-"), extra_config_(extra_config) {
  // Started as root, mosquitto drops to user `mosquitto`; it must still be able to reach the
  // config. The log is fine: its fd is opened by us before exec.
  ::chmod(dir_.path().c_str(), 0755);
  for (int attempt = 1;; ++attempt) {
    port_ = free_port();
    write_file(dir_.file("mosquitto.conf"),
               config(port_) + with_ports(extra_config_, extra_ports_));
    const Launch launched = launch();
    if (launched == Launch::ready) return;
    if (launched == Launch::port_taken && attempt < kAttempts) {
      // Kept for the curious, out of log(): what tests read is the broker that runs.
      std::filesystem::rename(log_path(),
                              dir_.file("mosquitto-attempt" + std::to_string(attempt) + ".log"));
      continue;
    }
    throw std::runtime_error(failure());
  }
}

Mosquitto::Launch Mosquitto::launch() {
  const std::size_t from = log().size();
  process_.emplace(std::vector<std::string>{mosquitto_binary(), "-c", dir_.file("mosquitto.conf")},
                   std::vector<std::string>{}, log_path());
  const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  for (;;) {
    const std::string all = log();
    const std::string since = all.substr(std::min(from, all.size()));
    // The broker's own word that every listener is open: a connection to the port could be
    // answered by whoever took it.
    if (has_line_with(since, "mosquitto version", " running") && process_->running()) {
      return Launch::ready;
    }
    if (!process_->running()) {
      process_.reset();
      return since.find("Address already in use") != std::string::npos ? Launch::port_taken
                                                                       : Launch::failed;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      process_.reset();  // stopped
      return Launch::failed;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string Mosquitto::failure() const {
  return "mosquitto did not start on port " + std::to_string(port_) + "; log:\n" + log();
}

void Mosquitto::start() {
  if (running()) return;
  // The same ports, so that clients find the broker where they left it. Something else may bind
  // one while the broker is away (it is a port the kernel can hand out again); the start then
  // fails, naming it in the log, instead of a test talking to someone else's server. That is rare
  // (the gap is the length of a restart, among some 28 000 ports) and loud, and a test of a broker
  // restart needs the same address.
  if (launch() != Launch::ready) throw std::runtime_error(failure());
}

void Mosquitto::stop() {
  if (process_) process_->stop();
  process_.reset();
}

void Mosquitto::kill() {
  if (process_) process_->kill9();
  process_.reset();
}

}  // namespace pp::test
