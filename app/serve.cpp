// `propeller-proxy serve`: answers proplets' requests until SIGINT/SIGTERM.

#include <malloc.h>
#include <spdlog/fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <thread>

#include "app/commands.hpp"
#include "app/config/sources.hpp"
#include "app/http_endpoint.hpp"
#include "nodes/clients/mqtt/mqtt_client.hpp"
#include "nodes/clients/mqtt/topics.hpp"
#include "nodes/clients/oci/http_io.hpp"
#include "nodes/clients/oci/registry_client.hpp"
#include "nodes/common/log.hpp"
#include "pipeline/graph.hpp"

namespace {

// How long cancelled transfers get to settle (their publishes acknowledged or failed).
constexpr auto kCancelGrace = std::chrono::seconds(5);
// Requests waiting at once that count as a burst worth giving memory back after.
constexpr std::size_t kBurst = 64;
constexpr int kTrimSeconds = 5;

std::string default_client_id() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return "propeller-proxy-" + std::string(host) + "-" + std::to_string(getpid());
}

// PROXY_REGISTRY_URL's registry and PROXY_REGISTRY_ALLOW's (validated when it was loaded).
pp::oci::RegistryAllowList allow_list(const pp::Config& config) {
  auto list = pp::oci::RegistryAllowList::parse(config.registry_allow, config.registry_url.host);
  return list ? std::move(list).value() : pp::oci::RegistryAllowList(config.registry_url.host);
}

// Waits for SIGINT/SIGTERM for up to `timeout`; true when one arrived.
bool wait_for_signal(const sigset_t& signals, std::chrono::milliseconds timeout) {
  const timespec ts{static_cast<time_t>(timeout.count() / 1000),
                    static_cast<long>(timeout.count() % 1000) * 1'000'000};
  return sigtimedwait(&signals, nullptr, &ts) > 0;
}

bool wait_until_idle(const pp::Pipeline& pipeline, std::chrono::steady_clock::duration limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (pipeline.active() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pipeline.active() == 0;
}

}  // namespace

