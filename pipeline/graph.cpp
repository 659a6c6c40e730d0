// The flow graph: its nodes, their edges and one-line adapters into the stages of nodes/. Nothing
// else: what a stage decides is in its own file there.
#include "pipeline/graph.hpp"

#include <oneapi/tbb/flow_graph.h>

#include "nodes/common/fault.hpp"
#include "nodes/model/window.hpp"
#include "nodes/stages/blob_download.hpp"
#include "nodes/stages/broker_recovery.hpp"
#include "nodes/stages/encode.hpp"
#include "nodes/stages/fetch.hpp"
#include "nodes/stages/intake.hpp"
#include "nodes/stages/layer_search.hpp"
#include "nodes/stages/manifest_resolve.hpp"
#include "nodes/stages/publish.hpp"
#include "nodes/stages/request.hpp"
#include "nodes/stages/resolution.hpp"
#include "nodes/stages/signature.hpp"
#include "nodes/stages/track.hpp"
#include "nodes/stages/verify.hpp"
#include "pipeline/adapters.hpp"

namespace pp {

namespace flow = oneapi::tbb::flow;
using flow::output_port;

struct Pipeline::Graph {
  Graph(PipelineOptions options, oci::Registry& registry, mqtt::Publisher& mqtt, Metrics& metrics);

  const PipelineOptions options;
  oci::Registry& registry;
  const trust::SignaturePolicy nobody;  // whose signatures are checked without options.signatures
  const trust::SignaturePolicy& signatures;
  // Shared between stages, each through a type made for it.
  ChunkWindow window;
  JoinTable joins;
  ActiveTransfers active;
  ChunkPublisher publisher;
  const ModuleResolution resolution;
  // The stages, each with its own state.
  RequestIntake intake;
  RequestStage request_stage;
  FetchStage fetch_stage;
  ManifestStage manifest_stage;
  SignatureStage signature_stage;
  LayerSearch layer_search;
  DownloadStage download_stage;
  VerifyStage verify_stage;
  Tracker tracker;
  BrokerRecovery recovery;
  TrackStage track_stage;

  // The graph's own context, so that its cancellation can be seen while it runs (graph's
  // is_cancelled() only tells after wait_for_all()).
  oneapi::tbb::task_group_context context;
  flow::graph g{context};
  using TrackOut = std::tuple<flow::continue_msg, TransferPtr>;
  // Fed one token per message waiting in the intake, which it reads round robin.
  flow::multifunction_node<flow::continue_msg, std::tuple<TransferPtr, TrackEvent>> request;
  flow::queue_node<TransferPtr> admission;
  flow::limiter_node<TransferPtr> transfer_limit;
  flow::multifunction_node<TransferPtr, std::tuple<TransferPtr, TrackEvent, TransferPtr>> fetch;
  flow::async_node<TransferPtr, ManifestResolved> manifest_resolve;
  flow::async_node<ManifestResolved, ManifestResolved> signature_check;
  flow::multifunction_node<ManifestResolved, std::tuple<TransferPtr, TrackEvent, TransferPtr>>
      layer_select;
  flow::async_node<TransferPtr, LayerSpooled> layer_spool;
  flow::multifunction_node<LayerSpooled, std::tuple<TransferPtr, TrackEvent, TransferPtr>>
      layer_unpack;
  flow::async_node<TransferPtr, ChunkPtr> blob_download;
  flow::function_node<ChunkPtr, ChunkPtr> chunk_encode;
  flow::sequencer_node<ChunkPtr> cut_order;
  flow::multifunction_node<ChunkPtr, std::tuple<PublicationPtr, TrackEvent>> verify;
  flow::async_node<PublicationPtr, TrackEvent> publish;
  flow::multifunction_node<TrackEvent, TrackOut> track;

