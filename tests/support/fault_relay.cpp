#include "tests/support/fault_relay.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <thread>

namespace pp::test {

FaultRelay::FaultRelay(FaultRelayOptions options)
    : options_(std::move(options)),
      server_([this](int client, int ordinal) { serve(client, ordinal); }) {}

FaultRelay::~FaultRelay() = default;

void FaultRelay::serve(int client, int ordinal) {
  if (ordinal < options_.fail_connections) {
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
  std::thread up([client, server] { pump(client, server); });
  // Server to client, counting, and cut where asked.
  char buf[64 * 1024];
  // Paced in small steps, so that the pace holds at the scale of a chunk.
  const std::size_t read_size = options_.bytes_per_second > 0 ? 4096 : sizeof buf;
  const auto started = std::chrono::steady_clock::now();
  std::uint64_t sent = 0;
  for (;;) {
    if (options_.bytes_per_second > 0) {
      std::this_thread::sleep_until(
          started + std::chrono::microseconds(sent * 1'000'000 / options_.bytes_per_second));
    }
    const ssize_t n = ::recv(server, buf, read_size, 0);
    if (n <= 0) break;
    std::size_t forward = static_cast<std::size_t>(n);
    bool cut = false;
    if (options_.cut_after_bytes > 0 && sent + forward > options_.cut_after_bytes &&
        cuts_.load() < options_.cut_connections) {
      forward = static_cast<std::size_t>(options_.cut_after_bytes - sent);
      cut = true;
    }
    if (cut) cuts_.fetch_add(1);  // likewise counted before the client sees the cut
    if (!send_all(client, buf, forward)) break;
    sent += forward;
    if (cut) break;
  }
  ::shutdown(client, SHUT_RDWR);
  ::shutdown(server, SHUT_RDWR);
  up.join();
}

}  // namespace pp::test
