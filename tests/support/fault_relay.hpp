#pragma once
// A TCP relay between a client and a server on loopback that injects faults the real server will
// not produce on demand: it cuts connections after a number of response bytes (a download dying
// mid-blob), answers the first connections itself with an HTTP error (a 503 burst), or paces
// responses to a bandwidth (a slow registry link, which keeps a transfer under way for long enough
// to be joined).

#include <atomic>
#include <cstdint>
#include <string>

#include "tests/support/loopback_server.hpp"

namespace pp::test {

struct FaultRelayOptions {
  int target_port = 0;
  std::uint64_t cut_after_bytes = 0;  // 0: never cut
  int cut_connections = 1;            // how many connections are cut (the first that get there)
  int fail_connections = 0;           // the first N connections get `fail_status` and are closed
  int fail_status = 503;
  std::string retry_after = {};        // sent with the injected error when not empty
  std::uint64_t bytes_per_second = 0;  // of each response; 0: as fast as the server sends
};

class FaultRelay {
 public:
  explicit FaultRelay(FaultRelayOptions options);
  ~FaultRelay();
  FaultRelay(const FaultRelay&) = delete;
  FaultRelay& operator=(const FaultRelay&) = delete;

  int port() const { return server_.port(); }
  std::string host() const { return "127.0.0.1:" + std::to_string(port()); }
  int cuts() const { return cuts_.load(); }
  int injected() const { return injected_.load(); }

 private:
  void serve(int client, int ordinal);

  FaultRelayOptions options_;
  std::atomic<int> cuts_{0};
  std::atomic<int> injected_{0};
  LoopbackServer server_;  // last: its threads stop before the rest goes
};

}  // namespace pp::test