int pp::run_serve(const Config& config) {
  // main() blocked these before any thread existed; they are taken synchronously below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);

  // The cache's directory is checked before anything connects: a proxy that cannot keep what it
  // downloads would hit the registry's rate limits unseen.
  std::unique_ptr<BlobCache> cache;
  if (config.cache_max_bytes > 0) {
    auto opened = BlobCache::open({.dir = config.cache_dir,
                                   .max_bytes = config.cache_max_bytes,
                                   .manifest_ttl = std::chrono::seconds(config.manifest_ttl_s),
                                   .platform = config.platform.str()});
    if (!opened) {
      log::error("PROXY_CACHE_DIR: " + opened.error().message +
                 "; set PROXY_CACHE_DIR (--cache-dir) to a directory the proxy may create or "
                 "write, or PROXY_CACHE_MAX_BYTES=0 to run without a cache");
      return kExitUsage;
    }
    cache = std::move(opened).value();
  } else {
    log::info("cache off (PROXY_CACHE_MAX_BYTES=0): every request downloads its module");
  }
  pp::oci::HttpIo http(config.proxies);
  pp::oci::RegistryClient registry(http, registry_options(config));
  pp::mqtt::Client mqtt(
      mqtt_client_options(config, !config.mqtt_client_id.empty() ? config.mqtt_client_id
                                  : !config.thing_id.empty()     ? config.thing_id
                                                                 : default_client_id()));
  Metrics metrics;
  http.set_latency_observer([&metrics](double s) { metrics.registry_seconds.observe(s); });
  const pp::oci::RegistryAllowList allowed = allow_list(config);
  pp::Pipeline pipeline(
      pp::PipelineOptions{.chunk_size = config.chunk_size,
                          .window = config.chunk_window,
                          .max_transfers = config.max_transfers,
                          .queue_limit = config.queue_limit,
                          .max_request_bytes = config.max_request_bytes,
                          .intake_limit = config.intake_limit,
                          .resume_delay = std::chrono::seconds(config.mqtt_resume_delay_s),
                          .broker_queue = config.mqtt_broker_queue,
                          .rate_limit = static_cast<double>(config.rate_limit),
                          .rate_burst = static_cast<double>(config.rate_burst),
                          .allow = allowed,
                          .max_blob_size = config.max_blob_size,
                          .spool_dir = config.spool_dir,
                          .cache = cache.get(),
                          .qos = config.mqtt_qos,
                          .status_topic = config.status_topic,
                          .signatures = config.trust.get(),
                          .manifest_ttl = std::chrono::seconds(config.manifest_ttl_s)},
      registry, mqtt, metrics);

  std::atomic<bool> accepting{true};
  mqtt.on_message([&](std::string_view topic, std::string_view payload) {
    if (!accepting.load()) {
      static std::atomic<bool> said{false};
      if (!said.exchange(true)) log::warn("requests ignored while shutting down");
      return;
    }
    pipeline.submit(topic, payload);
  });
  HttpEndpoint http_endpoint(
      [&mqtt, &pipeline] { return mqtt.ready() && !pipeline.broken(); },
      [&] {
        return metrics.render(
            Gauges{.active_transfers = pipeline.active(),
                   // Less the finished ones kept for a broker restart: they are not left behind.
                   .transfer_objects = static_cast<std::uint64_t>(std::max<std::int64_t>(
                       pp::Transfer::live.load(std::memory_order_relaxed) -
                           static_cast<std::int64_t>(pipeline.recently_finished()),
                       0)),
                   .joinable_transfers = pipeline.joinable(),
                   .intake = pipeline.intake(),
                   .statuses_dropped = pipeline.statuses_dropped(),
                   .queue_depth = pipeline.queued(),
                   .window_in_use = pipeline.window_in_use(),
                   .window_capacity = pipeline.window_capacity(),
                   .mqtt_reconnects = mqtt.reconnects(),
                   .ready = mqtt.ready(),
                   .cache_hits = cache ? cache->counters().hits.load() : 0,
                   .cache_misses = cache ? cache->counters().misses.load() : 0,
                   .cache_evictions = cache ? cache->counters().evictions.load() : 0,
                   .cache_bytes = cache ? cache->counters().bytes.load() : 0,
                   .cache_modules = cache ? cache->counters().modules.load() : 0,
                   .cache_records = cache ? cache->counters().records.load() : 0,
                   .token_cache_entries = registry.auth().cached_tokens(),
                   .basic_auth_registries = registry.auth().basic_registries(),
                   .rate_limit_buckets = pipeline.rate_limit_buckets()});
      });
  if (config.http_port != 0 && !http_endpoint.start(config.http_host, config.http_port)) {
    return kExitFailure;
  }
  const pp::mqtt::Topics topics(config.topic_scheme, config.tenant, config.channels,
                                config.shared_group);
  mqtt.start(topics.request_subscriptions());
  if (config.registry_insecure) {
    log::warn(
        "PROXY_REGISTRY_INSECURE is set: registry TLS certificates are NOT verified; anyone "
        "on the network path can serve modules to this fleet");
  }
  log::info(
      "starting",
      {{"broker", config.mqtt_address},
       {"registry", config.registry_url.scheme + "://" + config.registry_url.host},
       {"registries_allowed", allowed.describe()},
       {"topics", config.topic_scheme == pp::mqtt::TopicScheme::supermq ? "supermq" : "channels"},
       log::if_set("tenant", config.tenant),
       {"channels", fmt::format("{}", fmt::join(config.channels, ","))},
       {"chunk_size", config.chunk_size},
       {"window", config.chunk_window},
       {"qos", config.mqtt_qos},
       {"http", config.http_host + ":" + std::to_string(config.http_port)}});

  for (const auto& [path, key] : config.trust->keys()) {
    log::info("trusted key", {{"key", key.id()}, {"algorithm", key.algorithm()}, {"file", path}});
  }
  if (config.trust->enabled()) {
    log::info("signatures checked", {{"mode", trust::to_string(config.trust->default_rule().mode)},
                                     {"policy_rules", config.trust->policy_rules()},
                                     log::if_set("policy", config.signature_policy)});
  }

  bool announced = false;
  auto flushed = std::chrono::steady_clock::now();
  int trims = 0;  // seconds left in which memory is given back after a burst
  while (!wait_for_signal(signals, std::chrono::milliseconds(100))) {
    if (std::chrono::steady_clock::now() - flushed >= std::chrono::seconds(1)) {
      pipeline.flush_logs();
      flushed = std::chrono::steady_clock::now();
      // A full intake of large messages leaves glibc holding the heap it took for them (tens of
      // MB, in the arenas of the threads that made and freed them): give it back to the system
      // once the burst is read, so that a flood's cost ends with the flood. For a few seconds,
      // since the stages after the intake free their share of it later.
      if (pipeline.take_intake_peak() >= kBurst) trims = kTrimSeconds;
      if (trims > 0 && pipeline.intake() == 0) {
        ::malloc_trim(0);
        --trims;
      }
    }
    if (pipeline.broken()) {
      // Every stage catches what escapes it; this is the net under that. A graph that oneTBB has
      // cancelled answers nobody again, so say so (/ready answers 503 from now on) and exit
      // non-zero, so that an orchestrator starts a fresh process; requesters ask again.
      log::error(
          "the pipeline has stopped: an error escaped a stage; exiting so that the proxy is "
          "restarted",
          {{"transfers", pipeline.active()}});
      accepting.store(false);
      pipeline.abandon_all(
          Error{errc::proxy_error, "the proxy failed internally and is restarting; ask again"},
          kCancelGrace);
      mqtt.stop();
      std::_Exit(kExitFailure);
    }
    if (!announced && mqtt.ready()) {
      log::info("ready", {{"subscriptions",
                           fmt::format("{}", fmt::join(topics.request_subscriptions(), ","))}});
      announced = true;
    }
  }

  log::info("shutting down", {{"transfers", pipeline.active()}});
  accepting.store(false);
  if (!wait_until_idle(pipeline, std::chrono::seconds(config.shutdown_grace_s))) {
    pipeline.cancel_all(pp::Error{pp::errc::shutting_down, "the proxy is shutting down"});
    if (!wait_until_idle(pipeline, kCancelGrace)) {
      // A publish the broker never acknowledges would hold the graph forever.
      log::error("transfers did not settle; exiting without them",
                 {{"transfers", pipeline.active()}});
      std::_Exit(1);
    }
  }
  pipeline.wait_idle();
  mqtt.stop();
  pipeline.flush_logs();
  log::info("stopped");
  return 0;
}
