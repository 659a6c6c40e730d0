// Coalescing: requests for an app already being sent on the same channel join that transfer. Each
// requester still gets every chunk (those sent before it asked come again after the stream, from
// the proxy's spool), and the registry serves the blob once. Selective resend: a request naming
// chunks gets just those.
#define BOOST_TEST_MODULE coalescing
#include <boost/test/unit_test.hpp>

#include "tests/integration/stack.hpp"
#include "tests/support/fault_relay.hpp"
#include "tests/support/tar_layer.hpp"

using namespace pp::test;
using namespace std::chrono_literals;

namespace {
constexpr auto kTimeout = 60s;
constexpr std::size_t kChunk = 16384;

std::string resend_request(const std::string& app, const std::string& chunks,
                           const std::string& digest = "") {
  return R"({"app_name":")" + app + R"(","chunks":)" + chunks +
         (digest.empty() ? "" : R"(,"digest":")" + digest + "\"") + "}";
}

// The bytes of chunk `idx` of `module`.
std::string chunk_of(const std::string& module, std::uint64_t idx) {
  return module.substr(idx * kChunk, kChunk);
}

// Until the proxy has logged `n` requests joining a transfer (the stack logs at debug level).
bool wait_joins(ProxyProcess& proxy, std::size_t n) {
  const auto deadline = std::chrono::steady_clock::now() + kTimeout;
  for (;;) {
    const std::string log = proxy.log();
    std::size_t seen = 0;
    for (auto at = log.find("request joined"); at != std::string::npos;
         at = log.find("request joined", at + 1))
      ++seen;
    if (seen >= n) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
}

int ranged_gets(const Registry& registry) {
  int n = 0;
  for (const auto& e : registry.access_log())
    n += e.method == "GET" && e.status == 206;
  return n;
}
}  // namespace

// 50 proplets ask for the same app at staggered moments while its download is under way: the
// relay lets the blob through a chunk's worth at a time, one more for each request, and the rest
// once all 50 have joined. Each starts collecting only when it asks, as a proplet that has just
// subscribed would: all 50 reassemble the module, from one registry download.
BOOST_AUTO_TEST_CASE(fifty_staggered_requests_share_one_download) {
  Stack s;
  const std::string wasm = random_wasm(1u << 20, 501);
  const std::string digest = sha256_digest(wasm);
  s.pusher.push_wasm("shared", "v1", wasm);
  FaultRelay relay({.target_port = s.registry.port(), .budget = 8 * kChunk + 4096});
  s.start_proxy(
      {"PROXY_REGISTRY_URL=http://" + relay.host(), "PROXY_CHUNK_SIZE=" + std::to_string(kChunk)});
  const std::string app = relay.host() + "/shared:v1";
  auto clients =
      PropletClient::connect_many(s.broker.url(), std::vector<std::string>(50, s.channel));

  // Client i asks once 4 + i chunks are out: each joins further into the stream than the last.
  for (std::size_t i = 0; i < clients.size(); ++i) {
    if (i > 0) BOOST_TEST_REQUIRE(clients[0]->wait_message_count(4 + i, kTimeout));
    clients[i]->forget(app);  // what arrived before its request is not its own
    clients[i]->request(app);
    relay.allow(kChunk);
  }
  BOOST_TEST_REQUIRE(wait_joins(*s.proxy, 49));
  relay.open();
  for (std::size_t i = 0; i < clients.size(); ++i) {
    BOOST_TEST_CONTEXT("client " << i) {
      BOOST_TEST((clients[i]->wait_complete(app, kTimeout) == std::optional<std::string>(wasm)));
      const auto status = clients[i]->wait_status(app, kTimeout);
      BOOST_TEST_REQUIRE(status.has_value());
      BOOST_TEST(status->value("state", "") == "completed");
    }
  }
  BOOST_TEST(s.registry.count_requests("GET", "/blobs/" + digest) == 1);
  BOOST_TEST(s.proxy->wait_log("transfer completed app_name=" + app, kTimeout));
  const std::string log = s.proxy->log();
  BOOST_TEST(log.find("requests=50 ") != std::string::npos,
             log.substr(log.rfind("transfer completed")));
  // The late ones had the start of the stream resent: the transfer wrapped around.
  BOOST_TEST(log.find("resent=0 ") == std::string::npos);
  BOOST_TEST(clients.back()->snapshot(app).duplicates < 64u);
  BOOST_TEST_MESSAGE(log.substr(log.rfind("transfer completed")));
}

