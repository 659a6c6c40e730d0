#include "tests/support/fault_relay.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace pp::test {

namespace {

bool send_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

int connect_loopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void pump(int from, int to) {
  char buf[64 * 1024];
  for (;;) {
    const ssize_t n = ::recv(from, buf, sizeof buf, 0);
    if (n <= 0 || !send_all(to, buf, static_cast<std::size_t>(n))) break;
  }
  ::shutdown(from, SHUT_RDWR);
  ::shutdown(to, SHUT_RDWR);
}

}  // namespace

FaultRelay::FaultRelay(FaultRelayOptions options) : options_(std::move(options)) {
  listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
  const int one = 1;
  ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listener_, 64) != 0 ||
      ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(listener_);
    throw std::runtime_error("FaultRelay: cannot listen on loopback");
  }
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

FaultRelay::~FaultRelay() {
  stopping_ = true;
  ::shutdown(listener_, SHUT_RDWR);
  acceptor_.join();
  ::close(listener_);
  {
    std::lock_guard lock(mutex_);
    for (const int fd : sockets_)
      ::shutdown(fd, SHUT_RDWR);
  }
  for (auto& w : workers_)
    w.join();
  for (const int fd : sockets_)
    ::close(fd);
}

void FaultRelay::accept_loop() {
  int ordinal = 0;
  while (!stopping_) {
    const int client = ::accept(listener_, nullptr, nullptr);
    if (client < 0) break;
    std::lock_guard lock(mutex_);
    sockets_.push_back(client);
    workers_.emplace_back([this, client, n = ordinal++] { serve(client, n); });
  }
}

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
    send_all(client, response.data(), response.size());
    injected_.fetch_add(1);
    ::shutdown(client, SHUT_RDWR);
    return;
  }
  const int server = connect_loopback(options_.target_port);
  if (server < 0) return;
  {
    std::lock_guard lock(mutex_);
    sockets_.push_back(server);
  }
  std::thread up([client, server] { pump(client, server); });
  // Server to client, counting, and cut where asked.
  char buf[64 * 1024];
  std::uint64_t sent = 0;
  for (;;) {
    const ssize_t n = ::recv(server, buf, sizeof buf, 0);
    if (n <= 0) break;
    std::size_t forward = static_cast<std::size_t>(n);
    bool cut = false;
    if (options_.cut_after_bytes > 0 && sent + forward > options_.cut_after_bytes &&
        cuts_.load() < options_.cut_connections) {
      forward = static_cast<std::size_t>(options_.cut_after_bytes - sent);
      cut = true;
    }
    if (!send_all(client, buf, forward)) break;
    sent += forward;
    if (cut) {
      cuts_.fetch_add(1);
      break;
    }
  }
  ::shutdown(client, SHUT_RDWR);
  ::shutdown(server, SHUT_RDWR);
  up.join();
}

}  // namespace pp::test
