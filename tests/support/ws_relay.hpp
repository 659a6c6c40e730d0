#pragma once
// A WebSocket-to-TCP relay for MQTT over WebSockets (RFC 6455, binary frames, subprotocol "mqtt"):
// it accepts ws:// clients on a free loopback port and relays their MQTT bytes to a broker's plain
// TCP port. A purpose-built test server: Debian's mosquitto is built without WebSockets, so the
// real broker cannot produce this case by itself.

#include "tests/support/loopback_server.hpp"

namespace pp::test {

class WebSocketRelay {
 public:
  explicit WebSocketRelay(int broker_port);
  ~WebSocketRelay();
  WebSocketRelay(const WebSocketRelay&) = delete;
  WebSocketRelay& operator=(const WebSocketRelay&) = delete;

  int port() const { return server_.port(); }

 private:
  void serve(int client);

  int broker_port_;
  LoopbackServer server_;  // last: its threads stop before the rest goes
};

}  // namespace pp::test
