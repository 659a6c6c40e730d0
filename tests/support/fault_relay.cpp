#include "tests/support/fault_relay.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

namespace pp::test {

FaultRelay::FaultRelay(FaultRelayOptions options)
    : options_(std::move(options)),
      budget_(options_.budget),
      random_(options_.seed),
      server_([this](int client, int ordinal) { serve(client, ordinal); }) {}

FaultRelay::~FaultRelay() {
  {
    std::lock_guard lock(budget_mutex_);
    stopping_ = true;
  }
  budget_changed_.notify_all();
}

void FaultRelay::allow(std::uint64_t bytes) {
  {
    std::lock_guard lock(budget_mutex_);
    if (budget_ != 0) budget_ += bytes;
  }
  budget_changed_.notify_all();
}

void FaultRelay::open() {
  {
    std::lock_guard lock(budget_mutex_);
    budget_ = 0;
  }
  budget_changed_.notify_all();
}

void FaultRelay::serve(int client, int ordinal) {
  bool fail = ordinal < options_.fail_connections;
  std::uint64_t cut_at = 0;  // a random cut, in response bytes
  if (!fail && (options_.random_fail_percent > 0 || options_.random_cut_percent > 0)) {
    std::lock_guard lock(random_mutex_);
    const int roll = std::uniform_int_distribution<int>(0, 99)(random_);
    fail = roll < options_.random_fail_percent;
    if (!fail && roll < options_.random_fail_percent + options_.random_cut_percent) {
      cut_at = std::uniform_int_distribution<std::uint64_t>(1, 1 << 20)(random_);
    }
  }
  if (fail) {
    // Read the request head, answer it ourselves, close.
    std::string head;
    char c;
    while (head.find("\r\n\r\n") == std::string::npos && head.size() < 16384) {
      if (::recv(client, &c, 1, 0) != 1) return;
      head.push_back(c);
    }
    std::string response = "HTTP/1.1 " + std::to_string(options_.fail_status) +
                           " Injected Fault\r\nContent-Length: 0\r\nConnection: close\r\n";
    if (!options_.retry_after.empty()) response += "Retry-After: " + options_.retry_after + "\r\n";
    response += "\r\n";
    injected_.fetch_add(1);  // counted before the client can see it, so tests never race it
    send_all(client, response.data(), response.size());
    ::shutdown(client, SHUT_RDWR);
    return;
  }
  const int server = connect_loopback(options_.target_port);
  if (server < 0) return;
  server_.track(server);
  std::atomic<bool> client_done{false};
  std::thread up([client, server, &client_done] {
    pump(client, server);
    client_done.store(true);
  });
  // Server to client, counting, and cut where asked.
  char buf[64 * 1024];
  std::uint64_t sent = 0;
  for (;;) {
    std::size_t want = sizeof buf;
    {
      // Only what the budget leaves, waiting for more when it is spent.
      std::unique_lock lock(budget_mutex_);
      budget_changed_.wait(lock, [&] { return stopping_ || budget_ == 0 || forwarded_ < budget_; });
      if (stopping_) break;
      if (budget_ != 0) want = std::min<std::uint64_t>(want, budget_ - forwarded_);
    }
    if (options_.drip_bytes > 0) {
      want = std::min(want, options_.drip_bytes);
      std::this_thread::sleep_for(std::chrono::milliseconds(options_.drip_ms));
    }
    const ssize_t n = ::recv(server, buf, want, 0);
    if (n <= 0) break;
    {
      std::lock_guard lock(budget_mutex_);
      forwarded_ += static_cast<std::uint64_t>(n);
    }
    std::size_t forward = static_cast<std::size_t>(n);
    bool cut = false;
    if (options_.cut_after_bytes > 0 && sent + forward > options_.cut_after_bytes &&
        cuts_.load() < options_.cut_connections) {
      forward = static_cast<std::size_t>(options_.cut_after_bytes - sent);
      cut = true;
    } else if (cut_at > 0 && sent + forward > cut_at) {
      forward = static_cast<std::size_t>(cut_at - sent);
      cut = true;
    }
    if (cut) cuts_.fetch_add(1);  // likewise counted before the client sees the cut
    if (!send_all(client, buf, forward)) break;
    sent += forward;
    if (cut && options_.stall) {
      // Silent, open, until the client closes its side (the pump upwards then ends).
      for (;;) {
        {
          std::lock_guard lock(budget_mutex_);
          if (stopping_) break;
        }
        if (client_done.load()) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
    if (cut) break;
  }
  ::shutdown(client, SHUT_RDWR);
  ::shutdown(server, SHUT_RDWR);
  up.join();
}

}  // namespace pp::test
