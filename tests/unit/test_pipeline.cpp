// The whole Pipeline in-process: the real flow graph and stages, with a registry and a broker in
// memory (tests/unit/fake_*). What is asserted is what a proplet or an operator sees: the messages
// published (topics, JSON fields), registry requests, the public metrics, Pipeline's own API.
#define BOOST_TEST_MODULE pipeline
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "nodes/clients/mqtt/topics.hpp"
#include "nodes/clients/oci/http_io.hpp"
#include "nodes/common/log.hpp"
#include "nodes/model/chunk.hpp"
#include "nodes/model/metrics.hpp"
#include "nodes/store/cache.hpp"
#include "pipeline/graph.hpp"
#include "tests/support/process.hpp"
#include "tests/unit/fake_broker.hpp"
#include "tests/unit/fake_registry.hpp"

using namespace std::chrono_literals;
using json = nlohmann::json;
using pp::test::FakeBroker;
using pp::test::FakeRegistry;

namespace {

// A deadline for what should take milliseconds: reached only when the pipeline is broken, so it
// can be generous for a loaded machine without making a passing run slower.
constexpr auto kDeadline = 10s;
const std::string kRegistry = "registry.test";

// Quiet unless asked for (PP_TEST_LOG=debug): a failed transfer is expected output here.
struct Logging {
  Logging() {
    const char* level = std::getenv("PP_TEST_LOG");
    pp::log::setup(level ? level : "off", false);
  }
};
BOOST_TEST_GLOBAL_FIXTURE(Logging);

// A module: the wasm magic, then bytes that differ from any other module's.
std::string wasm_module(std::size_t size, unsigned seed) {
  std::string bytes("\0asm\1\0\0\0", 8);
  std::mt19937 random(seed);
  while (bytes.size() < size)
    bytes.push_back(static_cast<char>(random() & 0xff));
  bytes.resize(size);
  return bytes;
}

struct Setup {
  std::size_t chunk_size = 1000;
  std::size_t window = 4;
  bool cache = false;
};

// Every option the pipeline takes, set here, so that a test's behaviour does not shift with the
// product's defaults.
pp::PipelineOptions pipeline_options(const Setup& s, const std::string& spool_dir,
                                     pp::BlobCache* cache) {
  pp::PipelineOptions o;
  o.chunk_size = s.chunk_size;
  o.window = s.window;
  o.max_transfers = 8;
  o.queue_limit = 64;
  o.max_request_bytes = 64 * 1024;
  o.intake_limit = 256;
  o.resume_delay = 10ms;
  o.broker_queue = 1020;
  o.rate_limit = 0;
  o.rate_burst = 100;
  o.allow = pp::oci::RegistryAllowList(kRegistry);
  o.max_blob_size = 16 * 1024 * 1024;
  o.spool_dir = spool_dir;
  o.cache = cache;
  o.qos = 1;
  o.status_topic = pp::mqtt::StatusTopic();  // the scheme's own status topic
  return o;
}

std::unique_ptr<pp::BlobCache> open_cache(const pp::test::TempDir& dir, const Setup& s) {
  if (!s.cache) return nullptr;
  auto cache = pp::BlobCache::open({dir.path() + "/cache", 64 * 1024 * 1024, 60s, "wasi/wasm"});
  if (!cache) throw std::runtime_error(cache.error().message);
  return std::move(cache).value();
}

// Polls what has no notification of its own (registry requests, metrics).
template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds timeout = kDeadline) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

bool is_final(const json& status) {
  const auto state = status.value("state", "");
  return state == "completed" || state == "failed";
}

// The published messages of one app on one channel's chunk or status topic, parsed.
std::vector<json> of_app(const std::vector<FakeBroker::Message>& messages, const std::string& topic,
                         const std::string& app) {
  std::vector<json> out;
  for (const auto& m : messages) {
    if (m.topic != topic) continue;
    auto j = json::parse(m.payload);
    if (j.value("app_name", "") == app) out.push_back(std::move(j));
  }
  return out;
}

std::string decoded(const json& chunk) {
  auto bytes = pp::base64_decode(chunk.at("data").get<std::string>());
  BOOST_TEST_REQUIRE(bytes.has_value());
  return *bytes;
}

