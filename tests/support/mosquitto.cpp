#include "tests/support/mosquitto.hpp"

#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>

namespace pp::test {
namespace {

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

}  // namespace

Mosquitto::Mosquitto(const std::string& extra_config) : dir_("pp-mosquitto-"), port_(free_port()) {
  // Started as root, mosquitto drops to user `mosquitto`; it must still be able to reach the
  // config. The log is fine: its fd is opened by us before exec.
  ::chmod(dir_.path().c_str(), 0755);
  write_file(dir_.file("mosquitto.conf"), config(port_) + extra_config);
  start();
}

void Mosquitto::start() {
  if (running()) return;
  process_.emplace(std::vector<std::string>{mosquitto_binary(), "-c", dir_.file("mosquitto.conf")},
                   std::vector<std::string>{}, log_path());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  // Poll the process too: if the port was taken meanwhile, someone else would answer.
  while (process_->running()) {
    if (wait_for_tcp(port_, std::chrono::milliseconds(100)) && process_->running()) return;
    if (std::chrono::steady_clock::now() >= deadline) break;
  }
  process_->stop();
  throw std::runtime_error("mosquitto did not start on port " + std::to_string(port_) + "; log:\n" +
                           log());
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
