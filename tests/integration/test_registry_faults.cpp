// Registry faults survived: a blob download cut mid-way, stalled, or interrupted by a registry
// restart resumes with Range (no chunk published twice); 503 bursts and 429s with Retry-After are
// waited out; a registry down at start is retried; exhausted retries fail with the registry's
// status; a slow registry or a download paused for window credits is not taken for a stall; a
// Content-Length that lies is an error.
#define BOOST_TEST_MODULE registry_faults
#include <signal.h>
#include <sys/socket.h>

#include <boost/test/unit_test.hpp>
#include <thread>

#include "tests/integration/stack.hpp"
#include "tests/support/fault_relay.hpp"
#include "tests/support/loopback_server.hpp"

using namespace pp::test;
using namespace std::chrono_literals;

namespace {

constexpr auto kTimeout = 30s;

// The proxy talks to the registry only through the relay.
void start_proxy_via(Stack& s, const FaultRelay& relay, std::vector<std::string> extra = {}) {
  extra.push_back("PROXY_REGISTRY_URL=http://" + relay.host());
  s.start_proxy(extra);
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_download_cut_midway_resumes_with_range) {
  Stack s;
  const std::string wasm = random_wasm(3'000'000, 1);
  s.pusher.push_wasm("cut", "v1", wasm);
  FaultRelay relay(
      {.target_port = s.registry.port(), .cut_after_bytes = 1'000'000, .retry_after = ""});
  start_proxy_via(s, relay, {"PROXY_CHUNK_SIZE=100000"});
  PropletClient client(s.broker.url(), s.channel);
  const std::string app = relay.host() + "/cut:v1";
  client.request(app);
  BOOST_TEST((client.wait_complete(app, kTimeout) == std::optional<std::string>(wasm)));
  // The final status follows every chunk of the transfer: a duplicate would have come by then.
  BOOST_TEST_REQUIRE(client.wait_status(app, kTimeout).has_value());
  const auto a = client.snapshot(app);
  BOOST_TEST(a.duplicates == 0u);  // chunks before the cut were not published again
  BOOST_TEST(a.in_order);
  BOOST_TEST(relay.cuts() == 1);
  BOOST_TEST(s.registry.count_requests("GET", "/blobs/") == 2);
  BOOST_TEST(s.proxy->log().find("resume_at=") != std::string::npos);
  BOOST_TEST(s.proxy->log().find("resume_at=0 ") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_503_burst_with_retry_after_is_waited_out) {
  Stack s;
  const std::string wasm = random_wasm(10'000, 2);
  s.pusher.push_wasm("busy", "v1", wasm);
  FaultRelay relay({.target_port = s.registry.port(), .fail_connections = 2, .retry_after = "1"});
  start_proxy_via(s, relay);
  PropletClient client(s.broker.url(), s.channel);
  const std::string app = relay.host() + "/busy:v1";
  const auto started = std::chrono::steady_clock::now();
  client.request(app);
  BOOST_TEST((client.wait_complete(app, kTimeout) == std::optional<std::string>(wasm)));
  BOOST_TEST(relay.injected() == 2);
  BOOST_TEST((std::chrono::steady_clock::now() - started >= 1900ms));  // Retry-After: 1, twice
}

BOOST_AUTO_TEST_CASE(exhausted_retries_fail_with_the_registry_status) {
  Stack s;
  s.pusher.push_wasm("down", "v1", random_wasm(1000, 3));
  FaultRelay relay({.target_port = s.registry.port(), .fail_connections = 100, .retry_after = ""});
  start_proxy_via(s, relay, {"PROXY_HTTP_RETRIES=2"});
  PropletClient client(s.broker.url(), s.channel);
  const std::string app = relay.host() + "/down:v1";
  client.request(app);
  expect_failed(client, app, "registry_error", "HTTP 503", kTimeout);
  BOOST_TEST(relay.injected() == 3);  // the first try and two retries
}

BOOST_AUTO_TEST_CASE(a_registry_down_at_start_is_retried) {
  Stack s;
  const std::string wasm = random_wasm(5000, 4);
  s.pusher.push_wasm("late", "v1", wasm);
  s.registry.stop();
  // Enough retries (backoff up to 10 s) to outlast a registry start on a loaded machine.
  s.start_proxy({"PROXY_HTTP_RETRIES=8"});
  PropletClient client(s.broker.url(), s.channel);
  client.request(s.ref("late", "v1"));
  // Up once the proxy has found it down.
  BOOST_TEST_REQUIRE(s.proxy->wait_log("registry request failed; retrying", kTimeout));
  s.registry.start();
  BOOST_TEST(
      (client.wait_complete(s.ref("late", "v1"), kTimeout) == std::optional<std::string>(wasm)));
  BOOST_TEST(s.proxy->log().find("registry request failed; retrying") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_429_with_retry_after_is_waited_out) {
  Stack s;
  const std::string wasm = random_wasm(10'000, 5);
  s.pusher.push_wasm("limited", "v1", wasm);
  FaultRelay relay({.target_port = s.registry.port(),
                    .fail_connections = 1,
                    .fail_status = 429,
                    .retry_after = "2"});
  start_proxy_via(s, relay);
  PropletClient client(s.broker.url(), s.channel);
  const std::string app = relay.host() + "/limited:v1";
  const auto started = std::chrono::steady_clock::now();
  client.request(app);
  BOOST_TEST((client.wait_complete(app, kTimeout) == std::optional<std::string>(wasm)));
  BOOST_TEST(relay.injected() == 1);
  BOOST_TEST((std::chrono::steady_clock::now() - started >= 1900ms));
}

// A connection that goes silent mid-blob is dropped after PROXY_HTTP_STALL_TIMEOUT and the
// download resumes with Range, publishing no chunk twice.
BOOST_AUTO_TEST_CASE(a_stalled_download_resumes_with_range) {
  Stack s;
  const std::string wasm = random_wasm(600'000, 6);
  s.pusher.push_wasm("stall", "v1", wasm);
  FaultRelay relay({.target_port = s.registry.port(), .cut_after_bytes = 250'000, .stall = true});
  start_proxy_via(s, relay, {"PROXY_CHUNK_SIZE=100000", "PROXY_HTTP_STALL_TIMEOUT=1s"});
  PropletClient client(s.broker.url(), s.channel);
  const std::string app = relay.host() + "/stall:v1";
  client.request(app);
  BOOST_TEST((client.wait_complete(app, kTimeout) == std::optional<std::string>(wasm)));
  // The final status follows every chunk of the transfer: a duplicate would have come by then.
  BOOST_TEST_REQUIRE(client.wait_status(app, kTimeout).has_value());
  const auto a = client.snapshot(app);
  BOOST_TEST(a.duplicates == 0u);
  BOOST_TEST(relay.cuts() == 1);
  BOOST_TEST(s.registry.count_requests("GET", "/blobs/") == 2);
  BOOST_TEST(s.proxy->log().find("PROXY_HTTP_STALL_TIMEOUT") != std::string::npos);
  BOOST_TEST(s.proxy->log().find("resume_at=0 ") == std::string::npos);
}

// A slow registry is not a stalled one: bytes trickling in more often than the stall timeout keep
// the one connection going, for longer in all than the timeout (the drip takes about 5 s; a gap
// of 200 ms leaves a loaded machine ten times the margin).
BOOST_AUTO_TEST_CASE(a_slow_drip_is_not_a_stall) {
  Stack s;
  const std::string wasm = random_wasm(12'000, 7);
  s.pusher.push_wasm("drip", "v1", wasm);
  FaultRelay relay({.target_port = s.registry.port(), .drip_bytes = 500, .drip_ms = 200});
  start_proxy_via(s, relay, {"PROXY_CHUNK_SIZE=4000", "PROXY_HTTP_STALL_TIMEOUT=2s"});
  PropletClient client(s.broker.url(), s.channel);
  const std::string app = relay.host() + "/drip:v1";
  client.request(app);
  BOOST_TEST((client.wait_complete(app, kTimeout) == std::optional<std::string>(wasm)));
  BOOST_TEST(s.registry.count_requests("GET", "/blobs/") == 1);
  BOOST_TEST(s.proxy->log().find("registry request failed") == std::string::npos);
}

// A download paused because the chunk window is full (here: the broker is frozen, so nothing is
// acknowledged) moves no byte for longer than the stall timeout, and is not a stall: it goes on
// from where it paused, on the same connection.
BOOST_AUTO_TEST_CASE(a_download_paused_for_window_credits_is_not_a_stall) {
  Stack s;
  const std::string wasm = random_wasm(3'000'000, 8);
  s.pusher.push_wasm("paused", "v1", wasm);
  s.start_proxy({"PROXY_CHUNK_SIZE=50000", "PROXY_CHUNK_WINDOW=2", "PROXY_HTTP_STALL_TIMEOUT=1s"});
  PropletClient client(s.broker.url(), s.channel);
  const std::string app = s.ref("paused", "v1");
  client.request(app);
  BOOST_TEST_REQUIRE(client.wait_message_count(2, kTimeout));
  BOOST_TEST_REQUIRE(kill(s.broker.pid(), SIGSTOP) == 0);
  std::this_thread::sleep_for(3s);
  BOOST_TEST_REQUIRE(kill(s.broker.pid(), SIGCONT) == 0);
  BOOST_TEST((client.wait_complete(app, kTimeout) == std::optional<std::string>(wasm)));
  BOOST_TEST(s.registry.count_requests("GET", "/blobs/") == 1);
  BOOST_TEST(s.proxy->log().find("PROXY_HTTP_STALL_TIMEOUT") == std::string::npos);
}

// The registry dies in the middle of a blob and comes back: the download resumes with Range. A
// relay holds the blob at 4 MB until the registry is dead, so that it dies mid-blob however fast
// the proxy reads (on loopback it can have all 24 MB before the first chunk reaches a proplet);
// then what the relay still has reaches the proxy, and the connection ends short.
BOOST_AUTO_TEST_CASE(a_registry_restarted_mid_blob_is_resumed) {
  Stack s;
  const std::string wasm = random_wasm(24'000'000, 9);
  s.pusher.push_wasm("restart", "v1", wasm);
  FaultRelay relay({.target_port = s.registry.port(), .budget = 4'000'000});
  s.start_proxy({"PROXY_REGISTRY_URL=http://" + relay.host(), "PROXY_CHUNK_SIZE=500000",
                 "PROXY_HTTP_RETRIES=8"});
  PropletClient client(s.broker.url(), s.channel, 1, false);
  const std::string app = relay.host() + "/restart:v1";
  client.request(app);
  BOOST_TEST_REQUIRE(client.wait_message_count(2, kTimeout));
  BOOST_TEST_REQUIRE(kill(s.registry.pid(), SIGKILL) == 0);
  s.registry.stop();  // reaps it
  relay.open();
  std::this_thread::sleep_for(300ms);  // how long it is away
  s.registry.start();
  BOOST_TEST_REQUIRE(client.wait_complete(app, 60s).has_value());
  // The final status follows every chunk of the transfer: a duplicate would have come by then.
  BOOST_TEST_REQUIRE(client.wait_status(app, kTimeout).has_value());
  const auto a = client.snapshot(app);
  BOOST_TEST(a.streamed_sha256 == sha256_digest(wasm));
  BOOST_TEST(a.duplicates == 0u);
  BOOST_TEST(s.proxy->log().find("resume_at=") != std::string::npos, s.proxy->log());
  BOOST_TEST(s.proxy->log().find("resume_at=0 ") == std::string::npos);
}

namespace {

// A registry that lies in its blob responses' Content-Length: it serves a real manifest, then the
// blob with `declared` as its length but `body` as what follows, and closes. Raw sockets, because
// HTTP libraries will not lie. Counts the blob requests.
class LyingRegistry {
 public:
  LyingRegistry(std::string wasm, std::string declared, std::size_t body_bytes)
      : wasm_(std::move(wasm)),
        declared_(std::move(declared)),
        body_bytes_(body_bytes),
        server_([this](int client, int) { serve(client); }) {
    const std::string config = "{}";
    manifest_ = RegistryPusher::manifest_json(
        Desc{"application/vnd.wasm.config.v0+json", sha256_digest(config), config.size()},
        {Desc{"application/wasm", sha256_digest(wasm_), wasm_.size()}}, kOciManifest);
  }
  std::string host() const { return "127.0.0.1:" + std::to_string(server_.port()); }
  int blob_requests() const { return blob_requests_.load(); }

 private:
  void serve(int client) {
    std::string head;
    char c;
    while (head.find("\r\n\r\n") == std::string::npos && head.size() < 16384) {
      if (::recv(client, &c, 1, 0) != 1) return;
      head.push_back(c);
    }
    std::string response;
    if (head.find("/manifests/") != std::string::npos) {
      response = "HTTP/1.1 200 OK\r\nContent-Type: " + std::string(kOciManifest) +
                 "\r\nContent-Length: " + std::to_string(manifest_.size()) +
                 "\r\nConnection: close\r\n\r\n" + manifest_;
    } else {
      blob_requests_.fetch_add(1);
      response = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
                 declared_ + "\r\nConnection: close\r\n\r\n" +
                 wasm_.substr(0, std::min(body_bytes_, wasm_.size()));
    }
    send_all(client, response.data(), response.size());
    ::shutdown(client, SHUT_RDWR);
  }

  std::string wasm_, declared_, manifest_;
  std::size_t body_bytes_;
  std::atomic<int> blob_requests_{0};
  LoopbackServer server_;  // last: its threads stop before the rest goes
};

}  // namespace

// A Content-Length that promises more than comes, fewer bytes than the descriptor says, or an
// absurd length: each ends in an error for that request (after the retries a cut connection
// deserves), never a hang, a crash or an allocation of what was promised.
BOOST_AUTO_TEST_CASE(a_content_length_that_lies_is_an_error) {
  const std::string wasm = random_wasm(20'000, 10);
  struct Case {
    std::string declared;
    std::size_t body;
    std::string code, message;
    int blob_requests;
  };
  const Case cases[] = {
      {"30000", 20'000, "registry_unavailable", "blob sha256:", 3},  // cut short, retried twice
      {"10000", 10'000, "size_mismatch", "10000", 1},                // complete, but short
      {"999999999999999999", 20'000, "registry_unavailable", "blob sha256:", 3},
  };
  Stack s;
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT("Content-Length: " << c.declared << " with " << c.body << " bytes") {
      LyingRegistry liar(wasm, c.declared, c.body);
      s.start_proxy({"PROXY_REGISTRY_URL=http://" + liar.host(), "PROXY_HTTP_RETRIES=2"});
      PropletClient client(s.broker.url(), s.channel);
      const std::string app = liar.host() + "/app:v1";
      client.request(app);
      expect_failed(client, app, c.code, c.message, kTimeout);
      BOOST_TEST(liar.blob_requests() == c.blob_requests);
      BOOST_TEST(!client.snapshot(app).complete);
    }
  }
}