// What a proplet assembles: the first copy of each chunk index, in index order; empty unless it
// has every chunk.
std::string assemble(const std::vector<json>& chunks) {
  std::map<std::uint64_t, std::string> by_idx;
  std::uint64_t total = 0;
  for (const auto& c : chunks) {
    total = c.at("total_chunks").get<std::uint64_t>();
    by_idx.try_emplace(c.at("chunk_idx").get<std::uint64_t>(), decoded(c));
  }
  if (by_idx.size() != total) return {};
  std::string out;
  for (const auto& [idx, bytes] : by_idx)
    out += bytes;
  return out;
}

// The pipeline and its two fakes, torn down in the order the product's main() does: the pipeline
// is stopped and idle before the I/O thread and the cache go.
class Harness {
 public:
  explicit Harness(Setup s = {})
      : cache_(open_cache(dir_, s)),
        registry(io_),
        pipeline(pipeline_options(s, dir_.path(), cache_.get()), registry, broker, metrics) {
    broker.connect();  // as the MQTT client's first connection does
  }

  ~Harness() {
    if (pipeline.active() != 0) {
      pipeline.cancel_all(pp::Error{pp::errc::shutting_down, "the test is over"});
    }
    idle();
    // Status messages are not part of the graph's work: their callbacks may still be due.
    if (!broker.wait_acknowledged(kDeadline)) {
      std::fprintf(stderr, "test_pipeline: publishes still unacknowledged at teardown\n");
      std::abort();
    }
    // What the graph left on the I/O thread (a credit handed to a finished download) runs before
    // the pipeline it points into is destroyed.
    std::promise<void> drained;
    io_.post([&] { drained.set_value(); });
    drained.get_future().wait();
  }
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  // Submits a request as the MQTT client hands one over: from another thread than the graph's.
  void request(const std::string& channel, const std::string& app) {
    pipeline.submit(pp::mqtt::Topics::request({"", channel}), json{{"app_name", app}}.dump());
  }

  std::vector<json> chunks(const std::string& channel, const std::string& app) const {
    return of_app(broker.messages(), pp::mqtt::Topics::server({"", channel}), app);
  }
  std::vector<json> statuses(const std::string& channel, const std::string& app) const {
    return of_app(broker.messages(), pp::mqtt::Topics::status({"", channel}), app);
  }

  // The final status of `app` on `channel` (waited for); {} when none came.
  json final_status(const std::string& channel, const std::string& app) const {
    const std::string topic = pp::mqtt::Topics::status({"", channel});
    json found = json::object();
    broker.wait_for(
        [&](const std::vector<FakeBroker::Message>& messages) {
          for (const auto& status : of_app(messages, topic, app)) {
            if (is_final(status)) {
              found = status;
              return true;
            }
          }
          return false;
        },
        kDeadline);
    return found;
  }

  // wait_idle(), with a deadline: a pipeline that never becomes idle fails the run instead of
  // hanging it.
  void idle() {
    auto done = std::async(std::launch::async, [this] { pipeline.wait_idle(); });
    if (done.wait_for(kDeadline) != std::future_status::ready) {
      std::fprintf(stderr, "test_pipeline: wait_idle() did not return within the deadline\n");
      std::abort();
    }
  }

  pp::BlobCache& cache() { return *cache_; }
  std::string cached_path(const std::string& digest) const {
    return dir_.path() + "/cache/blobs/sha256/" + digest.substr(7);
  }

 private:
  pp::test::TempDir dir_{"pp-pipeline-"};
  std::unique_ptr<pp::BlobCache> cache_;
  pp::oci::HttpIo io_;

 public:
  FakeRegistry registry;
  FakeBroker broker;
  pp::Metrics metrics;
  pp::Pipeline pipeline;
};

const std::string kChannel = "ch-1";

std::string app(const std::string& repository) {
  return kRegistry + "/" + repository + ":v1";
}

std::vector<std::uint64_t> indices(const std::vector<json>& chunks) {
  std::vector<std::uint64_t> out;
  for (const auto& c : chunks)
    out.push_back(c.at("chunk_idx").get<std::uint64_t>());
  return out;
}

