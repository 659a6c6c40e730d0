#include "nodes/model/metrics.hpp"

#include <cstdio>

namespace pp {

void Histogram::observe(double seconds) {
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    if (seconds <= kBounds[i]) buckets_[i].fetch_add(1, std::memory_order_relaxed);
  }
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_micros_.fetch_add(static_cast<std::uint64_t>(seconds * 1e6), std::memory_order_relaxed);
}

void Histogram::render(std::string& out, const std::string& name) const {
  char number[32];
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    std::snprintf(number, sizeof number, "%g", kBounds[i]);
    out += name + "_bucket{le=\"" + number + "\"} " + std::to_string(buckets_[i].load()) + "\n";
  }
  const std::uint64_t count = count_.load();
  out += name + "_bucket{le=\"+Inf\"} " + std::to_string(count) + "\n";
  std::snprintf(number, sizeof number, "%.6f", static_cast<double>(sum_micros_.load()) / 1e6);
  out += name + "_sum " + number + "\n";
  out += name + "_count " + std::to_string(count) + "\n";
}

void Metrics::count_error(const std::string& code) {
  std::lock_guard lock(errors_mutex_);
  ++errors_[code];
}

namespace {
constexpr const char* kCounter = "counter";
constexpr const char* kGauge = "gauge";
struct Series {
  const char* name;
  const char* type;
  const char* help;
  std::uint64_t value;
};
void metric(std::string& out, const char* name, const char* type, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}
void value(std::string& out, const std::string& series, std::uint64_t v) {
  out += series + " " + std::to_string(v) + "\n";
}
}  // namespace

std::string Metrics::render(const Gauges& g) const {
  std::string out;
  metric(out, "propeller_proxy_requests_total", "counter", "Requests by outcome.");
  value(out, R"(propeller_proxy_requests_total{outcome="completed"})", requests_completed.load());
  value(out, R"(propeller_proxy_requests_total{outcome="failed"})", requests_failed.load());
  value(out, R"(propeller_proxy_requests_total{outcome="rejected"})", requests_rejected.load());
  metric(out, "propeller_proxy_requests_dropped_total", "counter",
         "Request messages dropped unread and unanswered: larger than PROXY_MAX_REQUEST_BYTES "
         "(too_large), or more than PROXY_INTAKE_LIMIT waiting to be read (intake_full).");
  value(out, R"(propeller_proxy_requests_dropped_total{reason="too_large"})",
        requests_dropped_too_large.load());
  value(out, R"(propeller_proxy_requests_dropped_total{reason="intake_full"})",
        requests_dropped_intake_full.load());
  metric(out, "propeller_proxy_errors_total", "counter", "Failed or rejected requests by code.");
  {
    std::lock_guard lock(errors_mutex_);
    for (const auto& [code, n] : errors_) {
      value(out, "propeller_proxy_errors_total{code=\"" + code + "\"}", n);
    }
  }
  metric(out, "propeller_proxy_signature_checks_total", "counter",
         "Signature checks of modules by verdict (error: the registry could not be asked).");
  value(out, R"(propeller_proxy_signature_checks_total{result="verified"})",
        signatures_verified.load());
  value(out, R"(propeller_proxy_signature_checks_total{result="unsigned"})",
        signatures_unsigned.load());
  value(out, R"(propeller_proxy_signature_checks_total{result="invalid"})",
        signatures_invalid.load());
  value(out, R"(propeller_proxy_signature_checks_total{result="error"})", signatures_error.load());
  metric(out, "propeller_proxy_registry_request_seconds", "histogram",
         "Registry requests, from start to the response head.");
  registry_seconds.render(out, "propeller_proxy_registry_request_seconds");
  // The metrics of one series, named as the metric.
  for (const Series& m : {
           Series{"propeller_proxy_requests_joined_total", kCounter,
                  "Requests answered by a transfer of the same app already under way, without a "
                  "download of their own.",
                  requests_joined.load()},
           Series{"propeller_proxy_intake", kGauge,
                  "Received request messages waiting to be read (at most PROXY_INTAKE_LIMIT).",
                  g.intake},
           Series{"propeller_proxy_status_messages_dropped_total", kCounter,
                  "Answers to refused requests not sent because 256 were already waiting for the "
                  "broker (a flood).",
                  g.statuses_dropped},
           Series{"propeller_proxy_active_transfers", kGauge, "Accepted requests not yet answered.",
                  g.active_transfers},
           Series{"propeller_proxy_transfer_objects", kGauge,
                  "Per-transfer records in memory (queued, running or finishing); 0 when idle.",
                  g.transfer_objects},
           Series{"propeller_proxy_joinable_transfers", kGauge,
                  "Transfers that requests for the same app and channel can join.",
                  g.joinable_transfers},
           Series{"propeller_proxy_queue_depth", kGauge,
                  "Accepted requests waiting for a transfer slot (PROXY_MAX_TRANSFERS).",
                  g.queue_depth},
           Series{"propeller_proxy_chunks_published_total", kCounter,
                  "Chunks acknowledged by the broker.", chunks_published.load()},
           Series{"propeller_proxy_bytes_published_total", kCounter,
                  "Module bytes (before base64) in chunks acknowledged by the broker.",
                  bytes_published.load()},
           Series{"propeller_proxy_window_in_use", kGauge, "Chunks in flight (cut, not yet acked).",
                  g.window_in_use},
           Series{"propeller_proxy_window_capacity", kGauge, "PROXY_CHUNK_WINDOW.",
                  g.window_capacity},
           Series{"propeller_proxy_mqtt_reconnects_total", kCounter,
                  "Connections to the broker after the first.", g.mqtt_reconnects},
           Series{"propeller_proxy_cache_hits_total", kCounter,
                  "Transfers whose module was read from the cache.", g.cache_hits},
           Series{"propeller_proxy_cache_misses_total", kCounter,
                  "Transfers whose module had to be downloaded (with the cache on).",
                  g.cache_misses},
           Series{"propeller_proxy_cache_evictions_total", kCounter,
                  "Modules removed from the cache to keep PROXY_CACHE_MAX_BYTES.",
                  g.cache_evictions},
           Series{"propeller_proxy_cache_bytes", kGauge,
                  "Total size of the cached modules (PROXY_CACHE_MAX_BYTES bounds it).",
                  g.cache_bytes},
           Series{"propeller_proxy_cache_modules", kGauge, "Modules in the cache.",
                  g.cache_modules},
           Series{"propeller_proxy_cache_records", kGauge,
                  "Records in the cache of what references resolved to.", g.cache_records},
           Series{"propeller_proxy_token_cache_entries", kGauge,
                  "Registry bearer tokens held, by registry and scope.", g.token_cache_entries},
           Series{"propeller_proxy_basic_auth_registries", kGauge,
                  "Registries remembered as asking for Basic credentials.",
                  g.basic_auth_registries},
           Series{"propeller_proxy_rate_limit_buckets", kGauge,
                  "Rate-limit token buckets held, one per recently active tenant and channel.",
                  g.rate_limit_buckets},
           Series{"propeller_proxy_ready", kGauge, "1 while connected and subscribed.",
                  g.ready ? 1u : 0u},
       }) {
    metric(out, m.name, m.type, m.help);
    value(out, m.name, m.value);
  }
  return out;
}

}  // namespace pp
