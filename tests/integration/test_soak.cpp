// Soak (CTest label "soak", about 5 minutes): 2 000 requests from 8 channels over 30 apps of mixed
// sizes, paced over the run, with faults injected all along: a relay in front of the registry
// fails or cuts a random share of connections, the broker restarts every minute, and malformed
// requests are mixed in. With the manifest TTL at 0 and a cache smaller than the apps, requests
// keep going to the faulty registry.
//
// At the end every well-formed request was answered with a complete module whose digest is right,
// or with an explicit failure; a request may be asked again only when a broker restart overlapped
// it (a clean-session device misses what is published while it is away, and asks again, as
// proplets do). Every malformed one got its failure status. Nothing crashed, the proxy's resident
// memory after the run is within 20 % of what it was after the first minute, and what it keeps
// across requests (its /metrics gauges of tokens, cache records and modules, rate-limit buckets)
// stays within what this run's apps and channels can need, after the first minute and at the end;
// once idle, no per-transfer state is left.
#define BOOST_TEST_MODULE soak
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "tests/integration/stack.hpp"
#include "tests/support/fault_relay.hpp"
#include "tests/support/metrics.hpp"

using namespace pp::test;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kChannels = 8;
constexpr int kRequestsPerChannel = 250;  // 2 000 in all
constexpr int kApps = 30;
constexpr auto kRun = 270s;           // the requests are spread over this
constexpr auto kRestartEvery = 60s;   // the broker's
constexpr auto kAnswerTimeout = 30s;  // for one attempt
constexpr auto kRestartShadow = 15s;  // after a restart, a missing answer may be the restart's
constexpr int kAttempts = 5;
constexpr std::uint64_t kCacheMaxBytes = 4'000'000;  // smaller than the apps together

struct App {
  std::string name, digest;
};

// What happened to the requests, over all channels.
struct Tally {
  std::mutex mutex;
  int completed = 0, failed = 0, malformed_answered = 0, asked_again = 0;
  std::map<std::string, int> failure_codes;
  std::vector<std::string> problems;  // each one a reason the soak fails

  void problem(std::string what) {
    std::lock_guard lock(mutex);
    if (problems.size() < 20) problems.push_back(std::move(what));
  }
};

// When the broker was last away (start of the stop, end of the start), for excusing lost answers.
struct Restarts {
  std::mutex mutex;
  std::vector<std::pair<Clock::time_point, Clock::time_point>> windows;

  bool overlaps(Clock::time_point from, Clock::time_point to) {
    std::lock_guard lock(mutex);
    for (const auto& [stop, start] : windows) {
      if (from <= start + kRestartShadow && to >= stop) return true;
    }
    return false;
  }
};

// A size the proxy keeps across requests, keyed by what requests name, and why this run cannot need
// more of it.
struct Bounded {
  const char* gauge;
  double bound;
  const char* why;
};
const Bounded kBounded[] = {
    {"propeller_proxy_token_cache_entries", kApps,
     "a pull scope per repository at most (this registry asks for none)"},
    {"propeller_proxy_basic_auth_registries", 1, "one registry"},
    {"propeller_proxy_cache_modules", kApps, "one per app"},
    {"propeller_proxy_cache_bytes", kCacheMaxBytes, "PROXY_CACHE_MAX_BYTES"},
    {"propeller_proxy_cache_records", 2 * kApps, "a tag and its manifest's digest per app"},
    {"propeller_proxy_rate_limit_buckets", kChannels, "one per channel"},
};

std::string scrape(const ProxyProcess& proxy) {
  return http_get("http://127.0.0.1:" + std::to_string(proxy.http_port()) + "/metrics", {}, 5s)
      .body;
}

void check_bounded(const std::string& metrics, const std::string& when) {
  std::string values;
  for (const Bounded& b : kBounded) {
    const double v = series(metrics, b.gauge);
    values += std::string(" ") + b.gauge + "=" + std::to_string(static_cast<long long>(v));
    BOOST_TEST_CONTEXT(when << ": " << b.gauge) {
      BOOST_TEST(v >= 0, "not exported");
      BOOST_TEST(v <= b.bound, v << " is over " << b.bound << ": " << b.why);
    }
  }
  BOOST_TEST_MESSAGE("soak gauges " << when << ":" << values);
}

const char* const kMalformed[] = {
    "not json",
    "[]",
    R"({"app":"x"})",
    R"({"app_name":42})",
    R"({"app_name":""})",
    R"({"app_name":"a b"})",
    R"({"app_name":"evil.example/x:v1"})",
    R"({"app_name":"x","chunks":"all"})",
};