std::vector<std::uint64_t> iota(std::uint64_t n) {
  std::vector<std::uint64_t> out;
  for (std::uint64_t i = 0; i < n; ++i)
    out.push_back(i);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_module_arrives_whole_and_in_chunk_order) {
  Harness h({.chunk_size = 1000, .window = 2});
  // Slices that straddle chunk boundaries, so that the cutter carries bytes across them.
  h.registry.set_slice(700);
  const std::string module = wasm_module(5500, 1);
  const auto blob = h.registry.push("hello", "v1", module);
  h.request(kChannel, app("hello"));

  const json status = h.final_status(kChannel, app("hello"));
  BOOST_TEST_REQUIRE(status.value("state", "") == "completed", status.dump());
  BOOST_TEST(status.at("digest") == blob.digest);
  BOOST_TEST(status.at("size") == module.size());
  BOOST_TEST(status.at("total_chunks") == 6);
  BOOST_TEST(status.at("cached") == false);
  h.idle();

  const auto chunks = h.chunks(kChannel, app("hello"));
  BOOST_TEST(indices(chunks) == iota(6), boost::test_tools::per_element());
  std::string bytes;
  for (const auto& c : chunks) {
    BOOST_TEST(c.at("total_chunks") == 6);
    BOOST_TEST(c.at("digest") == blob.digest);
    BOOST_TEST(c.at("size") == module.size());
    bytes += decoded(c);
  }
  BOOST_TEST((bytes == module));
  for (const auto& m : h.broker.messages())
    BOOST_TEST(m.qos == 1);
  // The requester hears the transfer start and end, the end last of all.
  const auto statuses = h.statuses(kChannel, app("hello"));
  BOOST_TEST_REQUIRE(statuses.size() >= 3u);
  BOOST_TEST(statuses.front().at("state") == "resolving");
  BOOST_TEST(statuses[1].at("state") == "downloading");
  BOOST_TEST(json::parse(h.broker.messages().back().payload) == status);
  BOOST_TEST(h.registry.manifest_gets("hello") == 1u);
  BOOST_TEST(h.registry.blob_gets(blob.digest) == 1u);
  BOOST_TEST(h.pipeline.active() == 0u);
}

BOOST_AUTO_TEST_CASE(requests_for_a_module_being_downloaded_share_its_download) {
  Harness h;
  const std::string module = wasm_module(4200, 2);
  const auto blob = h.registry.push("shared", "v1", module);
  h.registry.hold_blob(blob.digest);
  h.request(kChannel, app("shared"));
  BOOST_TEST_REQUIRE(eventually([&] { return h.registry.blob_gets(blob.digest) == 1; }));
  h.request(kChannel, app("shared"));
  BOOST_TEST_REQUIRE(eventually([&] { return h.metrics.requests_joined.load() == 1; }));
  h.registry.release_blob(blob.digest);

  const json status = h.final_status(kChannel, app("shared"));
  BOOST_TEST_REQUIRE(status.value("state", "") == "completed", status.dump());
  h.idle();
  BOOST_TEST(h.registry.blob_gets(blob.digest) == 1u);
  BOOST_TEST(h.registry.manifest_gets("shared") == 1u);
  // One transfer answered both: one final status, both requests counted as completed, and no
  // chunk twice (the second request came before the first chunk was cut).
  std::size_t finals = 0;
  for (const auto& s : h.statuses(kChannel, app("shared")))
    finals += is_final(s);
  BOOST_TEST(finals == 1u);
  BOOST_TEST(h.metrics.requests_completed.load() == 2u);
  const auto chunks = h.chunks(kChannel, app("shared"));
  BOOST_TEST(indices(chunks) == iota(5), boost::test_tools::per_element());
  BOOST_TEST((assemble(chunks) == module));
}

BOOST_AUTO_TEST_CASE(a_cached_module_is_served_without_the_registry) {
  Harness h({.cache = true});
  const std::string module = wasm_module(3500, 3);
  const auto blob = h.registry.push("cached", "v1", module);
  h.request("first", app("cached"));
  const json first = h.final_status("first", app("cached"));
  BOOST_TEST_REQUIRE(first.value("state", "") == "completed", first.dump());
  BOOST_TEST(first.at("cached") == false);
  h.idle();
  h.cache().flush();  // the store runs on the cache's own thread

  // Another channel, so that its messages are told apart from the first transfer's.
  h.request("second", app("cached"));
  const json second = h.final_status("second", app("cached"));
  BOOST_TEST_REQUIRE(second.value("state", "") == "completed", second.dump());
  BOOST_TEST(second.at("cached") == true);
  BOOST_TEST(second.at("digest") == blob.digest);
  h.idle();
  BOOST_TEST(h.registry.blob_gets(blob.digest) == 1u);
  // Within PROXY_MANIFEST_TTL the tag's resolution is the cache's too.
  BOOST_TEST(h.registry.manifest_gets("cached") == 1u);
  for (const auto& s : h.statuses("second", app("cached"))) {
    BOOST_TEST(s.at("state") != "resolving");
    BOOST_TEST(s.at("state") != "downloading");
  }
  const auto chunks = h.chunks("second", app("cached"));
  BOOST_TEST(indices(chunks) == iota(4), boost::test_tools::per_element());
  BOOST_TEST((assemble(chunks) == module));
}

