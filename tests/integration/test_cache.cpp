// The module cache (PROXY_CACHE_DIR) against the real registry and broker: the registry sees each
// module once, a damaged or half-written file is never served, the size bound holds, and the cache
// keeps serving while the registry is down.
#define BOOST_TEST_MODULE cache
#include <sys/stat.h>

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/integration/stack.hpp"
#include "tests/support/fault_relay.hpp"
#include "tests/support/metrics.hpp"

using namespace pp::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr auto kTimeout = 60s;

std::string cached_path(const TempDir& cache, const std::string& digest) {
  return cache.path() + "/blobs/sha256/" + digest.substr(7);
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Whether the cache holds exactly `bytes` under `digest` within a few seconds: a module is stored
// on the cache's own thread once its digest matched, shortly after (not necessarily before) the
// transfer's last chunk leaves.
bool wait_cached(const TempDir& cache, const std::string& digest, const std::string& bytes) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (file_bytes(cached_path(cache, digest)) != bytes &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  return file_bytes(cached_path(cache, digest)) == bytes;
}

// Flips one byte of a file, keeping its size.
void damage(const std::string& path, std::uint64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  BOOST_TEST_REQUIRE(f.good(), path);
  f.seekg(static_cast<std::streamoff>(offset));
  const char c = static_cast<char>(f.get());
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(static_cast<char>(c ^ 0x5a));
}

// Regular files under the cache's blobs/: what could be served.
std::vector<fs::path> servable(const TempDir& cache) {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(cache.path() + "/blobs"))
    if (e.is_regular_file()) out.push_back(e.path());
  return out;
}

std::uint64_t cached_bytes(const TempDir& cache) {
  std::uint64_t total = 0;
  for (const auto& p : servable(cache))
    total += fs::file_size(p);
  return total;
}

int blob_gets(const Registry& registry, const std::string& digest) {
  return registry.count_requests("GET", "/blobs/" + digest);
}

// Asks for `app` and returns its final status message, expected to be a failure.
nlohmann::json fetch_failure(PropletClient& client, const std::string& app) {
  client.forget(app);
  client.request(app);
  const auto status = client.wait_status(app, kTimeout);
  BOOST_TEST_REQUIRE(status.has_value(), "no final status for " << app);
  BOOST_TEST(status->value("state", "") == "failed", status->dump());
  return *status;
}

}  // namespace

