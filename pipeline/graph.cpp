#include "pipeline/graph.hpp"

#include <oneapi/tbb/flow_graph.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <functional>
#include <optional>
#include <tuple>

#include "nodes/blob_download.hpp"
#include "nodes/fault.hpp"
#include "nodes/intake.hpp"
#include "nodes/layer_unpack.hpp"
#include "nodes/log.hpp"
#include "nodes/publish.hpp"
#include "nodes/rate_limit.hpp"
#include "nodes/request.hpp"
#include "nodes/track.hpp"
#include "pipeline/window.hpp"

namespace pp {

namespace flow = oneapi::tbb::flow;
using ChunkPtr = std::shared_ptr<Chunk>;

// What an async stage's gateway hands back from the I/O thread: its result, or why there is none.
template <class T>
struct Answer {
  TransferPtr transfer;
  std::optional<T> value;
  std::optional<Error> error;
};
using ManifestResolved = Answer<oci::ResolvedManifest>;
using LayerSpooled = Answer<std::shared_ptr<SpoolFile>>;  // the layer being examined, on disk

// One of the graph's wait counts, held for an answer an async node's gateway gets from another
// thread: released once the answer is in (put() then release()), or when the last callback holding
// it is gone without one, so that an exception between the reservation and the hand-off cannot
// leave wait_for_all() waiting for ever.
template <class Gateway>
class WaitReservation {
 public:
  explicit WaitReservation(Gateway& gw) : gw_(gw) { gw_.reserve_wait(); }
  ~WaitReservation() { release(); }
  WaitReservation(const WaitReservation&) = delete;
  WaitReservation& operator=(const WaitReservation&) = delete;

  template <class Message>
  void put(Message&& message) {
    gw_.try_put(std::forward<Message>(message));
  }
  void release() {
    if (!released_.exchange(true)) gw_.release_wait();
  }

 private:
  Gateway& gw_;
  std::atomic<bool> released_{false};
};

template <class Gateway>
std::shared_ptr<WaitReservation<Gateway>> reserve(Gateway& gw) {
  return std::make_shared<WaitReservation<Gateway>>(gw);
}

// The callback that puts `t`'s answer through `gw`, keeping the graph's wait count up until then.
template <class T, class Gateway>
std::function<void(Expected<T>)> answer_through(Gateway& gw, TransferPtr t) {
  return [t = std::move(t), hold = reserve(gw)](Expected<T> result) {
    Answer<T> answer{t, std::nullopt, std::nullopt};
    if (result) {
      answer.value = std::move(result).value();
    } else {
      answer.error = result.error();
    }
    hold->put(std::move(answer));
    hold->release();
  };
}

// Runs a stage's body. What escapes it fails what the body was working on (`fail` gets a
// proxy_error naming the stage, which the transfer's one log line and status carry) and the graph
// goes on: oneTBB would cancel the whole graph instead, silently, and from then on no request
// would be answered (wait_for_all() rethrows only at shutdown).
template <class Body, class Fail>
void guarded(std::string_view stage, Body&& body, Fail&& fail) noexcept {
  auto problem = internal_error_in(stage, std::forward<Body>(body));
  if (!problem) return;
  if (!internal_error_in(stage, [&] { fail(*problem); })) return;
  log::error("internal error in a stage, and what it was working on could not be failed",
             {{"stage", stage}, {"error", problem->message}});
}

namespace {

// Requests join a transfer when they ask for the same app on the same channel: the answers of
// both go to the same topic.
std::string coalescing_key(const Request& r) {
  return r.origin.tenant + '\n' + r.origin.channel + '\n' + r.app_name;
}

std::string chunks_out_of_range(const Request& r, std::uint64_t total) {
  return "chunk " + std::to_string(r.chunks.back()) + " does not exist: " + r.app_name + " has " +
         std::to_string(total) + " chunks (0.." + std::to_string(total - 1) + ")";
}

}  // namespace

// At most this many layers are downloaded to look for the module in them (a wasm artifact has one
// or two; the bound is for hostile or mistaken manifests).
constexpr std::size_t kMaxLayersExamined = 8;

struct Pipeline::Graph {
  using Routed = std::tuple<TransferPtr, TrackEvent>;
  using RequestPorts = flow::multifunction_node<flow::continue_msg, Routed>::output_ports_type;
  // Where a transfer goes once its reference is parsed: to the registry for its manifest, failed,
  // or straight to its download when the cache knows what the reference resolves to.
  using Fetched = std::tuple<TransferPtr, TrackEvent, TransferPtr>;
  // Where a transfer goes once its layers are known: streamed, failed, or its layers examined.
  using Selected = std::tuple<TransferPtr, TrackEvent, TransferPtr>;

  Graph(Pipeline& owner, PipelineOptions options, oci::RegistryClient& registry, mqtt::Client& mqtt,
        Metrics& metrics);

  Pipeline& owner;
  const PipelineOptions options;
  oci::RegistryClient& registry;
  Metrics& metrics;
  ChunkWindow window;
  ChunkPublisher publisher;
  Tracker tracker;
  std::atomic<std::uint64_t> next_transfer_id{1};
  std::atomic<std::uint64_t> next_seq{0};
  std::atomic<std::size_t> waiting{0};  // accepted requests not yet past the transfer limit
  RateLimiter rate_limiter{options.rate_limit, options.rate_burst};
  Intake intake{options.intake_limit};
  // How refused requests (track) and requests dropped unread (submit) are logged in a flood.
  RefusalLog refusals;
  RefusalLog drops;
  // The transfer that requests for an app on a channel join, while it takes them (request stage
  // and track stage).
  std::mutex joinable_mutex;
  std::unordered_map<std::string, std::weak_ptr<Transfer>> joinable;

