#pragma once
// What the purpose-built test servers (relays) share: socket helpers and a loopback TCP server
// that runs each connection on its own thread and shuts everything down when destroyed.

#include <atomic>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace pp::test {

bool send_all(int fd, const void* data, std::size_t n);
bool recv_exact(int fd, void* data, std::size_t n);
// A connected socket to 127.0.0.1:`port`, or -1.
int connect_loopback(int port);
// Copies bytes from `from` to `to` until either side closes, then shuts both down (one direction
// of a relay; run the other on another thread).
void pump(int from, int to);

class LoopbackServer {
 public:
  // `serve(client, ordinal)` runs on a thread of its own for each accepted connection; `ordinal`
  // counts connections from 0. It may return without closing `client`.
  explicit LoopbackServer(std::function<void(int client, int ordinal)> serve);
  ~LoopbackServer();  // shuts down every tracked socket, joins every thread, closes the sockets
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;

  int port() const { return port_; }
  // Registers a socket a handler opened (e.g. to the upstream server) for shutdown and closing.
  void track(int fd);

 private:
  void accept_loop();

  std::function<void(int, int)> serve_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::vector<int> sockets_;
  std::vector<std::thread> workers_;
  std::thread acceptor_;
};

}  // namespace pp::test
