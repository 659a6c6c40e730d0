// A failing stage fails one transfer, never the service. Test builds have a fault point in every
// stage (nodes/fault.hpp): PP_TEST_FAULT=<point>:<text> makes it throw for apps whose name holds
// <text>. Each stage's guard turns that into a proxy_error for that request alone, named for the
// stage, logged once; the next request is served and the proxy still shuts down cleanly. And
// should something escape all the same (a point outside every guard), the proxy tells its
// requesters, /ready answers 503, and it exits non-zero so that it is restarted.
#define BOOST_TEST_MODULE stage_faults
#include <signal.h>

#include <boost/test/unit_test.hpp>
#include <sstream>

#include "tests/integration/stack.hpp"

using namespace pp::test;
using namespace std::chrono_literals;

namespace {

constexpr auto kTimeout = 30s;

std::size_t lines_with(const std::string& log, const std::string& needle) {
  std::istringstream in(log);
  std::size_t n = 0;
  for (std::string line; std::getline(in, line);)
    n += line.find(needle) != std::string::npos ? 1 : 0;
  return n;
}

constexpr const char* kTar = "application/vnd.oci.image.layer.v1.tar";

}  // namespace

BOOST_AUTO_TEST_CASE(an_exception_in_any_stage_fails_only_its_request) {
  Stack s;
  // Several chunks, so that the per-chunk stages see more than one; a raw module labelled as a
  // tar, so that the layer is examined (spool, unpack).
  const std::string boom = random_wasm(50'000, 71), fine = random_wasm(50'000, 72);
  s.pusher.push_wasm("boom", "v1", boom);
  s.pusher.push_wasm("fine", "v1", fine);
  s.pusher.push_wasm("boom-tar", "v1", boom, kTar);
  struct Case {
    std::string point, stage, app;
  };
  const Case cases[] = {
      {"request", "request", "boom"},
      {"fetch", "fetch", "boom"},
      {"manifest-resolve", "manifest-resolve", "boom"},
      {"layer-select", "layer-select", "boom"},
      {"layer-spool", "layer-spool", "boom-tar"},
      {"layer-unpack", "layer-unpack", "boom-tar"},
      {"blob-download", "blob-download", "boom"},
      {"blob-download-io", "blob-download", "boom"},  // on the HTTP I/O thread
      {"chunk-encode", "chunk-encode", "boom"},
      {"verify", "verify", "boom"},
      {"publish", "publish", "boom"},
      {"track", "track", "boom"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.point) {
      s.start_proxy({"PP_TEST_FAULT=" + c.point + ":boom", "PROXY_CHUNK_SIZE=10000"});
      PropletClient client(s.broker.url(), s.channel);
      const std::string app = s.ref(c.app, "v1");
      const std::string said = "internal error in the " + c.stage + " stage";
      client.request(app);
      expect_failed(client, app, "proxy_error", said, kTimeout);
      BOOST_TEST(lines_with(s.proxy->log(), said) == 1u, s.proxy->log());
      // The service goes on: the next request is served, by the same process.
      client.request(s.ref("fine", "v1"));
      BOOST_TEST((client.wait_complete(s.ref("fine", "v1"), kTimeout) ==
                  std::optional<std::string>(fine)));
      BOOST_TEST(s.proxy->process().running());
      s.stop_proxy();  // exit status 0: nothing was left waiting in the graph
    }
  }
}

BOOST_AUTO_TEST_CASE(a_cancelled_graph_says_so_and_exits_non_zero) {
  Stack s;
  s.pusher.push_wasm("boom", "v1", random_wasm(5000, 73));
  s.start_proxy({"PP_TEST_FAULT=graph:boom"});
  PropletClient client(s.broker.url(), s.channel);
  const std::string app = s.ref("boom", "v1");
  const std::string ready = "http://127.0.0.1:" + std::to_string(s.proxy->http_port()) + "/ready";
  BOOST_TEST_REQUIRE(http_get(ready).status == 200);

  // The registry holds the manifest until the broker is frozen, so that the proxy's last words
  // (the requester's status) wait for the broker, and its end can be watched step by step.
  BOOST_TEST_REQUIRE(kill(s.registry.pid(), SIGSTOP) == 0);
  client.request(app);
  const auto resolving = [&] {
    for (const auto& m : client.status_messages(app))
      if (m.value("state", "") == "resolving") return true;
    return false;
  };
  const auto deadline = std::chrono::steady_clock::now() + kTimeout;
  while (!resolving() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  BOOST_TEST_REQUIRE(resolving());  // the broker has handled every publish of the proxy's so far
  BOOST_TEST_REQUIRE(kill(s.broker.pid(), SIGSTOP) == 0);
  BOOST_TEST_REQUIRE(kill(s.registry.pid(), SIGCONT) == 0);

  BOOST_TEST_REQUIRE(s.proxy->wait_log("the pipeline has stopped", kTimeout), s.proxy->log());
  BOOST_TEST(http_get(ready).status == 503);
  BOOST_TEST_REQUIRE(kill(s.broker.pid(), SIGCONT) == 0);
  const auto status = s.proxy->process().wait_exit(kTimeout);
  BOOST_TEST_REQUIRE(status.has_value());
  BOOST_TEST(*status == 1, s.proxy->log());
  s.proxy.reset();  // exited already, with the status checked above
  // Its requester was told, before the exit.
  expect_failed(client, app, "proxy_error", "restarting", kTimeout);
}