  // The graph's own context, so that its cancellation can be seen while it runs (graph's
  // is_cancelled() only tells after wait_for_all()).
  oneapi::tbb::task_group_context context;
  flow::graph g{context};
  // Fed one token per message waiting in the intake (see Intake), which it reads round robin.
  flow::multifunction_node<flow::continue_msg, Routed> request;
  flow::queue_node<TransferPtr> admission;
  flow::limiter_node<TransferPtr> transfer_limit;
  flow::multifunction_node<TransferPtr, Fetched> fetch;
  flow::async_node<TransferPtr, ManifestResolved> manifest_resolve;
  flow::multifunction_node<ManifestResolved, Selected> layer_select;
  flow::async_node<TransferPtr, LayerSpooled> layer_spool;
  flow::multifunction_node<LayerSpooled, Selected> layer_unpack;
  flow::async_node<TransferPtr, ChunkPtr> blob_download;
  flow::function_node<ChunkPtr, ChunkPtr> chunk_encode;
  flow::sequencer_node<ChunkPtr> cut_order;
  flow::multifunction_node<ChunkPtr, std::tuple<PublicationPtr, TrackEvent>> verify;
  flow::async_node<PublicationPtr, TrackEvent> publish;
  flow::multifunction_node<TrackEvent, std::tuple<flow::continue_msg>> track;

  // Stage bodies, in graph order.
  void on_request(const Incoming& in, RequestPorts& out);
  void on_fetch(const TransferPtr& t,
                flow::multifunction_node<TransferPtr, Fetched>::output_ports_type& out);
  void on_manifest(const TransferPtr& t,
                   flow::async_node<TransferPtr, ManifestResolved>::gateway_type& gw);
  void on_layer_select(
      const ManifestResolved& m,
      flow::multifunction_node<ManifestResolved, Selected>::output_ports_type& out);
  void on_layer_spool(const TransferPtr& t,
                      flow::async_node<TransferPtr, LayerSpooled>::gateway_type& gw);
  void on_layer_unpack(const LayerSpooled& s,
                       flow::multifunction_node<LayerSpooled, Selected>::output_ports_type& out);
  // Joins `request` to the transfer under way for its app and channel, if there is one that takes
  // it; refuses it when it asks for chunks the module does not have. True when it is answered.
  bool join_running(const Request& request, const Incoming& in, RequestPorts& out);
  void forget_joinable(const TransferPtr& t);
  // The module is known: what the later stages need to cut, frame and verify it, or why the
  // request cannot be answered with it. `resolved` when the registry was just asked what the
  // reference names (the cache remembers the answer).
  std::optional<Error> start_streaming(Transfer& t, oci::Descriptor module, bool resolved);
  // Starts `t` on the module the cache says its reference resolves to, when the cache has it and
  // the answer may be used (see BlobCache::usable); `manifest_digest`, when given, must match.
  // True when it did (`error` says why the request cannot have it, when it cannot).
  bool start_from_cache(Transfer& t, bool registry_down, std::optional<Error>& error,
                        const std::string& manifest_digest = {});
  // A transfer whose cached module was corrupt ends without an answer; this one gives it.
  void retry_without_cache(const TransferPtr& corrupt);
  // Queues a transfer the proxy made itself for a transfer slot.
  void readmit(TransferPtr t);

