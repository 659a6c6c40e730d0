#pragma once
// The pipeline: one tbb::flow::graph, built once, through which every transfer flows as messages.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "nodes/clients/mqtt/mqtt_client.hpp"
#include "nodes/clients/oci/registry_allow.hpp"
#include "nodes/clients/oci/registry_client.hpp"
#include "nodes/model/metrics.hpp"
#include "nodes/model/transfer.hpp"
#include "nodes/store/cache.hpp"
#include "nodes/trust/signature_policy.hpp"

namespace pp {

// Every field is a setting (see docs/configuration.md), whose default the settings table alone
// writes: the service fills them all.
struct PipelineOptions {
  std::size_t chunk_size;
  std::size_t window;             // chunks in flight, across all transfers
  std::size_t max_transfers;      // transfers past the request stage at once
  std::size_t queue_limit;        // requests waiting for one; more are "busy"
  std::size_t max_request_bytes;  // larger request messages are dropped unread
  std::size_t intake_limit;       // received messages waiting to be read; more are dropped
  // After a reconnect, before chunks are published again (see BrokerRecovery).
  std::chrono::milliseconds resume_delay;
  // Messages the broker queues per subscriber at most: what a broker restart may have cost, so
  // what is published again after it (see RecentAcks).
  std::size_t broker_queue;
  double rate_limit;  // requests per second per channel (token bucket); 0: no limit
  double rate_burst;
  oci::RegistryAllowList allow;  // registries requests may name
  std::uint64_t max_blob_size;   // larger modules are refused before download
  std::string spool_dir;         // where layers that need unpacking go
  BlobCache* cache;              // the module cache, when it is on
  int qos;
  mqtt::StatusTopic status_topic;  // where status messages go
  // Whose signatures are checked, against which keys; null (the one default here, for pipelines
  // that check none): nobody's.
  const trust::SignaturePolicy* signatures = nullptr;
  // How long a signature verdict short of verified holds (PROXY_MANIFEST_TTL); 0: not at all.
  std::chrono::seconds manifest_ttl{0};
};

class Pipeline {
 public:
  // Set up before `mqtt` starts: the pipeline follows its connection.
  Pipeline(PipelineOptions options, oci::Registry& registry, mqtt::Publisher& mqtt,
           Metrics& metrics);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Thread-safe, non-blocking: called from Paho's thread for every request message. A message over
  // max_request_bytes, or one that finds intake_limit messages waiting to be read, is dropped
  // (counted, and logged at most once a second); the others are copied and queued.
  void submit(std::string_view topic, std::string_view payload);
  // Logs what the flood logs held back (see RefusalLog); call about once a second.
  void flush_logs();
  std::size_t intake() const;              // received messages waiting to be read
  std::size_t take_intake_peak();          // the most waiting at once since the last call
  std::uint64_t statuses_dropped() const;  // answers to refused requests not sent (a flood)

  // Requests accepted and not yet answered (queued or in transfer).
  std::size_t active() const;
  // Fails every active transfer with `error` (their downloads stop; their requesters are told) and
  // aborts every registry request, now and later: for shutdown only.
  void cancel_all(const Error& error);
  // Blocks until every message in the graph has been processed (call after intake stopped).
  void wait_idle();
  // The graph was cancelled: something escaped a stage body despite its guard. Nothing is answered
  // any more; the process should exit so that it is restarted.
  bool broken() const;
  // For a broken pipeline, which can no longer do it: tells every requester still waiting that its
  // request failed with `error`, and waits up to `timeout` for the broker to take those status
  // messages (true when it took them all).
  bool abandon_all(const Error& error, std::chrono::milliseconds timeout);

  std::size_t joinable() const;  // entries of the coalescing table
  // Finished transfers kept a few seconds, for what a broker restart could cost their requesters.
  std::size_t recently_finished() const;
  std::size_t queued() const;  // accepted requests waiting for a transfer slot
  std::size_t rate_limit_buckets() const;
  std::size_t window_in_use() const;
  std::size_t window_capacity() const;

 private:
  struct Graph;
  std::unique_ptr<Graph> graph_;
};

}  // namespace pp