BOOST_AUTO_TEST_CASE(a_corrupt_cached_module_is_downloaded_again) {
  Harness h({.cache = true});
  const std::string module = wasm_module(4500, 4);
  const auto blob = h.registry.push("damaged", "v1", module);
  h.request("first", app("damaged"));
  BOOST_TEST_REQUIRE(h.final_status("first", app("damaged")).value("state", "") == "completed");
  h.idle();
  h.cache().flush();
  {  // one byte of the last chunk, size kept: only the digest check at the end can tell
    std::fstream f(h.cached_path(blob.digest), std::ios::in | std::ios::out | std::ios::binary);
    BOOST_TEST_REQUIRE(f.good());
    f.seekp(static_cast<std::streamoff>(module.size() - 1));
    f.put(static_cast<char>(module.back() ^ 0x5a));
  }

  h.request("second", app("damaged"));
  const json status = h.final_status("second", app("damaged"));
  BOOST_TEST_REQUIRE(status.value("state", "") == "completed", status.dump());
  BOOST_TEST(status.at("cached") == false);
  BOOST_TEST(status.at("digest") == blob.digest);
  h.idle();
  BOOST_TEST(h.registry.blob_gets(blob.digest) == 2u);
  // The corrupt read was no outcome: one final status, and cache_corrupt never reached the wire.
  std::size_t finals = 0;
  for (const auto& s : h.statuses("second", app("damaged"))) {
    finals += is_final(s);
    BOOST_TEST(s.dump().find("cache_corrupt") == std::string::npos);
  }
  BOOST_TEST(finals == 1u);
  // The cached stream stopped before its damaged last chunk; the download sent every chunk.
  const auto chunks = h.chunks("second", app("damaged"));
  std::vector<std::uint64_t> expected = iota(4);
  for (std::uint64_t idx : iota(5))
    expected.push_back(idx);
  BOOST_TEST(indices(chunks) == expected, boost::test_tools::per_element());
  for (const auto& c : chunks) {
    const auto idx = c.at("chunk_idx").get<std::size_t>();
    BOOST_TEST((decoded(c) == module.substr(idx * 1000, 1000)), "chunk " << idx);
  }
  BOOST_TEST((assemble(chunks) == module));
  // And the cache holds the good copy again.
  h.cache().flush();
  std::ifstream in(h.cached_path(blob.digest), std::ios::binary);
  BOOST_TEST((std::string(std::istreambuf_iterator<char>(in), {}) == module));
}

BOOST_AUTO_TEST_CASE(cancel_all_fails_a_stalled_transfer_and_the_pipeline_goes_idle) {
  Harness h;
  const auto blob = h.registry.push("stalled", "v1", wasm_module(3000, 5));
  h.registry.hold_blob(blob.digest);
  h.request(kChannel, app("stalled"));
  BOOST_TEST_REQUIRE(eventually([&] { return h.registry.blob_gets(blob.digest) == 1; }));
  BOOST_TEST(h.pipeline.active() == 1u);

  h.pipeline.cancel_all(pp::Error{pp::errc::shutting_down, "the proxy is stopping"});
  const json status = h.final_status(kChannel, app("stalled"));
  BOOST_TEST_REQUIRE(status.value("state", "") == "failed", status.dump());
  BOOST_TEST(status.at("error").at("code") == "shutting_down");
  h.idle();
  BOOST_TEST(h.pipeline.active() == 0u);
  BOOST_TEST(h.chunks(kChannel, app("stalled")).empty());
}

