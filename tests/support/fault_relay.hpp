#pragma once
// A TCP relay between a client and a server on loopback that injects faults the real server will
// not produce on demand: it cuts connections after a number of response bytes (a download dying
// mid-blob) or stops forwarding while keeping them open (a stall), drips responses slowly,
// answers the first connections itself with an HTTP error (a 503 burst), or holds
// responses at a byte budget the test raises step by step (a transfer kept under way, at a known
// point, for as long as a test needs, however slow the machine).

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <random>
#include <string>

#include "tests/support/loopback_server.hpp"

namespace pp::test {

struct FaultRelayOptions {
  int target_port = 0;
  std::uint64_t cut_after_bytes = 0;  // 0: never cut
  int cut_connections = 1;            // how many connections are cut (the first that get there)
  // A cut connection is held open and silent instead of closed (a stalled server), until the
  // client gives up on it.
  bool stall = false;
  // Random faults, decided per connection (after the fixed ones above): this percentage of
  // connections gets `fail_status`, and this one is cut at a random point of its first MiB.
  int random_fail_percent = 0;
  int random_cut_percent = 0;
  unsigned seed = 1;
  // A slow drip: at most `drip_bytes` of response every `drip_ms`; 0: full speed.
  std::size_t drip_bytes = 0;
  int drip_ms = 0;
  int fail_connections = 0;  // the first N connections get `fail_status` and are closed
  int fail_status = 503;
  std::string retry_after = {};  // sent with the injected error when not empty
  // Response bytes, over all connections, forwarded before the relay waits for allow() or open();
  // 0: no budget.
  std::uint64_t budget = 0;
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
  // Raises the budget by `bytes`, or lifts it.
  void allow(std::uint64_t bytes);
  void open();
  int injected() const { return injected_.load(); }

 private:
  void serve(int client, int ordinal);

  FaultRelayOptions options_;
  std::atomic<int> cuts_{0};
  std::atomic<int> injected_{0};
  std::mutex budget_mutex_;
  std::condition_variable budget_changed_;
  std::uint64_t budget_;         // 0: none
  std::uint64_t forwarded_ = 0;  // response bytes so far, all connections'
  std::mutex random_mutex_;
  std::mt19937 random_;
  bool stopping_ = false;
  LoopbackServer server_;  // last: its threads stop before the rest goes
};

}  // namespace pp::test