// One well-formed request for `app`, asked again while broker restarts excuse a missing answer.
void fetch(PropletClient& client, const App& app, Tally& tally, Restarts& restarts) {
  // A request that could not even be sent is not an attempt: nothing was asked. Sends are retried
  // until this deadline, which no run without a stuck broker reaches.
  const auto give_up = Clock::now() + 3min;
  for (int attempt = 0; attempt < kAttempts && Clock::now() < give_up;) {
    client.forget(app.name);
    const auto started = Clock::now();
    try {
      client.request(app.name);
    } catch (const std::exception&) {
      // The broker is away. Paho refuses the send before it reports the connection lost, so
      // the client may still look connected: back off before waiting for it, as a device would.
      std::this_thread::sleep_for(250ms);
      client.wait_connected(60s);
      std::lock_guard lock(tally.mutex);
      ++tally.asked_again;
      continue;
    }
    ++attempt;
    const auto status = client.wait_status(app.name, kAnswerTimeout);
    if (status && status->value("state", "") == "failed") {
      std::lock_guard lock(tally.mutex);
      ++tally.failed;
      ++tally.failure_codes[status->at("error").value("code", "?")];
      return;
    }
    if (status) {
      const auto bytes = client.wait_complete(app.name, 10s);
      if (bytes) {
        if (sha256_digest(*bytes) != app.digest) {
          tally.problem(app.name + ": completed with the wrong bytes");
        }
        std::lock_guard lock(tally.mutex);
        ++tally.completed;
        return;
      }
    }
    // No answer, or a "completed" whose chunks did not all arrive: only a broker restart excuses
    // that, and then the device asks again.
    if (!restarts.overlaps(started, Clock::now())) {
      tally.problem(app.name + ": " + (status ? "chunks missing" : "no answer") +
                    " without a broker restart to explain it");
      return;
    }
    client.wait_connected(60s);
    std::lock_guard lock(tally.mutex);
    ++tally.asked_again;
  }
  tally.problem(app.name + ": no answer after " + std::to_string(kAttempts) +
                " attempts, or none could be sent for 3 minutes");
}