// A request naming chunks gets exactly those, framed as in a full transfer; with no copy of the
// module at hand, each comes from a ranged GET of just its bytes.
BOOST_AUTO_TEST_CASE(a_resend_request_gets_just_its_chunks_by_ranged_gets) {
  Stack s;
  const std::string wasm = random_wasm(10 * kChunk + 123, 502);  // 11 chunks, the last short
  s.pusher.push_wasm("resend", "v1", wasm);
  s.start_proxy({"PROXY_CHUNK_SIZE=" + std::to_string(kChunk)});
  PropletClient client(s.broker.url(), s.channel);
  const std::string app = s.ref("resend", "v1");

  client.publish_raw(client.request_topic(), resend_request(app, "[9, 3, 10, 3]"));
  const auto status = client.wait_status(app, kTimeout);
  BOOST_TEST_REQUIRE(status.has_value());
  BOOST_TEST(status->value("state", "") == "completed");
  BOOST_TEST(status->value("verified", true) == false);  // ranged bytes: the proplet checks
  const auto a = client.snapshot(app);
  BOOST_TEST(a.rejected == 0u);
  BOOST_TEST(a.received == 3u);
  BOOST_TEST(a.total_chunks == 11u);
  BOOST_TEST(a.digest == sha256_digest(wasm));
  BOOST_TEST(a.size == wasm.size());
  BOOST_TEST_REQUIRE(a.chunks.size() == 3u);
  for (const std::uint64_t idx : {3, 9, 10}) {
    BOOST_TEST_CONTEXT("chunk " << idx) {
      BOOST_TEST_REQUIRE(a.chunks.count(idx) == 1u);
      BOOST_TEST(a.chunks.at(idx) == chunk_of(wasm, idx));
    }
  }
  BOOST_TEST(ranged_gets(s.registry) == 3);
  BOOST_TEST(s.registry.count_requests("GET", "/blobs/") == 3);  // and no whole download
}

BOOST_AUTO_TEST_CASE(resend_requests_that_cannot_be_met_say_why) {
  Stack s;
  const std::string wasm = random_wasm(3 * kChunk, 503);
  s.pusher.push_wasm("few", "v1", wasm);
  s.start_proxy({"PROXY_CHUNK_SIZE=" + std::to_string(kChunk)});
  PropletClient client(s.broker.url(), s.channel);
  const std::string app = s.ref("few", "v1");

  client.publish_raw(client.request_topic(), resend_request(app, "[1, 3]"));
  auto status = client.wait_status(app, kTimeout);
  BOOST_TEST_REQUIRE(status.has_value());
  BOOST_TEST(status->value("state", "") == "failed");
  BOOST_TEST(status->at("error").value("code", "") == "invalid_request");
  BOOST_TEST(status->at("error").value("message", "").find("chunk 3 does not exist") !=
             std::string::npos);

  // Pinned to another version of the module than the tag now names.
  client.forget(app);
  const std::string other = "sha256:" + std::string(64, 'e');
  client.publish_raw(client.request_topic(), resend_request(app, "[0]", other));
  status = client.wait_status(app, kTimeout);
  BOOST_TEST_REQUIRE(status.has_value());
  BOOST_TEST(status->at("error").value("code", "") == "digest_mismatch");
  BOOST_TEST(status->at("error").value("message", "").find(other) != std::string::npos);
  BOOST_TEST(client.snapshot(app).received == 0u);

  // A malformed list is refused before anything is fetched; the proxy keeps serving.
  client.forget(app);
  client.publish_raw(client.request_topic(), resend_request(app, "[-1]"));
  status = client.wait_status(app, kTimeout);
  BOOST_TEST_REQUIRE(status.has_value());
  BOOST_TEST(status->at("error").value("code", "") == "invalid_request");
  client.forget(app);
  client.publish_raw(client.request_topic(), resend_request(app, "[2]", sha256_digest(wasm)));
  status = client.wait_status(app, kTimeout);
  BOOST_TEST_REQUIRE(status.has_value());
  BOOST_TEST(status->value("state", "") == "completed");
  BOOST_TEST(client.snapshot(app).chunks.at(2) == chunk_of(wasm, 2));
}

