#pragma once
// An HTTP forward proxy for tests, as operators put in front of a registry (HTTPS_PROXY,
// http_proxy): `CONNECT host:port` opens a tunnel, and an absolute-URI request
// (`GET http://host:port/path HTTP/1.1`) is forwarded to its origin, one request per connection.
// It counts what went through it, so tests can tell proxied traffic from direct traffic. It only
// connects to loopback addresses: a test must never reach out of the machine through it.

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "tests/support/loopback_server.hpp"

namespace pp::test {

class HttpProxy {
 public:
  HttpProxy();
  ~HttpProxy();
  HttpProxy(const HttpProxy&) = delete;
  HttpProxy& operator=(const HttpProxy&) = delete;

  int port() const { return server_.port(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port()); }

  // Tunnels opened (the origin was reached and 200 sent).
  int tunnels() const { return tunnels_.load(); }
  // Absolute-URI requests sent on to their origin.
  int forwarded() const { return forwarded_.load(); }
  // Requests answered with an error instead (malformed, non-loopback or unreachable origin).
  int refused() const { return refused_.load(); }
  // Every request's target in arrival order: "host:port" for CONNECT, the absolute URI otherwise.
  std::vector<std::string> targets() const;

 private:
  void serve(int client);
  void record(const std::string& target);

  std::atomic<int> tunnels_{0};
  std::atomic<int> forwarded_{0};
  std::atomic<int> refused_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> targets_;
  LoopbackServer server_;  // last: its threads stop before the rest goes
};

}  // namespace pp::test