void malformed(PropletClient& client, const char* payload, Tally& tally, Restarts& restarts) {
  // The failure status is sent under the app_name the request had, if it had one.
  const auto doc = nlohmann::json::parse(payload, nullptr, false);
  const std::string key = doc.is_object() && doc.contains("app_name") && doc["app_name"].is_string()
                              ? doc["app_name"].get<std::string>()
                              : "";
  const auto before = client.status_messages(key).size();
  const auto started = Clock::now();
  try {
    client.publish_raw(client.request_topic(), payload);
  } catch (const std::exception&) {
    return;  // never sent: nothing to answer
  }
  while (Clock::now() < started + kAnswerTimeout) {
    const auto now = client.status_messages(key);
    if (now.size() > before) {
      if (now.back().value("state", "") != "failed") {
        tally.problem(std::string("malformed request not refused: ") + payload);
      }
      std::lock_guard lock(tally.mutex);
      ++tally.malformed_answered;
      return;
    }
    std::this_thread::sleep_for(20ms);
  }
  if (!restarts.overlaps(started, Clock::now())) {
    tally.problem(std::string("malformed request unanswered: ") + payload);
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(two_thousand_requests_through_faults) {
  Stack s;
  std::vector<App> apps;
  for (int i = 0; i < kApps; ++i) {
    // 1 kB to 2 MB, spread evenly on a log scale.
    const auto size = static_cast<std::size_t>(1000 * std::pow(2000.0, i / double(kApps - 1)));
    const std::string wasm = random_wasm(size, 9000 + i);
    const std::string repo = "soak" + std::to_string(i);
    s.pusher.push_wasm(repo, "v1", wasm);
    apps.push_back({repo, sha256_digest(wasm)});
  }
  FaultRelay relay({.target_port = s.registry.port(),
                    .random_fail_percent = 5,
                    .random_cut_percent = 3,
                    .seed = 20261126});
  for (auto& app : apps)
    app.name = relay.host() + "/" + app.name + ":v1";

  std::vector<std::string> channels;
  std::string channel_list;
  for (int c = 0; c < kChannels; ++c) {
    channels.push_back("soak-" + std::to_string(c));
    channel_list += (c ? "," : "") + channels.back();
  }
  ProxyProcess proxy(
      {"PROPLET_MQTT_ADDRESS=" + s.broker.url(), "PROPLET_CHANNEL_ID=" + channel_list,
       "PROXY_REGISTRY_URL=http://" + relay.host(), "PROXY_CHUNK_SIZE=64000",
       "PROXY_MANIFEST_TTL=0s", "PROXY_CACHE_MAX_BYTES=" + std::to_string(kCacheMaxBytes),
       "PROXY_HTTP_RETRIES=6", "PROXY_LOG_LEVEL=info"});
  auto clients = PropletClient::connect_many(s.broker.url(), channels);

  Tally tally;
  Restarts restarts;
  const auto begin = Clock::now();
  std::atomic<bool> done{false};
  std::atomic<bool> proxy_died{false};  // then the run stops early, instead of timing out
  long rss_after_first_minute = 0;
  std::string metrics_after_first_minute;
  std::thread chaos([&] {
    int restarts_done = 0;
    while (!done.load()) {
      std::this_thread::sleep_for(200ms);
      if (!proxy.process().running()) {
        proxy_died = true;
        break;
      }
      const auto elapsed = Clock::now() - begin;
      if (rss_after_first_minute == 0 && elapsed >= 60s) {
        rss_after_first_minute = vm_rss_kib(proxy.process().pid()).value_or(0);
        try {
          metrics_after_first_minute = scrape(proxy);
        } catch (const std::exception& e) {
          tally.problem(std::string("cannot scrape /metrics after a minute: ") + e.what());
        }
      }
      if (elapsed >= kRestartEvery * (restarts_done + 1) && elapsed < kRun) {
        ++restarts_done;
        const auto stopped = Clock::now();
        s.broker.stop();
        std::this_thread::sleep_for(1s);
        s.broker.start();
        std::lock_guard lock(restarts.mutex);
        restarts.windows.emplace_back(stopped, Clock::now());
      }
    }
  });

  std::vector<std::thread> workers;
  for (int c = 0; c < kChannels; ++c) {
    workers.emplace_back([&, c] {
      std::mt19937 rng(static_cast<unsigned>(c) + 1);
      PropletClient& client = *clients[static_cast<std::size_t>(c)];
      for (int k = 0; k < kRequestsPerChannel && !proxy_died.load(); ++k) {
        std::this_thread::sleep_until(begin + kRun * k / kRequestsPerChannel);
        if (rng() % 20 == 0) {  // 5 % malformed
          malformed(client, kMalformed[rng() % std::size(kMalformed)], tally, restarts);
        } else {
          fetch(client, apps[rng() % apps.size()], tally, restarts);
        }
      }
    });
  }
  for (auto& w : workers)
    w.join();
  done = true;
  chaos.join();
  if (proxy_died.load()) {
    const std::string log = proxy.log();
    BOOST_FAIL("the proxy died (status " << proxy.process().stop(0ms) << "); its log ends:\n"
                                         << log.substr(log.size() > 3000 ? log.size() - 3000 : 0));
  }
  const long rss_at_end = vm_rss_kib(proxy.process().pid()).value_or(0);

  BOOST_TEST_MESSAGE(
      "soak: " << tally.completed << " completed, " << tally.failed << " failed, "
               << tally.malformed_answered << " malformed answered, " << tally.asked_again
               << " asked again, in "
               << std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - begin).count()
               << " s; RSS " << rss_after_first_minute << " KiB after a minute, " << rss_at_end
               << " KiB at the end");
  for (const auto& [code, n] : tally.failure_codes)
    BOOST_TEST_MESSAGE("  failed with " << code << ": " << n);
  for (const auto& p : tally.problems)
    BOOST_ERROR(p);
  // Most requests succeed despite the faults: retries absorb them.
  BOOST_TEST(tally.completed >= kChannels * kRequestsPerChannel * 8 / 10);
  BOOST_TEST(tally.malformed_answered > 0);
  // Failures name what went wrong with the registry; nothing else may fail.
  for (const auto& [code, n] : tally.failure_codes) {
    BOOST_TEST_CONTEXT(code) {
      BOOST_TEST((code == "registry_unavailable" || code == "registry_error"));
    }
  }
  BOOST_TEST(proxy.process().running());
  BOOST_TEST_REQUIRE(rss_after_first_minute > 0);
  BOOST_TEST(rss_at_end <= rss_after_first_minute * 12 / 10,
             "RSS grew from " << rss_after_first_minute << " to " << rss_at_end << " KiB");

  check_bounded(metrics_after_first_minute, "after the first minute");
  // Requests given up on may still be finishing, and a transfer's record goes just after its
  // outcome is counted: the proxy is idle once they are done.
  const char* const per_transfer[] = {
      "propeller_proxy_active_transfers", "propeller_proxy_transfer_objects",
      "propeller_proxy_joinable_transfers", "propeller_proxy_queue_depth"};
  const auto idle = [&](const std::string& m) {
    return std::all_of(std::begin(per_transfer), std::end(per_transfer),
                       [&](const char* name) { return series(m, name) == 0; });
  };
  std::string at_end = scrape(proxy);
  for (const auto deadline = Clock::now() + 60s; !idle(at_end) && Clock::now() < deadline;) {
    std::this_thread::sleep_for(200ms);
    at_end = scrape(proxy);
  }
  check_bounded(at_end, "at the end");
  for (const char* name : per_transfer) {
    BOOST_TEST(series(at_end, name) == 0, name << " = " << series(at_end, name) << " once idle");
  }
  BOOST_TEST(proxy.process().stop(30s) == 0, proxy.log().substr(0, 4000));
}