  // What a stage's guard does with the transfer it was working on: fails it.
  auto fail_transfer(TransferPtr t) {
    return [this, t = std::move(t)](Error e) { track.try_put(TransferFailed{t, std::move(e)}); };
  }
  static void route_track(TrackStage::Next next,
                          flow::multifunction_node<TrackEvent, TrackOut>::output_ports_type& out) {
    for (TransferPtr& t : next.again)
      std::get<TrackStage::again>(out).try_put(std::move(t));
    if (next.slot_free) std::get<TrackStage::slot_free>(out).try_put(flow::continue_msg());
  }
};

// The whole pipeline, top to bottom: request → fetch → manifest-resolve → signature-check →
// layer-select → blob-download → chunk-encode → (cut order) → verify → publish → track, with the
// transfer limit between request and fetch and the chunk window between the download's cut and
// the broker's ack. The edges below are every way the data takes: a reference the cache answers
// skips the registry (fetch → blob-download), and the signature check with it (the cache keeps
// the verdict); a layer not labelled wasm detours through layer-spool ⇄ layer-unpack,
// one layer at a time; every stage that fails a transfer sends it to track; and track sends back
// to admission the transfers the proxy makes itself (a cached module found corrupt, chunks a
// broker restart may have lost).
Pipeline::Graph::Graph(PipelineOptions o, oci::Registry& registry_, mqtt::Publisher& mqtt,
                       Metrics& metrics)
    : options(std::move(o)),
      registry(registry_),
      signatures(options.signatures ? *options.signatures : nobody),
      window(options.window),
      active(options.chunk_size),
      publisher(mqtt, options.qos, options.status_topic),
      resolution(options.cache, options.max_blob_size, signatures, options.manifest_ttl),
      intake(options.max_request_bytes, options.intake_limit, metrics),
      request_stage({options.max_request_bytes, options.queue_limit, options.rate_limit,
                     options.rate_burst, options.allow, registry.default_registry()},
                    joins, active, metrics),
      fetch_stage(resolution, active, publisher),
      manifest_stage(registry, resolution),
      signature_stage(registry, signatures, metrics, options.manifest_ttl),
      layer_search(registry, resolution, publisher, options.spool_dir),
      download_stage(window, registry, options.cache, options.spool_dir, publisher),
      verify_stage(options.cache),
      tracker(
          window, metrics, options.broker_queue,
          [this](const Outcome& outcome) { publisher.publish_outcome(outcome); },
          [this](const Transfer& t) { publisher.publish_progress(t, "sending"); }),
      // What the broker may have lost, once it is back (track schedules it).
      recovery(resolution, active, publisher, registry.io(), options.resume_delay,
               [this](BrokerBack back) {
                 g.reserve_wait();
                 track.try_put(TrackEvent{back});
                 g.release_wait();
               }),
      track_stage(tracker, recovery, joins, active),
      // Serial, so that requests queue for a transfer slot in the order they arrived.
      request(g, flow::serial,
              [this](const flow::continue_msg&, auto& out) {
                const auto in = intake.take();
                if (!in) return;
                guarded(
                    "request", [&] { route(out, request_stage(*in)); },
                    [&](Error e) {
                      std::get<RequestStage::refused>(out).try_put(
                          request_stage.refusal(*in, std::move(e)));
                    });
              }),
      admission(g),
      transfer_limit(g, options.max_transfers),
      fetch(g, flow::unlimited,
            [this](const TransferPtr& t, auto& out) {
              guarded(
                  "fetch", [&] { route(out, fetch_stage(t)); }, fail_transfer(t));
            }),
      manifest_resolve(
          g, flow::unlimited,
          [this](const TransferPtr& t, auto& gw) {
            guarded(
                "manifest-resolve",
                [&] { manifest_stage.resolve(t, answer_through<oci::ResolvedManifest>(gw, t)); },
                fail_transfer(t));
          }),
      signature_check(g, flow::unlimited,
                      [this](const ManifestResolved& m, auto& gw) {
                        guarded(
                            "signature-check",
                            [&] {
                              signature_stage.check(m,
                                                    [hold = reserve(gw)](ManifestResolved checked) {
                                                      hold->put(std::move(checked));
                                                      hold->release();
                                                    });
                            },
                            fail_transfer(m.transfer));
                      }),
      layer_select(g, flow::unlimited,
                   [this](const ManifestResolved& m, auto& out) {
                     // Outside the guard on purpose: what happens when a body throws all the
                     // same (tests only; see Pipeline::broken).
                     fault_point("graph", m.transfer->request.app_name);
                     guarded(
                         "layer-select", [&] { route(out, manifest_stage.select(m)); },
                         fail_transfer(m.transfer));
                   }),
      layer_spool(
          g, flow::unlimited,
          [this](const TransferPtr& t, auto& gw) {
            guarded(
                "layer-spool",
                [&] { layer_search.spool(t, answer_through<std::shared_ptr<SpoolFile>>(gw, t)); },
                fail_transfer(t));
          }),
      // Hashing and decompression: CPU work, off the I/O thread.
      layer_unpack(g, flow::unlimited,
                   [this](const LayerSpooled& s, auto& out) {
                     guarded(
                         "layer-unpack", [&] { route(out, layer_search.unpack(s)); },
                         fail_transfer(s.transfer));
                   }),
      blob_download(g, flow::unlimited,
                    [this](const TransferPtr& t, auto& gw) {
                      guarded(
                          "blob-download", [&] { download_stage(t, chunks_through(gw)); },
                          fail_transfer(t));
                    }),
      // In parallel across chunks and transfers.
      chunk_encode(g, flow::unlimited,
                   [](const ChunkPtr& c) {
                     encode_chunk(*c);
                     return c;
                   }),
      // Restores cut order after the parallel encode: sha256 needs it, and proplets get chunks of
      // a transfer in chunk_idx order.
      cut_order(g, [](const ChunkPtr& c) { return c->seq; }),
      verify(g, flow::serial,
             [this](const ChunkPtr& c, auto& out) {
               auto next = verify_stage(c);
               if (next.publish) std::get<VerifyStage::to_publish>(out).try_put(next.publish);
               if (next.settle) std::get<VerifyStage::to_track>(out).try_put(*next.settle);
             }),
      // Serial keeps each transfer's chunks in chunk_idx order on the wire (the body only queues
      // the message with Paho, so one at a time costs nothing).
      publish(g, flow::serial,
              [this](const PublicationPtr& p, auto& gw) {
                // Whatever can throw in there does so before Paho has the message, so nothing
                // else will settle the chunk.
                guarded(
                    "publish",
                    [&] {
                      fault_point("publish", p->transfer->request.app_name);
                      publisher.publish(p, settled_through(gw));
                    },
                    [&](Error e) {
                      track.try_put(ChunkSettled{p->transfer, p->idx, p->last, false, std::move(e),
                                                 p->chunks});
                    });
              }),
      track(g, flow::serial, [this](const TrackEvent& e, auto& out) {
        guarded(
            "track", [&] { route_track(track_stage(e), out); },
            [&](Error error) { route_track(track_stage.abandon(e, std::move(error)), out); });
      }) {
  mqtt.on_connection([this](bool ready) { recovery.on_connection(ready); });

  flow::make_edge(output_port<RequestStage::accepted>(request), admission);
  flow::make_edge(output_port<RequestStage::refused>(request), track);
  flow::make_edge(admission, transfer_limit);
  flow::make_edge(transfer_limit, fetch);
  flow::make_edge(output_port<FetchStage::to_registry>(fetch), manifest_resolve);
  flow::make_edge(output_port<FetchStage::failed>(fetch), track);
  flow::make_edge(output_port<FetchStage::to_download>(fetch), blob_download);
  flow::make_edge(manifest_resolve, signature_check);
  flow::make_edge(signature_check, layer_select);
  flow::make_edge(output_port<ManifestStage::to_download>(layer_select), blob_download);
  flow::make_edge(output_port<ManifestStage::failed>(layer_select), track);
  flow::make_edge(output_port<ManifestStage::to_layers>(layer_select), layer_spool);
  flow::make_edge(layer_spool, layer_unpack);
  flow::make_edge(output_port<LayerSearch::to_download>(layer_unpack), blob_download);
  flow::make_edge(output_port<LayerSearch::failed>(layer_unpack), track);
  flow::make_edge(output_port<LayerSearch::next_layer>(layer_unpack), layer_spool);
  flow::make_edge(blob_download, chunk_encode);
  flow::make_edge(chunk_encode, cut_order);
  flow::make_edge(cut_order, verify);
  flow::make_edge(output_port<VerifyStage::to_publish>(verify), publish);
  flow::make_edge(output_port<VerifyStage::to_track>(verify), track);
  flow::make_edge(publish, track);
  flow::make_edge(output_port<TrackStage::slot_free>(track), transfer_limit.decrementer());
  flow::make_edge(output_port<TrackStage::again>(track), admission);
}

Pipeline::Pipeline(PipelineOptions options, oci::Registry& registry, mqtt::Publisher& mqtt,
                   Metrics& metrics)
    : graph_(std::make_unique<Graph>(std::move(options), registry, mqtt, metrics)) {}

Pipeline::~Pipeline() {
  graph_->recovery.stop();  // its timers put into the graph
  graph_->g.wait_for_all();
}

void Pipeline::submit(std::string_view topic, std::string_view payload) {
  if (graph_->intake.offer(topic, payload)) graph_->request.try_put(flow::continue_msg());
}

void Pipeline::flush_logs() {
  const auto now = RefusalLog::Clock::now();
  graph_->tracker.flush_log(now);
  graph_->intake.flush_log(now);
  graph_->signature_stage.flush_log(now);
}

void Pipeline::cancel_all(const Error& error) {
  graph_->active.cancel_all(error);
  // A registry that stopped answering would otherwise hold its transfers until their timeouts,
  // and a broker that is away their parked chunks.
  graph_->registry.io().abort_all(error.message);
  graph_->publisher.drop_parked(error);
}

bool Pipeline::abandon_all(const Error& error, std::chrono::milliseconds timeout) {
  return graph_->publisher.fail_all(graph_->active.snapshot(), error, timeout);
}

// clang-format off
void Pipeline::wait_idle() { graph_->g.wait_for_all(); }
bool Pipeline::broken() const { return graph_->context.is_group_execution_cancelled(); }
std::size_t Pipeline::intake() const { return graph_->intake.size(); }
std::size_t Pipeline::take_intake_peak() { return graph_->intake.take_peak(); }
std::uint64_t Pipeline::statuses_dropped() const { return graph_->publisher.statuses_dropped(); }
std::size_t Pipeline::active() const { return graph_->active.size(); }
std::size_t Pipeline::joinable() const { return graph_->joins.size(); }
std::size_t Pipeline::recently_finished() const { return graph_->recovery.recently_finished(); }
std::size_t Pipeline::queued() const { return graph_->active.queued(); }
std::size_t Pipeline::rate_limit_buckets() const { return graph_->request_stage.rate_limit_buckets(); }
std::size_t Pipeline::window_in_use() const { return graph_->window.in_use(); }
std::size_t Pipeline::window_capacity() const { return graph_->window.capacity(); }
// clang-format on

}  // namespace pp
