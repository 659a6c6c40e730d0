#pragma once
// A transfer is one request being answered: it flows through the graph as a shared pointer, and the
// messages below carry it from stage to stage. What it is and what it resolved to do not change
// once made (the const members, Module); what a stage changes is that stage's, in a type only it
// can change (LayerCandidates, TrackRecord) or said so below. Only the cancellation flag and the
// schedule are shared between stages that run at once, and they are made for it.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "nodes/clients/mqtt/topics.hpp"
#include "nodes/clients/oci/digest.hpp"
#include "nodes/clients/oci/manifest.hpp"
#include "nodes/clients/oci/reference.hpp"
#include "nodes/common/error.hpp"
#include "nodes/model/chunk.hpp"
#include "nodes/model/payload.hpp"
#include "nodes/model/recent_acks.hpp"
#include "nodes/model/schedule.hpp"
#include "nodes/trust/signature_check.hpp"

namespace pp {
class SpoolFile;
}

namespace pp {

using Clock = std::chrono::steady_clock;

// An MQTT message as it arrived on a request topic.
struct Incoming {
  std::string topic;
  Payload payload;
  Clock::time_point received = Clock::now();
};

// A validated request: what to fetch, and where to answer.
struct Request {
  std::string app_name;  // echoed verbatim in every chunk: proplets key on it
  mqtt::Origin origin;   // the tenant and channel whose topics get the answers
  // Only these chunks (ascending, no duplicates), when the request names some: a resend.
  std::vector<std::uint64_t> chunks;
  std::string digest;  // the module the requester is assembling, when it pins one
  Clock::time_point received;
};

// What a transfer resolved to: the module it sends. Made once, by the stage that resolved the
// reference (see ModuleResolution), before the download starts; read-only from then on, by every
// later stage and by the requests that join the transfer.
struct Module {
  Module(std::string manifest_digest_, oci::Descriptor blob_, std::string_view app_name,
         std::size_t chunk_size, std::optional<trust::CheckedSignature> signature_)
      : manifest_digest(std::move(manifest_digest_)),
        blob(std::move(blob_)),
        total_chunks(pp::total_chunks(blob.size, chunk_size)),
        framer(app_name, blob.digest, blob.size, total_chunks),
        signature(std::move(signature_)) {}

  const std::string manifest_digest;  // of the manifest (for an index, the platform's)
  const oci::Descriptor blob;  // the module as it is sent (the layer itself, or what was unpacked)
  const std::uint64_t total_chunks;
  const ChunkFramer framer;
  // The signature check's verdict, when the module's repository has its signatures checked: a
  // module is only started on a verified one, or in audit mode.
  const std::optional<trust::CheckedSignature> signature;
};

// The layers examined for the module when none is labelled wasm: found by layer-select, then
// layer-spool and layer-unpack take them one at a time (largest first) and note why each one held
// no module, for the error should none hold one. Those stages alone change it, one after the
// other as the transfer passes.
class LayerCandidates {
  friend class ManifestStage;
  friend class LayerSearch;
  std::vector<oci::Descriptor> layers_;
  std::size_t next_ = 0;
  std::vector<std::string> rejections_;
  std::string manifest_digest_;  // of the manifest that lists them
};

// What the track stage knows of a transfer, which it alone changes (it settles the transfer's
// chunks one at a time: no lock); others read what the accessors show.
class TrackRecord {
 public:
  std::uint64_t delivered() const { return delivered_; }  // chunks the broker acknowledged

 private:
  friend class Tracker;
  friend class TrackStage;
  friend class BrokerRecovery;
  RecentAcks acks_;  // for resends after a broker restart
  // Chunks to send again once this transfer is over (it was ending when the broker came back).
  std::vector<std::uint64_t> resend_when_over_;
  std::uint64_t delivered_ = 0;
  Clock::time_point last_progress_{};  // of the last "sending" status and progress log line
  // The chunks the download emitted in all, once its last item (last chunk or failure) has been
  // settled; and how many have been.
  std::optional<std::uint64_t> emitted_;
  std::uint64_t settled_ = 0;
  bool finished_ = false;       // reported: whatever still arrives for it only settles its credits
  std::optional<Error> error_;  // the first failure
};

// Why a transfer exists: a request, or the proxy's own doing for an earlier transfer's requesters.
enum class Made {
  by_request,
  after_broker_restart,  // to send again what a broker restart may have lost
  after_corrupt_cache,   // to download again a cached module that was found corrupt
};

struct Transfer {
  Transfer(std::uint64_t id_, Request request_, oci::Reference ref_, std::size_t chunk_size_,
           Made made_ = Made::by_request)
      : id(id_),
        request(std::move(request_)),
        ref(std::move(ref_)),
        chunk_size(chunk_size_),
        made(made_) {
    live.fetch_add(1, std::memory_order_relaxed);
  }
  ~Transfer() { live.fetch_sub(1, std::memory_order_relaxed); }
  Transfer(const Transfer&) = delete;
  Transfer& operator=(const Transfer&) = delete;

  // Transfers in memory: queued, running, or finishing. 0 when idle, or something holds on to one.
  static inline std::atomic<std::int64_t> live{0};

  const std::uint64_t id;
  const Request request;
  const oci::Reference ref;
  const std::size_t chunk_size;
  const Made made;
  bool read_cache() const { return made != Made::after_corrupt_cache; }