// A module unpacked from a tar layer is on disk already: its chunks are read from there, and
// verified (the unpacking checked the layer and hashed the module).
BOOST_AUTO_TEST_CASE(a_resend_of_a_packed_module_reads_the_unpacked_copy) {
  Stack s;
  const std::string wasm = random_wasm(4 * kChunk + 7, 504);
  s.pusher.push_wasm("packed", "v1", make_tar({{"app.wasm", wasm}}, Compression::gzip),
                     "application/vnd.oci.image.layer.v1.tar+gzip");
  s.start_proxy({"PROXY_CHUNK_SIZE=" + std::to_string(kChunk)});
  PropletClient client(s.broker.url(), s.channel);
  const std::string app = s.ref("packed", "v1");
  client.publish_raw(client.request_topic(), resend_request(app, "[4, 0]"));
  const auto status = client.wait_status(app, kTimeout);
  BOOST_TEST_REQUIRE(status.has_value());
  BOOST_TEST(status->value("state", "") == "completed");
  BOOST_TEST(!status->contains("verified"));
  const auto a = client.snapshot(app);
  BOOST_TEST(a.received == 2u);
  BOOST_TEST(a.digest == sha256_digest(wasm));
  BOOST_TEST(a.chunks.at(0) == chunk_of(wasm, 0));
  BOOST_TEST(a.chunks.at(4) == chunk_of(wasm, 4));
  BOOST_TEST(ranged_gets(s.registry) == 0);
}

// A resend request for an app being sent on its channel joins that transfer: the chunks it names
// that were already sent come again after the stream, from the spool; no ranged GET.
BOOST_AUTO_TEST_CASE(a_resend_request_joins_a_transfer_under_way) {
  Stack s;
  const std::string wasm = random_wasm(64 * kChunk, 505);
  s.pusher.push_wasm("running", "v1", wasm);
  FaultRelay relay({.target_port = s.registry.port(), .budget = 10 * kChunk + 4096});
  s.start_proxy(
      {"PROXY_REGISTRY_URL=http://" + relay.host(), "PROXY_CHUNK_SIZE=" + std::to_string(kChunk)});
  PropletClient client(s.broker.url(), s.channel);
  const std::string app = relay.host() + "/running:v1";
  client.request(app);
  // Once chunk 5 is out, ask for it and for chunk 60 (still to come) again.
  BOOST_TEST_REQUIRE(client.wait_message_count(6, kTimeout));
  client.publish_raw(client.request_topic(), resend_request(app, "[5, 60]"));
  BOOST_TEST_REQUIRE(wait_joins(*s.proxy, 1));
  relay.open();
  BOOST_TEST((client.wait_complete(app, kTimeout) == std::optional<std::string>(wasm)));
  BOOST_TEST_REQUIRE(client.wait_status(app, kTimeout).has_value());  // after the resent chunk
  BOOST_TEST(s.proxy->wait_log("transfer completed app_name=" + app, kTimeout));
  const auto a = client.snapshot(app);
  BOOST_TEST(a.received == 65u);  // chunk 5 twice; 60 was still to come, so once
  BOOST_TEST(a.arrival_order.back() == 5u);
  BOOST_TEST(ranged_gets(s.registry) == 0);
  BOOST_TEST(s.registry.count_requests("GET", "/blobs/") == 1);
  BOOST_TEST(s.proxy->log().find("requests=2 resent=1 ") != std::string::npos);
}
