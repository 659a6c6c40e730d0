#pragma once
// The pipeline: one tbb::flow::graph, built once, through which every transfer flows as messages.

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "nodes/cache.hpp"
#include "nodes/mqtt/mqtt_client.hpp"
#include "nodes/oci/registry_allow.hpp"
#include "nodes/oci/registry_client.hpp"
#include "pipeline/metrics.hpp"
#include "pipeline/transfer.hpp"

namespace pp {

struct PipelineOptions {
  std::size_t chunk_size = 512000;
  std::size_t window = 10;                    // chunks in flight, across all transfers
  std::size_t max_transfers = 16;             // transfers past the request stage at once
  std::size_t queue_limit = 1024;             // requests waiting for one; more are "busy"
  std::size_t max_request_bytes = 64 * 1024;  // larger request messages are refused unread
  double rate_limit = 0;  // requests per second per channel (token bucket); 0: no limit
  double rate_burst = 100;
  oci::RegistryAllowList allow;                     // registries requests may name
  std::uint64_t max_blob_size = 100 * 1024 * 1024;  // larger modules are refused before download
  std::string spool_dir = "/tmp";                   // where layers that need unpacking go
  BlobCache* cache = nullptr;                       // the module cache, when it is on
  int qos = 1;
  mqtt::StatusTopic status_topic;  // where status messages go
};

class Pipeline {
 public:
  // Set up before `mqtt` starts: the pipeline follows its connection.
  Pipeline(PipelineOptions options, oci::RegistryClient& registry, mqtt::Client& mqtt,
           Metrics& metrics);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Thread-safe, non-blocking: called from Paho's thread for every request message.
  void submit(Incoming incoming);

  // Requests accepted and not yet answered (queued or in transfer).
  std::size_t active() const;
  // Fails every active transfer with `error` (their downloads stop; their requesters are told) and
  // aborts every registry request, now and later: for shutdown only.
  void cancel_all(const Error& error);
  // Blocks until every message in the graph has been processed (call after intake stopped).
  void wait_idle();

  std::size_t joinable() const;  // entries of the coalescing table
  std::size_t queued() const;    // accepted requests waiting for a transfer slot
  std::size_t rate_limit_buckets() const;
  std::size_t window_in_use() const;
  std::size_t window_capacity() const;

 private:
  struct Graph;
  void remember(const TransferPtr& t);
  void forget(std::uint64_t id);

  std::unique_ptr<Graph> graph_;
  mutable std::mutex mutex_;
  std::unordered_map<std::uint64_t, std::weak_ptr<Transfer>> active_;
};

}  // namespace pp