BOOST_AUTO_TEST_CASE(concurrent_transfers_share_the_window_in_turns) {
  Harness h({.chunk_size = 1000, .window = 1});
  const std::string a = wasm_module(20'000, 6), b = wasm_module(20'000, 7);
  const auto blob_a = h.registry.push("fair-a", "v1", a);
  const auto blob_b = h.registry.push("fair-b", "v1", b);
  // No chunk ends where a slice does: a download that cuts a chunk asks for the next credit at
  // once, in the same slice, so it is always queued for it before the other's credit comes back.
  h.registry.set_slice(999);
  // Both downloads under way before either sends a byte: the window alone decides the turns.
  h.registry.hold_blob(blob_a.digest);
  h.registry.hold_blob(blob_b.digest);
  h.request(kChannel, app("fair-a"));
  h.request(kChannel, app("fair-b"));
  BOOST_TEST_REQUIRE(eventually([&] {
    return h.registry.blob_gets(blob_a.digest) == 1 && h.registry.blob_gets(blob_b.digest) == 1;
  }));
  h.registry.release_blob(blob_a.digest);
  h.registry.release_blob(blob_b.digest);

  BOOST_TEST_REQUIRE(h.final_status(kChannel, app("fair-a")).value("state", "") == "completed");
  BOOST_TEST_REQUIRE(h.final_status(kChannel, app("fair-b")).value("state", "") == "completed");
  h.idle();
  // The order on the chunk topic: which app each chunk belongs to.
  std::string turns;
  for (const auto& m : h.broker.messages()) {
    if (m.topic != pp::mqtt::Topics::server({"", kChannel})) continue;
    turns += json::parse(m.payload).at("app_name") == app("fair-a") ? 'a' : 'b';
  }
  BOOST_TEST_MESSAGE("chunk order: " << turns);
  BOOST_TEST_REQUIRE(turns.size() == 40u);
  // Each started before the other was done, and neither ran ahead: a released credit goes to the
  // longest waiter.
  BOOST_TEST(turns.find('b') < turns.rfind('a'));
  BOOST_TEST(turns.find('a') < turns.rfind('b'));
  std::size_t longest_run = 0;
  for (std::size_t i = 0, run = 0; i < turns.size(); ++i) {
    run = i > 0 && turns[i] == turns[i - 1] ? run + 1 : 1;
    longest_run = std::max(longest_run, run);
  }
  BOOST_TEST(longest_run <= 3u, turns);
  BOOST_TEST((assemble(h.chunks(kChannel, app("fair-a"))) == a));
  BOOST_TEST((assemble(h.chunks(kChannel, app("fair-b"))) == b));
}

namespace {

struct RegistryFault {
  std::string name;
  std::function<void(FakeRegistry&, const pp::oci::Descriptor&)> inject;
  std::string code;
  std::vector<std::string> states;  // the status messages, in order
};

}  // namespace