  // Set once, before the download (see Module); the edges that take the transfer on order it.
  std::shared_ptr<const Module> module;
  // What is sent, as requests join (the request stage) and chunks are cut (the download).
  ChunkSchedule schedule;

  // The layer-search stages' (see LayerCandidates).
  LayerCandidates layers;
  // What the module's signatures were found to be, for the Module: set by signature-check, or
  // from the cache (or the earlier transfer, for a resend), before the module is started.
  std::optional<trust::CheckedSignature> signature;
  // The module on the proxy's disk. Set at most once, and handed on as the transfer goes: by the
  // stage that resolved the transfer (the cache's copy, or the layer unpacked to the spool), else
  // by the download (the cache's copy it found after waiting for another download of the module,
  // or, once its last chunk is out, the copy it made as the module streamed); read after that by
  // verify (was it the cache's?) and, once the transfer is over, by track's resends.
  std::shared_ptr<SpoolFile> module_file;
  bool from_cache = false;  // module_file is the cache's copy
  // Its chunks are fetched with ranged GETs, which cannot be checked against the blob's digest:
  // particular chunks were asked for, and the proxy has the module on no disk of its own.
  bool unverified() const { return !request.chunks.empty() && !module_file; }

  // Set by whichever stage first sees the transfer fail; the download stops at its next bytes.
  std::atomic<bool> failed{false};

  // The track stage's (see TrackRecord).
  TrackRecord tracked;
};

using TransferPtr = std::shared_ptr<Transfer>;

// What an asynchronous stage gets back from the I/O thread for a transfer: its result, or why
// there is none.
template <class T>
struct Answer {
  TransferPtr transfer;
  std::optional<T> value;
  std::optional<Error> error;
};

// A cut chunk on its way to publication, or the failure that ended a download. `seq` numbers every
// item the downloads emit, across transfers and without gaps, so that the sequencer can restore cut
// order after the parallel encode stage.
struct Chunk {
  TransferPtr transfer;
  std::uint64_t seq = 0;
  std::uint64_t idx = 0;
  bool last = false;             // the download's final item: nothing of this transfer follows
  std::uint64_t chunks = 0;      // on the final item: the chunks the download emitted in all
  bool streamed = false;         // part of the stream, whose digest is checked at its last chunk
  std::string bytes;             // blob bytes (freed after verify)
  std::string message;           // the framed MQTT payload (set by encode)
  std::optional<Error> failure;  // set on a failure item, which carries no bytes and no credit
  // Set on a chunk a stage could not handle (an internal error): it still holds its credit, and is
  // settled as not delivered, which fails its transfer.
  std::optional<Error> error;
  // On the stream's final chunk, when the download kept a copy of the module in the cache: the
  // copy, for the verify stage to have it stored once the digest matched, and the cache's lock
  // for writing that digest, held until then and by the store until it is done (type-erased:
  // BlobCache::WriterLock).
  std::shared_ptr<SpoolFile> stream_copy;
  std::shared_ptr<void> cache_lock;
};

// A verified chunk message, ready for the broker.
struct Publication {
  TransferPtr transfer;
  std::uint64_t seq = 0;  // the chunk's, for publishing parked chunks in cut order
  std::uint64_t idx = 0;
  bool last = false;
  std::uint64_t chunks = 0;  // see Chunk
  std::string message;
};

using ChunkPtr = std::shared_ptr<Chunk>;
using PublicationPtr = std::shared_ptr<Publication>;

// A chunk's flight is over (acknowledged, refused by the broker, or dropped): its credit returns.
struct ChunkSettled {
  TransferPtr transfer;
  std::uint64_t idx = 0;
  bool last = false;
  bool delivered = false;
  std::optional<Error> error;  // why it was not delivered, when that failed the transfer
  std::uint64_t chunks = 0;    // see Chunk
};

// The transfer failed with no chunk in hand; nothing more of it will come from the download.
struct TransferFailed {
  TransferPtr transfer;
  Error error;
  std::uint64_t chunks = 0;  // emitted by its download before it failed (see Chunk)
};

// A request refused before it became a transfer.
struct RequestRejected {
  std::string topic;  // where it came from (not the payload: refusals of a flood queue for track)
  std::string app_name;  // when the payload had one
  mqtt::Origin origin;   // when the topic had one (else the channel is empty)
  Error error;
};

// The broker connection, lost at `lost_at`, is back and publishing may resume: what the broker may
// have lost is to be sent again (the track stage knows what it acknowledged).
struct BrokerBack {
  Clock::time_point lost_at;
  std::uint64_t change = 0;  // of the connection, so that a later loss cancels it
};

using TrackEvent = std::variant<ChunkSettled, TransferFailed, RequestRejected, BrokerBack>;

// How a request ended, for its requester and the log.
struct Outcome {
  TransferPtr transfer;  // null for a request refused before it became a transfer
  const RequestRejected* rejected = nullptr;
  std::optional<Error> error;  // nullopt: every chunk delivered and the digest verified
};

// The app an event is about.
inline const std::string& app_name_of(const TrackEvent& event) {
  static const std::string none;
  return std::visit(
      [](const auto& e) -> const std::string& {
        using E = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<E, RequestRejected>) {
          return e.app_name;
        } else if constexpr (std::is_same_v<E, BrokerBack>) {
          return none;
        } else {
          return e.transfer->request.app_name;
        }
      },
      event);
}

}  // namespace pp
