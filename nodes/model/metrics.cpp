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
  metric(out, "propeller_proxy_requests_joined_total", "counter",
         "Requests answered by a transfer of the same app already under way, without a download "
         "of their own.");
  value(out, "propeller_proxy_requests_joined_total", requests_joined.load());
  metric(out, "propeller_proxy_requests_dropped_total", "counter",
         "Request messages dropped unread and unanswered: larger than PROXY_MAX_REQUEST_BYTES "
         "(too_large), or more than PROXY_INTAKE_LIMIT waiting to be read (intake_full).");
  value(out, R"(propeller_proxy_requests_dropped_total{reason="too_large"})",
        requests_dropped_too_large.load());
  value(out, R"(propeller_proxy_requests_dropped_total{reason="intake_full"})",
        requests_dropped_intake_full.load());
  metric(out, "propeller_proxy_intake", "gauge",
         "Received request messages waiting to be read (at most PROXY_INTAKE_LIMIT).");
  value(out, "propeller_proxy_intake", g.intake);
  metric(out, "propeller_proxy_status_messages_dropped_total", "counter",
         "Answers to refused requests not sent because 256 were already waiting for the broker "
         "(a flood).");
  value(out, "propeller_proxy_status_messages_dropped_total", g.statuses_dropped);
  metric(out, "propeller_proxy_errors_total", "counter", "Failed or rejected requests by code.");
  {
    std::lock_guard lock(errors_mutex_);
    for (const auto& [code, n] : errors_) {
      value(out, "propeller_proxy_errors_total{code=\"" + code + "\"}", n);
    }
  }
  metric(out, "propeller_proxy_active_transfers", "gauge", "Accepted requests not yet answered.");
  value(out, "propeller_proxy_active_transfers", g.active_transfers);
  metric(out, "propeller_proxy_transfer_objects", "gauge",
         "Per-transfer records in memory (queued, running or finishing); 0 when idle.");
  value(out, "propeller_proxy_transfer_objects", g.transfer_objects);
  metric(out, "propeller_proxy_joinable_transfers", "gauge",
         "Transfers that requests for the same app and channel can join.");
  value(out, "propeller_proxy_joinable_transfers", g.joinable_transfers);
  metric(out, "propeller_proxy_queue_depth", "gauge",
         "Accepted requests waiting for a transfer slot (PROXY_MAX_TRANSFERS).");
  value(out, "propeller_proxy_queue_depth", g.queue_depth);
  metric(out, "propeller_proxy_chunks_published_total", "counter",
         "Chunks acknowledged by the broker.");
  value(out, "propeller_proxy_chunks_published_total", chunks_published.load());
  metric(out, "propeller_proxy_bytes_published_total", "counter",
         "Module bytes (before base64) in chunks acknowledged by the broker.");
  value(out, "propeller_proxy_bytes_published_total", bytes_published.load());
  metric(out, "propeller_proxy_window_in_use", "gauge", "Chunks in flight (cut, not yet acked).");
  value(out, "propeller_proxy_window_in_use", g.window_in_use);
  metric(out, "propeller_proxy_window_capacity", "gauge", "PROXY_CHUNK_WINDOW.");
  value(out, "propeller_proxy_window_capacity", g.window_capacity);
  metric(out, "propeller_proxy_registry_request_seconds", "histogram",
         "Registry requests, from start to the response head.");
  registry_seconds.render(out, "propeller_proxy_registry_request_seconds");
  metric(out, "propeller_proxy_mqtt_reconnects_total", "counter",
         "Connections to the broker after the first.");
  value(out, "propeller_proxy_mqtt_reconnects_total", g.mqtt_reconnects);
  metric(out, "propeller_proxy_cache_hits_total", "counter",
         "Transfers whose module was read from the cache.");
  value(out, "propeller_proxy_cache_hits_total", g.cache_hits);
  metric(out, "propeller_proxy_cache_misses_total", "counter",
         "Transfers whose module had to be downloaded (with the cache on).");
  value(out, "propeller_proxy_cache_misses_total", g.cache_misses);
  metric(out, "propeller_proxy_cache_evictions_total", "counter",
         "Modules removed from the cache to keep PROXY_CACHE_MAX_BYTES.");
  value(out, "propeller_proxy_cache_evictions_total", g.cache_evictions);
  metric(out, "propeller_proxy_cache_bytes", "gauge",
         "Total size of the cached modules (PROXY_CACHE_MAX_BYTES bounds it).");
  value(out, "propeller_proxy_cache_bytes", g.cache_bytes);
  metric(out, "propeller_proxy_cache_modules", "gauge", "Modules in the cache.");
  value(out, "propeller_proxy_cache_modules", g.cache_modules);
  metric(out, "propeller_proxy_cache_records", "gauge",
         "Records in the cache of what references resolved to.");
  value(out, "propeller_proxy_cache_records", g.cache_records);
  metric(out, "propeller_proxy_token_cache_entries", "gauge",
         "Registry bearer tokens held, by registry and scope.");
  value(out, "propeller_proxy_token_cache_entries", g.token_cache_entries);
  metric(out, "propeller_proxy_basic_auth_registries", "gauge",
         "Registries remembered as asking for Basic credentials.");
  value(out, "propeller_proxy_basic_auth_registries", g.basic_auth_registries);
  metric(out, "propeller_proxy_rate_limit_buckets", "gauge",
         "Rate-limit token buckets held, one per recently active tenant and channel.");
  value(out, "propeller_proxy_rate_limit_buckets", g.rate_limit_buckets);
  metric(out, "propeller_proxy_ready", "gauge", "1 while connected and subscribed.");
  value(out, "propeller_proxy_ready", g.ready ? 1 : 0);
  return out;
}

}  // namespace pp