BOOST_AUTO_TEST_CASE(a_registry_failure_is_one_failed_status_and_nothing_else) {
  const std::vector<RegistryFault> faults = {
      {"no such tag", [](FakeRegistry&, const auto&) {}, "not_found", {"resolving", "failed"}},
      {"manifest request unanswered",
       [](FakeRegistry& r, const auto&) {
         r.fail_manifests("faulty", {pp::errc::registry_unavailable, "connection refused"});
       },
       "registry_unavailable",
       {"resolving", "failed"}},
      {"blob request unanswered",
       [](FakeRegistry& r, const pp::oci::Descriptor& blob) {
         r.fail_blob(blob.digest, {pp::errc::registry_unavailable, "connection reset"});
       },
       "registry_unavailable",
       {"resolving", "downloading", "failed"}},
  };
  for (const auto& fault : faults) {
    BOOST_TEST_CONTEXT(fault.name) {
      Harness h;
      const auto blob = h.registry.push("faulty", "v1", wasm_module(2500, 8));
      fault.inject(h.registry, blob);
      const std::string requested =
          fault.code == "not_found" ? kRegistry + "/faulty:v2" : app("faulty");
      h.request(kChannel, requested);
      const json status = h.final_status(kChannel, requested);
      BOOST_TEST_REQUIRE(status.value("state", "") == "failed", status.dump());
      BOOST_TEST(status.at("error").at("code") == fault.code);
      h.idle();
      std::vector<std::string> states;
      for (const auto& m : h.broker.messages()) {
        BOOST_TEST(m.topic == pp::mqtt::Topics::status({"", kChannel}));
        states.push_back(json::parse(m.payload).value("state", ""));
      }
      BOOST_TEST(states == fault.states, boost::test_tools::per_element());
      BOOST_TEST(h.pipeline.active() == 0u);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_module_that_fails_its_digest_never_sends_its_last_chunk) {
  Harness h;
  const std::string module = wasm_module(3500, 9);
  const auto blob = h.registry.push("tampered", "v1", module);
  h.registry.corrupt_blob(blob.digest);
  h.request(kChannel, app("tampered"));
  const json status = h.final_status(kChannel, app("tampered"));
  BOOST_TEST_REQUIRE(status.value("state", "") == "failed", status.dump());
  BOOST_TEST(status.at("error").at("code") == "digest_mismatch");
  h.idle();
  // The chunks before the last went out (a prefix the proplet cannot complete), the last did not.
  BOOST_TEST(indices(h.chunks(kChannel, app("tampered"))) == iota(3),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_transfer_survives_the_broker_connection_going_and_coming_back) {
  Harness h({.chunk_size = 1000, .window = 2});
  const std::string module = wasm_module(30'000, 10);
  const auto blob = h.registry.push("resilient", "v1", module);
  h.request(kChannel, app("resilient"));
  const std::string server = pp::mqtt::Topics::server({"", kChannel});
  const auto chunks_seen = [&](std::size_t n) {
    return [&, n](const std::vector<FakeBroker::Message>& messages) {
      std::size_t seen = 0;
      for (const auto& m : messages)
        seen += m.topic == server;
      return seen >= n;
    };
  };
  BOOST_TEST_REQUIRE(h.broker.wait_for(chunks_seen(5), kDeadline));
  h.broker.disconnect();
  // The transfer stalls on the lost connection: its chunks park (in flight when it went, or cut
  // since), each holding its window credit, until the window is full of them.
  BOOST_TEST_REQUIRE(
      eventually([&] { return h.pipeline.window_in_use() == h.pipeline.window_capacity(); }));
  const std::size_t before = h.chunks(kChannel, app("resilient")).size();
  h.broker.connect();

  const json status = h.final_status(kChannel, app("resilient"));
  BOOST_TEST_REQUIRE(status.value("state", "") == "completed", status.dump());
  h.idle();
  const auto chunks = h.chunks(kChannel, app("resilient"));
  BOOST_TEST(before < 30u);  // the loss came mid-transfer
  BOOST_TEST((assemble(chunks) == module));
  // Each index arrives in order the first time (what was lost is published again in cut order).
  std::vector<std::uint64_t> first_copies;
  for (const std::uint64_t idx : indices(chunks)) {
    if (std::find(first_copies.begin(), first_copies.end(), idx) == first_copies.end()) {
      first_copies.push_back(idx);
    }
  }
  BOOST_TEST(first_copies == iota(30), boost::test_tools::per_element());
  BOOST_TEST(h.registry.blob_gets(blob.digest) == 1u);
}

BOOST_AUTO_TEST_CASE(a_resend_without_a_cache_fetches_just_its_chunks_by_range) {
  Harness h;
  const std::string module = wasm_module(4500, 11);
  const auto blob = h.registry.push("resend", "v1", module);
  h.pipeline.submit(pp::mqtt::Topics::request({"", kChannel}),
                    json{{"app_name", app("resend")}, {"chunks", {3, 1}}}.dump());
  const json status = h.final_status(kChannel, app("resend"));
  BOOST_TEST_REQUIRE(status.value("state", "") == "completed", status.dump());
  // Parts of a blob cannot be checked against its digest: the requester is told so.
  BOOST_TEST(status.at("verified") == false);
  h.idle();
  const auto chunks = h.chunks(kChannel, app("resend"));
  BOOST_TEST(indices(chunks) == (std::vector<std::uint64_t>{1, 3}),
             boost::test_tools::per_element());
  for (const auto& c : chunks) {
    const auto idx = c.at("chunk_idx").get<std::size_t>();
    BOOST_TEST(c.at("total_chunks") == 5);
    BOOST_TEST((decoded(c) == module.substr(idx * 1000, 1000)), "chunk " << idx);
  }
  BOOST_TEST(h.registry.blob_gets(blob.digest) == 2u);  // one ranged GET per chunk
}