  // The broker connection. Lost, publishing closes (chunks park); back, it reopens
  // PROXY_MQTT_RESUME_DELAY later, when track has scheduled again what the broker may have lost
  // (see RecentAcks): proplets reconnect on their own schedule, and what is published before
  // they are subscribed again reaches nobody.
  void on_connection(bool ready);               // Paho's thread
  void broker_back(std::uint64_t change);       // the I/O thread, after the delay
  void on_broker_back(const BrokerBack& back);  // the track stage
  // A new transfer that sends `chunks` of `old` again, from what `old` kept of its module.
  void resend(const Transfer& old, std::vector<std::uint64_t> chunks);
  std::mutex connection_mutex;
  std::optional<Clock::time_point> lost_at;  // lost then, and not resumed since
  std::uint64_t connection_changes = 0;
  // Finished transfers whose last chunks a broker restart could still cost their requesters
  // (acknowledged within RecentAcks::kHorizon), newest last; track stage only. Bounded, for the
  // files they keep open.
  static constexpr std::size_t kRecentlyFinished = 64;
  std::deque<TransferPtr> recently_finished;
  std::atomic<std::size_t> recently_finished_count{0};
  // Lets a timer on the I/O thread reach the graph only while it exists.
  struct Alive {
    explicit Alive(Graph* g) : graph(g) {}
    std::mutex mutex;
    Graph* graph;
  };
  std::shared_ptr<Alive> alive = std::make_shared<Alive>(this);
  Error too_large(const Transfer& t, const oci::Descriptor& layer) const;
  void on_download(const TransferPtr& t, flow::async_node<TransferPtr, ChunkPtr>::gateway_type& gw);
  void on_publish(const PublicationPtr& p,
                  flow::async_node<PublicationPtr, TrackEvent>::gateway_type& gw);
  using TrackPorts =
      flow::multifunction_node<TrackEvent, std::tuple<flow::continue_msg>>::output_ports_type;
  void on_track(const TrackEvent& e, TrackPorts& out) {
    if (const auto* back = std::get_if<BrokerBack>(&e)) return on_broker_back(*back);
    on_finished(tracker.on_event(e), out);
  }
  // `finished` (when set) is over: it leaves the tables, and the transfer limit has room again.
  void on_finished(const TransferPtr& finished, TrackPorts& out);
  // What a stage's guard does with the transfer it was working on: fails it.
  auto fail_transfer(TransferPtr t) {
    return [this, t = std::move(t)](Error e) { track.try_put(TransferFailed{t, std::move(e)}); };
  }
};

// The whole pipeline, top to bottom: request → fetch → manifest-resolve → layer-select →
// blob-download → chunk-encode → (cut order) → verify → publish → track, with the transfer limit
// between request and fetch and the chunk window between the download's cut and the broker's ack.
// A layer not labelled wasm takes a detour, layer-spool → layer-unpack (looping over the layers
// until one holds the module), and its module is then streamed from the spool. A reference whose
// resolution the cache may answer skips the registry: fetch → blob-download. A transfer that found
// its cached module damaged leaves track for the admission queue again, to download it.
Pipeline::Graph::Graph(Pipeline& owner_, PipelineOptions options_, oci::RegistryClient& registry_,
                       mqtt::Client& mqtt, Metrics& metrics_)
    : owner(owner_),
      options(options_),
      registry(registry_),
      metrics(metrics_),
      window(options_.window),
      publisher(mqtt, options_.qos, options_.status_topic),
      tracker(
          window, metrics_, refusals, options_.broker_queue,
          [this](const Outcome& o) { publisher.publish_outcome(o); },
          [this](const Transfer& t) { publisher.publish_progress(t, "sending"); }),
      // Serial, so that requests queue for a transfer slot in the order they arrived (parsing a
      // request of at most 64 KiB costs microseconds).
      request(g, flow::serial,
              [this](const flow::continue_msg&, auto& out) {
                const auto next = intake.take();
                if (!next) return;
                const Incoming& in = *next;
                guarded(
                    "request", [&] { on_request(in, out); },
                    [&](Error e) {
                      // As far as the request can be read, so that its requester hears.
                      const ParsedRequest parsed = parse_request(in, options.max_request_bytes);
                      std::get<1>(out).try_put(RequestRejected{
                          in.topic, parsed.request.app_name, parsed.request.origin, std::move(e)});
                    });
              }),
      admission(g),
      transfer_limit(g, options_.max_transfers),
      fetch(g, flow::unlimited,
            [this](const TransferPtr& t, auto& out) {
              guarded(
                  "fetch", [&] { on_fetch(t, out); }, fail_transfer(t));
            }),
      manifest_resolve(g, flow::unlimited,
                       [this](const TransferPtr& t, auto& gw) {
                         guarded(
                             "manifest-resolve", [&] { on_manifest(t, gw); }, fail_transfer(t));
                       }),
      layer_select(g, flow::unlimited,
                   [this](const ManifestResolved& m, auto& out) {
                     // Outside the guard on purpose: what happens when a body throws all the
                     // same (tests only; see Pipeline::broken).
                     fault_point("graph", m.transfer->request.app_name);
                     guarded(
                         "layer-select", [&] { on_layer_select(m, out); },
                         fail_transfer(m.transfer));
                   }),
      layer_spool(g, flow::unlimited,
                  [this](const TransferPtr& t, auto& gw) {
                    guarded(
                        "layer-spool", [&] { on_layer_spool(t, gw); }, fail_transfer(t));
                  }),
      // Hashing and decompression: CPU work, off the I/O thread.
      layer_unpack(g, flow::unlimited,
                   [this](const LayerSpooled& s, auto& out) {
                     guarded(
                         "layer-unpack", [&] { on_layer_unpack(s, out); },
                         fail_transfer(s.transfer));
                   }),
      blob_download(g, flow::unlimited,
                    [this](const TransferPtr& t, auto& gw) {
                      guarded(
                          "blob-download", [&] { on_download(t, gw); }, fail_transfer(t));
                    }),
      // base64 + JSON framing: the CPU-heavy step, run in parallel across chunks and transfers.
      // A chunk it cannot frame still goes on, so that the sequencer sees every number, and is
      // settled by verify as not delivered.
      chunk_encode(g, flow::unlimited,
                   [](const ChunkPtr& c) {
                     guarded(
                         "chunk-encode",
                         [&] {
                           if (c->failure) return;
                           fault_point("chunk-encode", c->transfer->request.app_name);
                           c->message = c->transfer->framer->frame(c->idx, c->bytes);
                         },
                         [&](Error e) { c->error = std::move(e); });
                     return c;
                   }),
      // Restores cut order after the parallel encode: sha256 needs it, and proplets get chunks of
      // a transfer in chunk_idx order.
      cut_order(g, [](const ChunkPtr& c) { return c->seq; }),
      verify(
          g, flow::serial,
          [this](const ChunkPtr& c, auto& out) {
            const Chunk& seen = *c;  // what verify_chunk consumes, for the guard
            const TransferPtr t = seen.transfer;
            const std::uint64_t idx = seen.idx;
            const bool last = seen.last, failure = seen.failure.has_value();
            guarded(
                "verify",
                [&] {
                  fault_point("verify", t->request.app_name);
                  Verified v = verify_chunk(std::move(*c), options.cache);
                  if (v.publish) {
                    std::get<0>(out).try_put(std::make_shared<Publication>(std::move(*v.publish)));
                  }
                  if (v.settle) std::get<1>(out).try_put(std::move(*v.settle));
                },
                [&](Error e) {
                  if (failure) return fail_transfer(t)(std::move(e));
                  std::get<1>(out).try_put(ChunkSettled{t, idx, last, false, std::move(e)});
                });
          }),
      // Serial keeps each transfer's chunks in chunk_idx order on the wire (the body only queues
      // the message with Paho, so one at a time costs nothing).
      publish(
          g, flow::serial,
          [this](const PublicationPtr& p, auto& gw) {
            // Whatever can throw in there does so before Paho has the message, so nothing
            // else will settle the chunk.
            guarded(
                "publish", [&] { on_publish(p, gw); },
                [&](Error e) {
                  track.try_put(ChunkSettled{p->transfer, p->idx, p->last, false, std::move(e)});
                });
          }),
      track(g, flow::serial, [this](const TrackEvent& e, auto& out) {
        guarded(
            "track", [&] { on_track(e, out); },
            [&](Error error) { on_finished(tracker.abandon(e, std::move(error)), out); });
      }) {
  mqtt.on_connection([this](bool ready) { on_connection(ready); });

  flow::make_edge(flow::output_port<0>(request), admission);
  flow::make_edge(flow::output_port<1>(request), track);
  flow::make_edge(admission, transfer_limit);
  flow::make_edge(transfer_limit, fetch);
  flow::make_edge(flow::output_port<0>(fetch), manifest_resolve);
  flow::make_edge(flow::output_port<1>(fetch), track);
  flow::make_edge(flow::output_port<2>(fetch), blob_download);
  flow::make_edge(manifest_resolve, layer_select);
  flow::make_edge(flow::output_port<0>(layer_select), blob_download);
  flow::make_edge(flow::output_port<1>(layer_select), track);
  flow::make_edge(flow::output_port<2>(layer_select), layer_spool);
  flow::make_edge(layer_spool, layer_unpack);
  flow::make_edge(flow::output_port<0>(layer_unpack), blob_download);
  flow::make_edge(flow::output_port<1>(layer_unpack), track);
  flow::make_edge(flow::output_port<2>(layer_unpack), layer_spool);  // the next layer, if any
  flow::make_edge(blob_download, chunk_encode);
  flow::make_edge(chunk_encode, cut_order);
  flow::make_edge(cut_order, verify);
  flow::make_edge(flow::output_port<0>(verify), publish);
  flow::make_edge(flow::output_port<1>(verify), track);
  flow::make_edge(publish, track);
  flow::make_edge(flow::output_port<0>(track), transfer_limit.decrementer());
}

void Pipeline::Graph::on_finished(const TransferPtr& finished, TrackPorts& out) {
  if (!finished) return;
  forget_joinable(finished);
  owner.forget(finished->id);
  if (finished->error && finished->error->code == errc::cache_corrupt) {
    retry_without_cache(finished);
  }
  if (!finished->error) {
    // It was ending when the broker came back: what it kept serves the resends now.
    if (!finished->resend_when_over.empty()) {
      resend(*finished, std::move(finished->resend_when_over));
    } else if (!finished->acks.stale(Clock::now())) {
      recently_finished.push_back(finished);
      if (recently_finished.size() > kRecentlyFinished) recently_finished.pop_front();
      recently_finished_count.store(recently_finished.size());
    }
  }
  std::get<0>(out).try_put(flow::continue_msg());  // frees its place in the transfer limit
}

void Pipeline::Graph::on_connection(bool ready) {
  publisher.on_connection(ready);
  std::uint64_t change = 0;
  bool first = false;
  {
    std::lock_guard lock(connection_mutex);
    change = ++connection_changes;
    if (!ready) {
      if (!lost_at) lost_at = Clock::now();  // a loss during the delay keeps the first one's time
      return;
    }
    first = !lost_at;
  }
  if (first) return publisher.resume();  // nothing was lost: nothing to wait for
  registry.io().post_after(options.resume_delay, [alive = alive, change] {
    std::lock_guard lock(alive->mutex);
    if (alive->graph) alive->graph->broker_back(change);
  });
}

void Pipeline::Graph::broker_back(std::uint64_t change) {
  Clock::time_point lost;
  {
    std::lock_guard lock(connection_mutex);
    if (change != connection_changes || !lost_at) return;  // lost again meanwhile
    lost = *lost_at;
  }
  g.reserve_wait();
  track.try_put(TrackEvent{BrokerBack{lost, change}});
  g.release_wait();
}

void Pipeline::Graph::on_broker_back(const BrokerBack& back) {
  {
    std::lock_guard lock(connection_mutex);
    if (back.change != connection_changes) return;  // lost again meanwhile: its own turn comes
    lost_at.reset();
  }
  std::uint64_t transfers = 0, chunks = 0;
  for (const TransferPtr& t : owner.snapshot()) {
    std::vector<std::uint64_t> again = t->acks.to_resend();
    if (again.empty()) continue;
    ++transfers;
    chunks += again.size();
    // Resent after its stream, as for a request joining it; one that is ending does it once over.
    if (t->schedule.resend(again) != ChunkSchedule::Join::joined) {
      t->resend_when_over.insert(t->resend_when_over.end(), again.begin(), again.end());
    }
  }
  for (const TransferPtr& t : recently_finished) {
    if (t->acks.stale(back.lost_at)) continue;
    std::vector<std::uint64_t> again = t->acks.to_resend();
    ++transfers;
    chunks += again.size();
    resend(*t, std::move(again));
  }
  recently_finished.clear();
  recently_finished_count.store(0);
  log::info("publishing again after the broker came back",
            {{"transfers", transfers}, {"chunks_again", chunks}});
  publisher.resume();
}

void Pipeline::Graph::resend(const Transfer& old, std::vector<std::uint64_t> chunks) {
  std::sort(chunks.begin(), chunks.end());
  chunks.erase(std::unique(chunks.begin(), chunks.end()), chunks.end());
  Request request = old.request;
  request.chunks = std::move(chunks);
  request.digest = old.blob.digest;
  request.received = Clock::now();
  auto t = std::make_shared<Transfer>(next_transfer_id.fetch_add(1), std::move(request),
                                      options.chunk_size);
  t->ref = old.ref;
  t->manifest_digest = old.manifest_digest;
  t->module_file = old.module_file;
  t->from_cache = old.from_cache;
  t->after_broker_restart = true;
  if (auto error = start_streaming(*t, old.blob, false)) {
    log::warn("cannot send again what the broker may have lost",
              {{"app_name", old.request.app_name}, {"error", error->message}});
    return;
  }
  readmit(std::move(t));
}

void Pipeline::Graph::on_request(const Incoming& in, RequestPorts& out) {
  ParsedRequest parsed = parse_request(in, options.max_request_bytes);
  fault_point("request", parsed.request.app_name);
  const auto refuse = [&](Error error) {
    std::get<1>(out).try_put(RequestRejected{in.topic, parsed.request.app_name,
                                             parsed.request.origin, std::move(error)});
  };
  // Before the reference is parsed or any shared state touched: a flood costs one bounded JSON
  // parse per message, kept so that each refusal names the app it refuses (devices match statuses
  // by app_name).
  if (!parsed.request.origin.channel.empty()) {
    const auto verdict =
        rate_limiter.admit(parsed.request.origin.tenant + '/' + parsed.request.origin.channel,
                           RateLimiter::Clock::now());
    if (!verdict.admitted) {
      return refuse(
          Error{errc::busy, "channel is over its request rate of " +
                                std::to_string(static_cast<long long>(options.rate_limit)) +
                                "/s (PROXY_RATE_LIMIT, burst PROXY_RATE_BURST)"});
    }
  }
  if (parsed.error) return refuse(std::move(*parsed.error));
  auto ref = oci::parse_reference(parsed.request.app_name, registry.default_registry());
  if (!ref) return refuse(ref.error());
  if (!options.allow.allows(ref->registry)) {
    return refuse(Error{errc::not_allowed, "registry " + ref->registry +
                                               " is not one this proxy fetches from (allowed: " +
                                               options.allow.describe() +
                                               "; PROXY_REGISTRY_ALLOW adds registries)"});
  }
  if (join_running(parsed.request, in, out)) return;
  // A bounded wait: past the limit the requester hears "busy" now, rather than nothing ever.
  if (waiting.fetch_add(1) >= options.queue_limit) {
    waiting.fetch_sub(1);
    std::get<1>(out).try_put(
        RequestRejected{in.topic, parsed.request.app_name, parsed.request.origin,
                        Error{errc::busy, std::to_string(options.queue_limit) +
                                              " requests are already waiting for a transfer slot "
                                              "(PROXY_QUEUE_LIMIT); ask again later"}});
    return;
  }
  auto t = std::make_shared<Transfer>(next_transfer_id.fetch_add(1), std::move(parsed.request),
                                      options.chunk_size);
  t->ref = std::move(ref).value();
  // A transfer for particular chunks has no stream for others to join.
  if (t->request.chunks.empty()) {
    std::lock_guard lock(joinable_mutex);
    joinable[coalescing_key(t->request)] = t;
  }
  owner.remember(t);
  log::debug("request accepted", {{"app_name", t->request.app_name},
                                  log::if_set("tenant", t->request.origin.tenant),
                                  {"channel", t->request.origin.channel},
                                  {"transfer", t->id}});
  std::get<0>(out).try_put(std::move(t));
}

bool Pipeline::Graph::join_running(const Request& request, const Incoming& in, RequestPorts& out) {
  TransferPtr running;
  {
    std::lock_guard lock(joinable_mutex);
    const auto it = joinable.find(coalescing_key(request));
    if (it != joinable.end()) running = it->second.lock();
  }
  if (!running || running->failed.load()) return false;
  switch (running->schedule.join(request.chunks, request.digest)) {
    case ChunkSchedule::Join::refused:
      return false;
    case ChunkSchedule::Join::out_of_range:
      std::get<1>(out).try_put(
          RequestRejected{in.topic, request.app_name, request.origin,
                          Error{errc::invalid_request,
                                chunks_out_of_range(request, running->schedule.total_chunks())}});
      return true;
    case ChunkSchedule::Join::joined:
      break;
  }
  metrics.requests_joined.fetch_add(1, std::memory_order_relaxed);
  log::debug("request joined a transfer under way", {{"app_name", request.app_name},
                                                     log::if_set("tenant", request.origin.tenant),
                                                     {"channel", request.origin.channel},
                                                     {"transfer", running->id}});
  return true;
}

void Pipeline::Graph::forget_joinable(const TransferPtr& t) {
  std::lock_guard lock(joinable_mutex);
  const auto it = joinable.find(coalescing_key(t->request));
  if (it != joinable.end() && (it->second.expired() || it->second.lock() == t)) joinable.erase(it);
}

void Pipeline::Graph::on_fetch(
    const TransferPtr& t, flow::multifunction_node<TransferPtr, Fetched>::output_ports_type& out) {
  waiting.fetch_sub(1);
  fault_point("fetch", t->request.app_name);
  if (t->failed.load()) {
    std::get<1>(out).try_put(TransferFailed{t, cancelled_error()});
    return;
  }
  // A resend the proxy made itself knows its module already.
  if (t->framer) {
    std::get<2>(out).try_put(t);
    return;
  }
  std::optional<Error> error;
  if (start_from_cache(*t, false, error)) {
    if (error) {
      std::get<1>(out).try_put(TransferFailed{t, std::move(*error)});
    } else {
      std::get<2>(out).try_put(t);
    }
    return;
  }
  publisher.publish_progress(*t, "resolving");
  std::get<0>(out).try_put(t);
}

bool Pipeline::Graph::start_from_cache(Transfer& t, bool registry_down, std::optional<Error>& error,
                                       const std::string& manifest_digest) {
  BlobCache* cache = options.cache;
  if (!cache || !t.read_cache) return false;
  const auto resolution = cache->resolution(t.ref.str());
  if (!resolution) return false;
  if (!manifest_digest.empty() && resolution->manifest_digest != manifest_digest) return false;
  // Kept under a larger PROXY_MAX_BLOB_SIZE: the registry path says too_large.
  if (resolution->module.size > options.max_blob_size) return false;
  // A manifest just fetched makes the resolution current, whatever its age.
  if (manifest_digest.empty() &&
      !cache->usable(*resolution, !t.ref.digest.empty(), registry_down)) {
    return false;
  }
  auto file = cache->find(resolution->module);
  // Not cached (evicted, or too large to keep) but known: downloaded by its digest, which spares
  // the manifest request (the one a registry such as Docker Hub counts as a pull). Unless the
  // registry is down, or the module must be unpacked from its layer again.
  if (!file && (registry_down || !resolution->is_blob)) return false;
  t.manifest_digest = resolution->manifest_digest;
  t.module_file = std::move(file);
  t.from_cache = t.module_file != nullptr;
  if (registry_down && t.ref.digest.empty()) {
    log::warn(
        "registry unreachable; serving the tag as it resolved before",
        {{"app_name", t.request.app_name},
         {"digest", resolution->module.digest},
         {"resolved_s_ago",
          static_cast<long long>(std::chrono::duration_cast<std::chrono::seconds>(
                                     std::chrono::system_clock::now() - resolution->resolved_at)
                                     .count())}});
  }
  error = start_streaming(t, resolution->module, false);
  return true;
}

void Pipeline::Graph::retry_without_cache(const TransferPtr& corrupt) {
  log::warn("cached module was corrupt; downloading it again",
            {{"app_name", corrupt->request.app_name}, {"error", corrupt->error->message}});
  auto t = std::make_shared<Transfer>(next_transfer_id.fetch_add(1), corrupt->request,
                                      options.chunk_size);
  t->ref = corrupt->ref;
  t->read_cache = false;
  if (t->request.chunks.empty()) {
    std::lock_guard lock(joinable_mutex);
    joinable[coalescing_key(t->request)] = t;
  }
  readmit(std::move(t));
}

void Pipeline::Graph::readmit(TransferPtr t) {
  owner.remember(t);
  waiting.fetch_add(1);
  admission.try_put(std::move(t));
}

void Pipeline::Graph::on_manifest(
    const TransferPtr& t, flow::async_node<TransferPtr, ManifestResolved>::gateway_type& gw) {
  fault_point("manifest-resolve", t->request.app_name);
  registry.fetch_manifest(t->ref, answer_through<oci::ResolvedManifest>(gw, t));
}

void Pipeline::Graph::on_layer_select(
    const ManifestResolved& m,
    flow::multifunction_node<ManifestResolved, Selected>::output_ports_type& out) {
  const TransferPtr& t = m.transfer;
  fault_point("layer-select", t->request.app_name);
  // Cancelled first: a cancelled transfer's request was aborted, and that is not the registry's
  // error.
  if (t->failed.load()) {
    std::get<1>(out).try_put(TransferFailed{t, cancelled_error()});
    return;
  }
  if (m.error) {
    // Not an answer about the reference (as 401, 403 or 404 are) but the registry's trouble: what
    // the cache knows still serves.
    const bool registry_down =
        m.error->code == errc::registry_unavailable || m.error->code == errc::registry_error;
    std::optional<Error> error;
    if (registry_down && start_from_cache(*t, true, error)) {
      if (error) {
        std::get<1>(out).try_put(TransferFailed{t, std::move(*error)});
      } else {
        std::get<0>(out).try_put(t);
      }
      return;
    }
    std::get<1>(out).try_put(TransferFailed{t, *m.error});
    return;
  }
  auto choice = oci::select_wasm_layer(m.value->manifest);
  if (!choice) {
    std::get<1>(out).try_put(TransferFailed{
        t, Error{choice.error().code, "manifest " + t->ref.str() + ": " + choice.error().message}});
    return;
  }
  t->manifest_digest = m.value->digest;
  if (choice->labelled) {
    if (choice->labelled->size > options.max_blob_size) {
      std::get<1>(out).try_put(TransferFailed{t, too_large(*t, *choice->labelled)});
      return;
    }
    if (auto error = start_streaming(*t, std::move(*choice->labelled), true)) {
      std::get<1>(out).try_put(TransferFailed{t, std::move(*error)});
      return;
    }
    std::get<0>(out).try_put(t);
    return;
  }
  // The same manifest as the last time: its module was found in its layers then, and kept.
  std::optional<Error> error;
  if (start_from_cache(*t, false, error, t->manifest_digest)) {
    if (error) {
      std::get<1>(out).try_put(TransferFailed{t, std::move(*error)});
    } else {
      std::get<0>(out).try_put(t);
    }
    return;
  }
  // A layer too large to be served is not worth downloading to look into; when that is every
  // layer, that is the answer.
  for (const oci::Descriptor& layer : choice->by_content) {
    if (layer.size > options.max_blob_size) {
      t->rejections.push_back(too_large(*t, layer).message);
    } else if (t->candidates.size() < kMaxLayersExamined) {
      t->candidates.push_back(layer);
    }
  }
  if (t->candidates.empty()) {
    std::get<1>(out).try_put(TransferFailed{t, too_large(*t, choice->by_content.front())});
    return;
  }
  std::get<2>(out).try_put(t);
}

void Pipeline::Graph::on_layer_spool(
    const TransferPtr& t, flow::async_node<TransferPtr, LayerSpooled>::gateway_type& gw) {
  fault_point("layer-spool", t->request.app_name);
  if (t->next_candidate == 0) publisher.publish_progress(*t, "downloading");
  const auto reply = answer_through<std::shared_ptr<SpoolFile>>(gw, t);
  auto file = SpoolFile::create(options.spool_dir);
  if (!file) return reply(file.error());
  const oci::Descriptor layer = t->candidates[t->next_candidate];
  auto spooler = std::make_shared<LayerSpooler>(
      std::move(file).value(), layer, [t] { return t->failed.load(); }, reply);
  registry.io().post(
      [this, t, layer, spooler] { registry.fetch_blob(t->ref, layer.digest, spooler); });
}

void Pipeline::Graph::on_layer_unpack(
    const LayerSpooled& s,
    flow::multifunction_node<LayerSpooled, Selected>::output_ports_type& out) {
  const TransferPtr& t = s.transfer;
  const oci::Descriptor layer = t->candidates[t->next_candidate++];
  fault_point("layer-unpack", t->request.app_name);
  if (t->failed.load()) {  // before the error, as in layer-select
    std::get<1>(out).try_put(TransferFailed{t, cancelled_error()});
    return;
  }
  if (s.error) {
    std::get<1>(out).try_put(TransferFailed{t, *s.error});
    return;
  }
  auto unpacked = unpack_layer(*s.value, layer, options.spool_dir, options.max_blob_size);
  if (!unpacked) {
    Error error = unpacked.error();
    if (error.code == errc::no_wasm_layer) {
      t->rejections.push_back(std::move(error.message));
      if (t->next_candidate < t->candidates.size()) {
        std::get<2>(out).try_put(t);
        return;
      }
      std::string reasons;
      for (const auto& r : t->rejections)
        reasons += (reasons.empty() ? "" : "; ") + r;
      error.message = "manifest " + t->ref.str() + ": no layer holds a wasm module: " + reasons;
    }
    std::get<1>(out).try_put(TransferFailed{t, std::move(error)});
    return;
  }
  log::debug("layer unpacked", {{"app_name", t->request.app_name},
                                {"layer", layer.digest},
                                {"packaging", unpacked->packaging},
                                {"path", unpacked->path}});
  t->module_file = std::move(unpacked->file);
  // Its digest was computed as it was unpacked: it is verified by construction.
  if (options.cache) options.cache->store(t->module_file, unpacked->module);
  if (auto error = start_streaming(*t, std::move(unpacked->module), true)) {
    std::get<1>(out).try_put(TransferFailed{t, std::move(*error)});
    return;
  }
  std::get<0>(out).try_put(t);
}

std::optional<Error> Pipeline::Graph::start_streaming(Transfer& t, oci::Descriptor module,
                                                      bool resolved) {
  if (resolved && options.cache) {
    const BlobCache::Resolution r{t.manifest_digest, module, std::chrono::system_clock::now(),
                                  t.module_file == nullptr};
    options.cache->remember(t.ref.str(), r);
    // So that the manifest's digest, once seen, serves without the registry too (for an index,
    // the digest of the platform's manifest).
    if (t.ref.digest.empty()) {
      oci::Reference pinned = t.ref;
      pinned.tag.clear();
      pinned.digest = t.manifest_digest;
      options.cache->remember(pinned.str(), r);
    }
  }
  if (!t.module_file && options.cache && t.read_cache) {
    if (auto cached = options.cache->find(module)) {
      t.module_file = std::move(cached);
      t.from_cache = true;
    }
  }
  t.blob = std::move(module);
  t.hasher = oci::Hasher::for_digest(t.blob.digest);
  t.total_chunks = total_chunks(t.blob.size, t.chunk_size);
  if (!t.request.digest.empty() && t.request.digest != t.blob.digest) {
    return Error{errc::digest_mismatch, "the request pins " + t.request.digest + ", but " +
                                            t.ref.str() + " is now " + t.blob.digest};
  }
  if (!t.request.chunks.empty() && t.request.chunks.back() >= t.total_chunks) {
    return Error{errc::invalid_request, chunks_out_of_range(t.request, t.total_chunks)};
  }
  t.framer.emplace(t.request.app_name, t.blob.digest, t.blob.size, t.total_chunks);
  // Last: from here on the schedule lets requests join, and they read what is set above.
  if (t.request.chunks.empty()) {
    t.schedule.start_stream(t.total_chunks, t.blob.digest);
  } else {
    t.schedule.start_selection(t.total_chunks, t.blob.digest, t.request.chunks);
  }
  log::debug("resolved", {{"app_name", t.request.app_name},
                          {"manifest", t.manifest_digest},
                          {"digest", t.blob.digest},
                          {"size", t.blob.size},
                          {"chunks", t.total_chunks}});
  return std::nullopt;
}

Error Pipeline::Graph::too_large(const Transfer& t, const oci::Descriptor& layer) const {
  return Error{errc::too_large, "blob " + layer.digest + " of " + t.ref.str() + " is " +
                                    std::to_string(layer.size) +
                                    " bytes, over PROXY_MAX_BLOB_SIZE (" +
                                    std::to_string(options.max_blob_size) + ")"};
}

void Pipeline::Graph::on_download(const TransferPtr& t,
                                  flow::async_node<TransferPtr, ChunkPtr>::gateway_type& gw) {
  fault_point("blob-download", t->request.app_name);
  // A module from the spool was announced when its layer's download began.
  if (!t->module_file) publisher.publish_progress(*t, "downloading");
  auto cutter =
      std::make_shared<ChunkCutter>(t, window, registry, options.cache, options.spool_dir, next_seq,
                                    [hold = reserve(gw)](Chunk chunk) {
                                      const bool last = chunk.last;
                                      hold->put(std::make_shared<Chunk>(std::move(chunk)));
                                      if (last) hold->release();
                                    });
  registry.io().post([cutter] { cutter->begin(); });
}

void Pipeline::Graph::on_publish(const PublicationPtr& p,
                                 flow::async_node<PublicationPtr, TrackEvent>::gateway_type& gw) {
  fault_point("publish", p->transfer->request.app_name);
  publisher.publish(p, [hold = reserve(gw)](ChunkSettled settled) {
    hold->put(TrackEvent{std::move(settled)});
    hold->release();
  });
}

Pipeline::Pipeline(PipelineOptions options, oci::RegistryClient& registry, mqtt::Client& mqtt,
                   Metrics& metrics)
    : graph_(std::make_unique<Graph>(*this, options, registry, mqtt, metrics)) {}

Pipeline::~Pipeline() {
  {
    std::lock_guard lock(graph_->alive->mutex);
    graph_->alive->graph = nullptr;
  }
  graph_->g.wait_for_all();
}

std::vector<TransferPtr> Pipeline::snapshot() const {
  std::vector<TransferPtr> transfers;
  std::lock_guard lock(mutex_);
  for (const auto& [id, t] : active_)
    transfers.push_back(t);
  return transfers;
}

std::size_t Pipeline::recently_finished() const {
  return graph_->recently_finished_count.load();
}

void Pipeline::submit(std::string_view topic, std::string_view payload) {
  Graph& g = *graph_;
  // Decided here, before anything is copied or queued, so that a flood costs at most the intake
  // (PROXY_INTAKE_LIMIT × PROXY_MAX_REQUEST_BYTES) however fast it comes: the request stage
  // refuses, at its own pace, only what the intake holds. A dropped request gets no status: there
  // is nothing to answer it with that costs less than what was refused.
  std::string dropped_topic;
  const char* reason = "too_large";
  std::string why = "larger than PROXY_MAX_REQUEST_BYTES (" +
                    std::to_string(g.options.max_request_bytes) + " bytes)";
  if (payload.size() > g.options.max_request_bytes) {
    g.metrics.requests_dropped_too_large.fetch_add(1, std::memory_order_relaxed);
    dropped_topic = topic;
  } else {
    const auto origin = mqtt::Topics::origin_of_request(topic);
    Intake::Offered offered = g.intake.offer(
        origin ? origin->tenant + '/' + origin->channel : std::string(), topic, payload);
    if (offered.token) g.request.try_put(flow::continue_msg());
    if (!offered.dropped) return;
    g.metrics.requests_dropped_intake_full.fetch_add(1, std::memory_order_relaxed);
    dropped_topic = std::move(*offered.dropped);
    reason = "intake_full";
    why = std::to_string(g.options.intake_limit) +
          " received requests were waiting to be read (PROXY_INTAKE_LIMIT); the channel with the "
          "most waiting gave up its newest";
  }
  // One line a second for the whole intake, with what it held back.
  RefusalLog::HeldBack held_back;
  if (g.drops.note("", reason, RefusalLog::Clock::now(), held_back)) {
    log::warn("request dropped unread", {{"topic", dropped_topic},
                                         {"reason", reason},
                                         {"error", why},
                                         log::if_set("held_back", held_back.describe())});
  }
}

void Pipeline::flush_logs() {
  const auto now = RefusalLog::Clock::now();
  for (const auto& s : graph_->refusals.flush(now)) {
    log::warn("requests rejected without a line of their own",
              {{"channel", s.channel.empty() ? "(any)" : s.channel},
               {"held_back", s.held_back.describe()}});
  }
  for (const auto& s : graph_->drops.flush(now)) {
    log::warn("requests dropped unread without a line of their own",
              {{"held_back", s.held_back.describe()}});
  }
}

std::size_t Pipeline::intake() const {
  return graph_->intake.size();
}

std::size_t Pipeline::take_intake_peak() {
  return graph_->intake.take_peak();
}

std::uint64_t Pipeline::statuses_dropped() const {
  return graph_->publisher.statuses_dropped();
}

void Pipeline::remember(const TransferPtr& t) {
  std::lock_guard lock(mutex_);
  active_.emplace(t->id, t);
}

void Pipeline::forget(std::uint64_t id) {
  std::lock_guard lock(mutex_);
  active_.erase(id);
}

std::size_t Pipeline::active() const {
  std::lock_guard lock(mutex_);
  return active_.size();
}

void Pipeline::cancel_all(const Error& error) {
  const std::vector<TransferPtr> transfers = snapshot();
  // Marked failed first, so that the aborted requests' errors are read as the cancellation.
  for (const auto& t : transfers) {
    if (!t->failed.exchange(true)) {
      log::warn("cancelling transfer",
                {{"app_name", t->request.app_name}, {"reason", error.message}});
    }
  }
  // A registry that stopped answering would otherwise hold its transfers until their timeouts,
  // and a broker that is away their parked chunks.
  graph_->registry.io().abort_all(error.message);
  graph_->publisher.drop_parked(error);
}

void Pipeline::wait_idle() {
  graph_->g.wait_for_all();
}

bool Pipeline::broken() const {
  return graph_->context.is_group_execution_cancelled();
}

bool Pipeline::abandon_all(const Error& error, std::chrono::milliseconds timeout) {
  const std::vector<TransferPtr> transfers = snapshot();
  struct Pending {
    std::mutex mutex;
    std::condition_variable done;
    std::size_t left;
  };
  auto pending = std::make_shared<Pending>();
  pending->left = transfers.size();
  for (const auto& t : transfers) {
    graph_->publisher.publish_outcome(Outcome{t, nullptr, error}, [pending] {
      std::lock_guard lock(pending->mutex);
      if (--pending->left == 0) pending->done.notify_all();
    });
  }
  std::unique_lock lock(pending->mutex);
  return pending->done.wait_for(lock, timeout, [&] { return pending->left == 0; });
}

std::size_t Pipeline::joinable() const {
  std::lock_guard lock(graph_->joinable_mutex);
  return graph_->joinable.size();
}

std::size_t Pipeline::queued() const {
  return graph_->waiting.load();
}

std::size_t Pipeline::rate_limit_buckets() const {
  return graph_->rate_limiter.keys();
}

std::size_t Pipeline::window_in_use() const {
  return graph_->window.in_use();
}
std::size_t Pipeline::window_capacity() const {
  return graph_->window.capacity();
}

}  // namespace pp
