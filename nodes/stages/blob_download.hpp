#pragma once
// The blob-download stage: streams a module from the registry (or from the spool it was unpacked
// to) and cuts it into chunks as the bytes arrive, never holding more than one chunk of it in
// memory. A chunk needs a window credit before its first byte is stored; without one the download
// pauses, so a slow broker slows the registry read instead of filling memory. The stream's final
// chunk is held back until the response is complete and its length checked, so nothing after it
// can be missed.
//
// A module streamed from the registry is also written to an anonymous file as it passes, so that
// requests which join the transfer late get the chunks they missed once the stream is over (see
// ChunkSchedule): read back from disk, one credit at a time. With the cache on, that file is in the
// cache and the verify stage stores it there once the digest matched; a transfer whose module is
// being downloaded by another waits for it and reads the cached module. A transfer for particular
// chunks reads them from the cache or the spool its module was unpacked to, or fetches each with a
// ranged GET.
//
// Everything in ChunkCutter runs on the HTTP I/O thread.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "nodes/clients/oci/registry_client.hpp"
#include "nodes/model/transfer.hpp"
#include "nodes/model/window.hpp"
#include "nodes/stages/publish.hpp"
#include "nodes/store/cache.hpp"

namespace pp {

class ChunkCutter : public oci::BlobSink, public std::enable_shared_from_this<ChunkCutter> {
 public:
  using Emit = std::function<void(Chunk)>;

  // `emit` puts an item into the graph; it is called for every chunk and exactly once with `last`
  // set (the final chunk or the failure). `seq` numbers items across all downloads. The copy of
  // the stream is made in the cache, or in `spool_dir` when there is none.
  ChunkCutter(TransferPtr transfer, ChunkWindow& window, oci::Registry& registry, BlobCache* cache,
              std::string spool_dir, std::atomic<std::uint64_t>& seq, Emit emit);

  // Starts the download. Call on the I/O thread (through HttpIo::post).
  void begin();

  // The stream's bytes.
  std::size_t on_data(const char* data, std::size_t size) override;
  void on_end(std::optional<Error> error) override;

 private:
  void start();
  std::size_t take_data(const char* data, std::size_t size);
  void end(std::optional<Error> error);
  void take_range(std::uint64_t idx, bool last, Expected<std::string> bytes);
  // The module is not cached: download it, unless another transfer is already doing so.
  void claim_download();
  void stream_file(std::shared_ptr<SpoolFile> file);
  void download(std::shared_ptr<SpoolFile> copy);
  bool take_credit();
  void on_credit();
  void place(const char* data, std::size_t size);
  void finish_stream();
  // The scheduled chunks after the stream (or instead of it), one at a time.
  void send_next();
  void read_spooled(std::uint64_t idx, bool last);
  void fetch_range(std::uint64_t idx, bool last);
  void fail(Error error);
  void emit_chunk(std::uint64_t idx, bool last, bool streamed);
  // Runs a step of the download (on the I/O thread, outside the graph, so the stage's guard in
  // the graph does not cover it); what escapes the step fails the transfer with proxy_error.
  template <class Step>
  void guarded(Step&& step) noexcept;

  TransferPtr transfer_;
  ChunkWindow& window_;
  oci::Registry& registry_;
  BlobCache* const cache_;
  const std::string spool_dir_;
  std::atomic<std::uint64_t>& seq_;
  Emit emit_;

  // Where the download is. Each phase says where the bytes come from and what happens to them.
  enum class Phase {
    starting,
    claiming,   // another download of the module holds the cache's lock: polled until it is free
    streaming,  // the module arrives, from the registry (kept in spool_ as it passes) or spool_
    draining,   // its response is over; the last bytes, and the final chunk, wait for a credit
    scheduled,  // the chunks scheduled after the stream (or instead of it): read back from spool_,
                // or, without one, fetched with ranged GETs
    done,       // the final item is out
  };
  // The window credit for current_.
  enum class Credit { none, asked, held };

  Phase phase_ = Phase::starting;
  Credit credit_ = Credit::none;
  bool from_registry_ = false;  // streaming from the registry (not spool_): spool_ is its copy
  std::shared_ptr<oci::Registry::Call> download_;
  std::shared_ptr<SpoolFile> spool_;  // the module on disk, for everything after the stream
  std::string current_;               // the chunk being filled
  std::string carry_;                 // bytes received while out of credit (one read's worth)
  std::uint64_t next_idx_ = 0;        // of the stream
  std::uint64_t received_ = 0;
  std::uint64_t emitted_ = 0;  // chunks, for track to know when every one of them is settled
  std::optional<Error> abort_reason_;  // why we aborted the stream ourselves
  // The cache's lock for the module this transfer downloads into spool_ (it goes, with spool_, on
  // the stream's final chunk to the verify stage, which has the module stored), and when it last
  // showed progress.
  std::shared_ptr<BlobCache::WriterLock> writer_lock_;
  std::chrono::steady_clock::time_point last_heartbeat_{};
  static constexpr auto kWriterStalled = std::chrono::seconds(30);
};

// The blob-download stage: starts each transfer's ChunkCutter on the I/O thread. Owns the
// numbering of the items every download emits (see Chunk::seq).
class DownloadStage {
 public:
  DownloadStage(ChunkWindow& window, oci::Registry& registry, BlobCache* cache,
                std::string spool_dir, ChunkPublisher& publisher)
      : window_(window),
        registry_(registry),
        cache_(cache),
        spool_dir_(std::move(spool_dir)),
        publisher_(publisher) {}

  void operator()(const TransferPtr& t, ChunkCutter::Emit emit);

 private:
  ChunkWindow& window_;
  oci::Registry& registry_;
  BlobCache* const cache_;
  const std::string spool_dir_;
  ChunkPublisher& publisher_;
  std::atomic<std::uint64_t> next_seq_{0};
};

}  // namespace pp
