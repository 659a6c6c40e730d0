#pragma once
// A WebSocket-to-TCP relay for MQTT over WebSockets (RFC 6455, binary frames, subprotocol "mqtt"):
// it accepts ws:// clients on a free loopback port and relays their MQTT bytes to a broker's plain
// TCP port. A purpose-built test server: Debian's mosquitto is built without WebSockets, so the
// real broker cannot produce this case by itself.

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

namespace pp::test {

class WebSocketRelay {
 public:
  explicit WebSocketRelay(int broker_port);
  ~WebSocketRelay();
  WebSocketRelay(const WebSocketRelay&) = delete;
  WebSocketRelay& operator=(const WebSocketRelay&) = delete;

  int port() const { return port_; }

 private:
  void accept_loop();
  void serve(int client);

  int broker_port_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::vector<int> sockets_;  // open client and broker sockets, shut down on destruction
  std::vector<std::thread> workers_;
  std::thread acceptor_;
};

}  // namespace pp::test