// The second request for an app is answered from the cache: no blob GET, and within the TTL no
// manifest GET either; a resend reads its chunks from the cached module, not with ranged GETs.
BOOST_AUTO_TEST_CASE(the_second_request_makes_no_blob_get) {
  Stack s;
  TempDir cache("pp-cache-");
  const std::string wasm = random_wasm(250'000, 701);
  const std::string digest = sha256_digest(wasm);
  s.pusher.push_wasm("app", "v1", wasm);
  s.start_proxy({"PROXY_CACHE_DIR=" + cache.path(), "PROXY_CHUNK_SIZE=100000"});
  PropletClient client(s.broker.url(), s.channel);
  const std::string app = s.ref("app", "v1");

  BOOST_TEST(fetch(client, app, wasm).value("cached", true) == false);
  BOOST_TEST(blob_gets(s.registry, digest) == 1);
  const int manifests = s.registry.count_requests("GET", "/manifests/");
  BOOST_TEST(wait_cached(cache, digest, wasm));
  struct stat st {};
  BOOST_TEST_REQUIRE(::stat(cached_path(cache, digest).c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0600u);

  BOOST_TEST(fetch(client, app, wasm).value("cached", false) == true);
  BOOST_TEST(blob_gets(s.registry, digest) == 1);
  BOOST_TEST(s.registry.count_requests("GET", "/manifests/") == manifests);

  client.forget(app);
  client.publish_raw(client.request_topic(), R"({"app_name":")" + app + R"(","chunks":[0,2]})");
  const auto status = client.wait_status(app, kTimeout);
  BOOST_TEST_REQUIRE(status.has_value());
  BOOST_TEST(status->value("state", "") == "completed");
  BOOST_TEST(!status->contains("verified"), status->dump());  // from the verified file
  const auto a = client.snapshot(app);
  BOOST_TEST(a.distinct == 2u);
  BOOST_TEST((a.chunks.count(0) == 1 && a.chunks.count(2) == 1));
  BOOST_TEST(a.chunks.at(2) == wasm.substr(200'000));
  BOOST_TEST(blob_gets(s.registry, digest) == 1);  // no ranged GET either

  BOOST_TEST(metric(*s.proxy, "propeller_proxy_cache_misses_total") == 1u);
  BOOST_TEST(metric(*s.proxy, "propeller_proxy_cache_hits_total") == 2u);
  BOOST_TEST(metric(*s.proxy, "propeller_proxy_cache_bytes") == wasm.size());
}

// A file damaged while no proxy ran is caught when it is first read (hashed whole before any chunk
// leaves): removed, downloaded again, and stored again.
BOOST_AUTO_TEST_CASE(a_file_damaged_between_runs_is_replaced) {
  Stack s;
  TempDir cache("pp-cache-");
  const std::string wasm = random_wasm(50'000, 702);
  const std::string digest = sha256_digest(wasm);
  s.pusher.push_wasm("app", "v1", wasm);
  const std::vector<std::string> env = {"PROXY_CACHE_DIR=" + cache.path(),
                                        "PROXY_CHUNK_SIZE=10000"};
  s.start_proxy(env);
  const std::string app = s.ref("app", "v1");
  {
    PropletClient client(s.broker.url(), s.channel);
    fetch(client, app, wasm);
  }
  s.stop_proxy();
  damage(cached_path(cache, digest), 12'345);

  s.start_proxy(env);
  PropletClient client(s.broker.url(), s.channel);
  const auto status = fetch(client, app, wasm);
  BOOST_TEST(status.value("cached", true) == false);
  const auto a = client.snapshot(app);
  BOOST_TEST(a.duplicates == 0u);  // nothing of the damaged file was sent
  BOOST_TEST(s.proxy->wait_log("cached module is damaged; removing it", kTimeout));
  BOOST_TEST(blob_gets(s.registry, digest) == 2);
  BOOST_TEST(wait_cached(cache, digest, wasm));
}

// A file damaged while the proxy runs (after it was checked) is caught on the way out: the last
// chunk is withheld, the file removed, and the request answered again from the registry.
BOOST_AUTO_TEST_CASE(a_file_damaged_while_serving_is_never_reported_complete) {
  Stack s;
  TempDir cache("pp-cache-");
  const std::string wasm = random_wasm(5000, 703);
  const std::string digest = sha256_digest(wasm);
  s.pusher.push_wasm("app", "v1", wasm);
  s.start_proxy({"PROXY_CACHE_DIR=" + cache.path(), "PROXY_CHUNK_SIZE=1000"});
  PropletClient client(s.broker.url(), s.channel);
  const std::string app = s.ref("app", "v1");
  fetch(client, app, wasm);
  BOOST_TEST_REQUIRE(wait_cached(cache, digest, wasm));
  damage(cached_path(cache, digest), wasm.size() - 1);  // in the last chunk

  const auto status = fetch(client, app, wasm);
  BOOST_TEST(status.value("cached", true) == false);
  BOOST_TEST(s.proxy->wait_log("cached module was corrupt; downloading it again", kTimeout));
  // The damaged last chunk never left: the first stream stopped before it, the second sent all.
  const auto a = client.snapshot(app);
  BOOST_TEST(a.duplicates == 4u);
  BOOST_TEST(blob_gets(s.registry, digest) == 2);
  BOOST_TEST(wait_cached(cache, digest, wasm));
  // Exactly one final status: the corrupt read was not an outcome.
  std::size_t finals = 0;
  for (const auto& m : client.status_messages(app))
    finals += m.value("state", "") == "completed" || m.value("state", "") == "failed";
  BOOST_TEST(finals == 1u);
}

// The transfer that answers a request again after a corrupt cached copy queues for a transfer
// slot like any other: propeller_proxy_queue_depth counts exactly the requests waiting, after such
// a retry as before it.
BOOST_AUTO_TEST_CASE(queue_depth_stays_exact_after_a_corrupt_cache_retry) {
  Stack s;
  TempDir cache("pp-cache-");
  const std::string small = random_wasm(5000, 705), large = random_wasm(400'000, 706);
  s.pusher.push_wasm("small", "v1", small);
  s.pusher.push_wasm("large", "v1", large);
  s.pusher.push_wasm("queued", "v1", random_wasm(1000, 707));
  // Enough for the small module twice, not for the large one: its transfer holds the one slot.
  FaultRelay relay({.target_port = s.registry.port(), .budget = 100'000});
  s.start_proxy({"PROXY_CACHE_DIR=" + cache.path(), "PROXY_REGISTRY_URL=http://" + relay.host(),
                 "PROXY_CHUNK_SIZE=1000", "PROXY_MAX_TRANSFERS=1"});
  PropletClient client(s.broker.url(), s.channel);
  const auto ref = [&](const std::string& repo) { return relay.host() + "/" + repo + ":v1"; };
  fetch(client, ref("small"), small);
  BOOST_TEST_REQUIRE(wait_cached(cache, sha256_digest(small), small));
  damage(cached_path(cache, sha256_digest(small)), small.size() - 1);
  fetch(client, ref("small"), small);
  BOOST_TEST_REQUIRE(s.proxy->wait_log("cached module was corrupt; downloading it again", 5s));

  client.request(ref("large"));
  BOOST_TEST_REQUIRE(client.wait_message_count(client.message_count() + 1, kTimeout));
  client.request(ref("queued"));
  const auto deadline = std::chrono::steady_clock::now() + kTimeout;
  while (metric(*s.proxy, "propeller_proxy_queue_depth") != 1 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  BOOST_TEST(metric(*s.proxy, "propeller_proxy_queue_depth") == 1u);
  relay.open();
  BOOST_TEST((client.wait_complete(ref("large"), kTimeout) == std::optional<std::string>(large)));
  BOOST_TEST(client.wait_status(ref("queued"), kTimeout).has_value());
  BOOST_TEST(metric(*s.proxy, "propeller_proxy_queue_depth") == 0u);
}

// 20 modules through a cache bounded at five of them: the bound holds throughout, the least
// recently used go first, an evicted module is downloaded again, and what its tag resolved to goes
// with it.
BOOST_AUTO_TEST_CASE(eviction_keeps_the_size_bound) {
  Stack s;
  TempDir cache("pp-cache-");
  constexpr std::size_t kSize = 10'000, kKept = 5, kModules = 20;
  std::vector<std::string> modules;
  for (std::size_t i = 0; i < kModules; ++i) {
    modules.push_back(random_wasm(kSize, 710 + i));
    s.pusher.push_wasm("m" + std::to_string(i), "v1", modules.back());
  }
  s.start_proxy({"PROXY_CACHE_DIR=" + cache.path(),
                 "PROXY_CACHE_MAX_BYTES=" + std::to_string(kKept * kSize)});
  PropletClient client(s.broker.url(), s.channel);
  for (std::size_t i = 0; i < kModules; ++i) {
    BOOST_TEST_CONTEXT("module " << i) {
      fetch(client, s.ref("m" + std::to_string(i), "v1"), modules[i]);
      BOOST_TEST(cached_bytes(cache) <= kKept * kSize);
    }
    if (i == 2) {  // used again: m0 becomes the most recent of the first three
      fetch(client, s.ref("m0", "v1"), modules[0]);
    }
  }
  // The last store may still be under way (its room made, its module not yet linked).
  BOOST_TEST(wait_cached(cache, sha256_digest(modules.back()), modules.back()));
  BOOST_TEST(servable(cache).size() == kKept);
  BOOST_TEST(metric(*s.proxy, "propeller_proxy_cache_evictions_total") == kModules - kKept);
  BOOST_TEST(metric(*s.proxy, "propeller_proxy_cache_bytes") == kKept * kSize);
  BOOST_TEST(metric(*s.proxy, "propeller_proxy_cache_modules") == kKept);
  // What the tags resolved to (two records each: the tag and its manifest's digest) went with the
  // evicted modules.
  BOOST_TEST(metric(*s.proxy, "propeller_proxy_cache_records") == 2 * kKept);
  std::size_t records = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(cache.path() + "/refs"))
    ++records;
  BOOST_TEST(records == 2 * kKept);
  for (std::size_t i = kModules - kKept; i < kModules; ++i)
    BOOST_TEST(fs::exists(cached_path(cache, sha256_digest(modules[i]))), "module " << i);
  // The first one was evicted long ago: the registry is asked again.
  BOOST_TEST(fetch(client, s.ref("m1", "v1"), modules[1]).value("cached", true) == false);
  BOOST_TEST(blob_gets(s.registry, sha256_digest(modules[1])) == 2);
  BOOST_TEST(fetch(client, s.ref("m19", "v1"), modules[19]).value("cached", false) == true);
}

// With the registry stopped, cached digests are served; a cached tag is served (with a warning) up
// to 10x PROXY_MANIFEST_TTL after it was resolved, then it is an error like any uncached module.
BOOST_AUTO_TEST_CASE(the_cache_serves_while_the_registry_is_down) {
  Stack s;
  TempDir cache("pp-cache-");
  const std::string wasm = random_wasm(30'000, 720);
  const std::string manifest = push_app(s.pusher, "app", "v1", wasm);
  s.pusher.push_wasm("never", "v1", random_wasm(100, 721));
  s.start_proxy(
      {"PROXY_CACHE_DIR=" + cache.path(), "PROXY_MANIFEST_TTL=1s", "PROXY_HTTP_RETRIES=0"});
  PropletClient client(s.broker.url(), s.channel);
  const std::string tag = s.ref("app", "v1");
  fetch(client, tag, wasm);
  // The proxy resolved the tag before it answered: it is at least this old from here on.
  const auto resolved = std::chrono::steady_clock::now();
  s.registry.stop();

  const std::string pinned = s.registry.host() + "/app@" + manifest;
  BOOST_TEST(fetch(client, pinned, wasm).value("cached", false) == true);
  std::this_thread::sleep_for(1500ms);  // past the TTL: the registry would be asked
  BOOST_TEST(fetch(client, tag, wasm).value("cached", false) == true);
  BOOST_TEST(
      s.proxy->wait_log("registry unreachable; serving the tag as it resolved before", kTimeout));
  const auto never = fetch_failure(client, s.ref("never", "v1"));
  BOOST_TEST(never["error"].value("code", "") == "registry_unavailable", never.dump());

  // Past 10x the TTL (the resolution time is kept in whole seconds: a second more).
  std::this_thread::sleep_until(resolved + 12s);
  const auto stale = fetch_failure(client, tag);
  BOOST_TEST(stale["error"].value("code", "") == "registry_unavailable", stale.dump());
  BOOST_TEST(fetch(client, pinned, wasm).value("cached", false) == true);  // a digest never expires
}

// Two requests for one module on different channels of one proxy: the second waits for the
// first's download and reads the cached module.
BOOST_AUTO_TEST_CASE(concurrent_transfers_of_one_module_download_it_once) {
  Stack s;
  TempDir cache("pp-cache-");
  const std::string wasm = random_wasm(400'000, 730);
  const std::string digest = sha256_digest(wasm);
  s.pusher.push_wasm("app", "v1", wasm);
  FaultRelay relay({.target_port = s.registry.port(), .budget = 150'000});
  s.start_proxy({"PROXY_CACHE_DIR=" + cache.path(), "PROXY_REGISTRY_URL=http://" + relay.host(),
                 "PROPLET_CHANNEL_ID=+", "PROXY_CHUNK_SIZE=50000"});
  auto clients = PropletClient::connect_many(s.broker.url(), {"first", "second"});
  const std::string app = relay.host() + "/app:v1";
  clients[0]->request(app);
  BOOST_TEST_REQUIRE(clients[0]->wait_message_count(1, kTimeout));
  clients[1]->request(app);
  BOOST_TEST_REQUIRE(s.proxy->wait_log("waiting for another download of the module", kTimeout));
  relay.open();
  for (auto& c : clients) {
    BOOST_TEST((c->wait_complete(app, kTimeout) == std::optional<std::string>(wasm)));
  }
  const auto second = clients[1]->wait_status(app, kTimeout);
  BOOST_TEST_REQUIRE(second.has_value());
  BOOST_TEST(second->value("cached", false) == true);
  BOOST_TEST(blob_gets(s.registry, digest) == 1);
}

// Two proxy processes on one cache directory, asked for the same modules at once: each module is
// downloaded once, by one of them, and every cached file holds exactly its digest's bytes.
BOOST_AUTO_TEST_CASE(two_proxies_share_one_cache_directory) {
  Stack s;
  TempDir cache("pp-cache-");
  constexpr std::size_t kApps = 8;
  std::vector<std::string> modules;
  for (std::size_t i = 0; i < kApps; ++i) {
    modules.push_back(random_wasm(200'000 + i * 1000, 740 + i));
    s.pusher.push_wasm("app" + std::to_string(i), "v1", modules.back());
  }
  const auto env = [&](const std::string& channel) {
    return std::vector<std::string>{"PROPLET_MQTT_ADDRESS=" + s.broker.url(),
                                    "PROPLET_CHANNEL_ID=" + channel,
                                    "PROXY_REGISTRY_URL=" + s.registry.url(),
                                    "PROXY_CACHE_DIR=" + cache.path(), "PROXY_LOG_LEVEL=debug"};
  };
  ProxyProcess a(env("a")), b(env("b"));
  auto clients = PropletClient::connect_many(s.broker.url(), {"a", "b"});
  for (std::size_t i = 0; i < kApps; ++i) {
    for (auto& c : clients)
      c->request(s.ref("app" + std::to_string(i), "v1"));
  }
  for (std::size_t i = 0; i < kApps; ++i) {
    for (auto& c : clients) {
      BOOST_TEST_CONTEXT("app " << i << " on " << c->request_topic()) {
        BOOST_TEST((c->wait_complete(s.ref("app" + std::to_string(i), "v1"), kTimeout) ==
                    std::optional<std::string>(modules[i])));
      }
    }
  }
  for (std::size_t i = 0; i < kApps; ++i) {
    const std::string digest = sha256_digest(modules[i]);
    BOOST_TEST(blob_gets(s.registry, digest) == 1, "app " << i);
    BOOST_TEST(wait_cached(cache, digest, modules[i]), "app " << i);
  }
  BOOST_TEST(servable(cache).size() == kApps);
  BOOST_TEST(metric(a, "propeller_proxy_cache_misses_total") +
                 metric(b, "propeller_proxy_cache_misses_total") ==
             kApps);
  BOOST_TEST(a.process().stop(30s) == 0, a.log());
  BOOST_TEST(b.process().stop(30s) == 0, b.log());
}

// kill -9 while a module is being written: nothing servable is left, and the next proxy on the
// directory downloads the module again and stores it whole.
BOOST_AUTO_TEST_CASE(kill_9_during_a_write_leaves_nothing_servable) {
  Stack s;
  TempDir cache("pp-cache-");
  const std::string wasm = random_wasm(1'000'000, 750);
  const std::string digest = sha256_digest(wasm);
  s.pusher.push_wasm("app", "v1", wasm);
  FaultRelay relay({.target_port = s.registry.port(), .budget = 400'000});
  const std::vector<std::string> env = {"PROXY_CACHE_DIR=" + cache.path(),
                                        "PROXY_REGISTRY_URL=http://" + relay.host(),
                                        "PROXY_CHUNK_SIZE=100000"};
  s.start_proxy(env);
  const std::string app = relay.host() + "/app:v1";
  {
    PropletClient client(s.broker.url(), s.channel);
    client.request(app);
    BOOST_TEST_REQUIRE(client.wait_message_count(2, kTimeout));
  }
  s.proxy->process().kill9();
  s.proxy.reset();
  BOOST_TEST(servable(cache).empty());
  for (const auto& e : fs::directory_iterator(cache.path() + "/tmp")) {
    // At most the dead writer's lock file, which holds nothing and locks nothing any more.
    BOOST_TEST(e.path().extension() == ".lock", e.path());
    BOOST_TEST(fs::file_size(e.path()) == 0u);
  }

  relay.open();
  s.start_proxy(env);
  PropletClient client(s.broker.url(), s.channel);
  BOOST_TEST(fetch(client, app, wasm).value("cached", true) == false);
  BOOST_TEST(wait_cached(cache, digest, wasm));
}
