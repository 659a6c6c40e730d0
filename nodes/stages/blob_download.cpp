#include "nodes/stages/blob_download.hpp"

#include <algorithm>
#include <cstring>

#include "nodes/common/fault.hpp"
#include "nodes/common/log.hpp"
#include "nodes/store/spool.hpp"

namespace pp {

namespace {

void count_cache_use(BlobCache& cache, bool hit) {
  auto& counter = hit ? cache.counters().hits : cache.counters().misses;
  counter.fetch_add(1, std::memory_order_relaxed);
}

// One chunk's bytes from a ranged GET; its window credit is already taken, so it is collected
// whole (at most a chunk) rather than paused.
class RangeReader : public oci::BlobSink {
 public:
  using Done = std::function<void(Expected<std::string>)>;
  RangeReader(std::string what, std::size_t length, Done done)
      : what_(std::move(what)), length_(length), done_(std::move(done)) {
    bytes_.reserve(length);
  }

  std::size_t on_data(const char* data, std::size_t size) override {
    // The registry client never offers more than the range; more would be its bug.
    const std::size_t n = std::min(size, length_ - bytes_.size());
    bytes_.append(data, n);
    return size;
  }

  void on_end(std::optional<Error> error) override {
    if (error) return done_(std::move(*error));
    if (bytes_.size() != length_) {
      return done_(Error{errc::size_mismatch, what_ + ": the registry sent " +
                                                  std::to_string(bytes_.size()) + " of the " +
                                                  std::to_string(length_) + " bytes asked for"});
    }
    done_(std::move(bytes_));
  }

 private:
  std::string what_;
  std::size_t length_;
  Done done_;
  std::string bytes_;
};

}  // namespace

ChunkCutter::ChunkCutter(TransferPtr transfer, ChunkWindow& window, oci::Registry& registry,
                         BlobCache* cache, std::string spool_dir, std::atomic<std::uint64_t>& seq,
                         Emit emit)
    : transfer_(std::move(transfer)),
      window_(window),
      registry_(registry),
      cache_(cache),
      spool_dir_(std::move(spool_dir)),
      seq_(seq),
      emit_(std::move(emit)) {}

template <class Step>
void ChunkCutter::guarded(Step&& step) noexcept {
  auto problem = internal_error_in("blob-download", std::forward<Step>(step));
  if (problem && phase_ != Phase::done) fail(std::move(*problem));
}

void ChunkCutter::begin() {
  guarded([this] { start(); });
}

void ChunkCutter::start() {
  spool_ = transfer_->module_file;
  if (!transfer_->request.chunks.empty()) {
    if (cache_) count_cache_use(*cache_, transfer_->from_cache);
    phase_ = Phase::scheduled;
    return send_next();
  }
  if (spool_) {
    if (cache_) count_cache_use(*cache_, transfer_->from_cache);
    return stream_file(spool_);
  }
  if (cache_) return claim_download();
  auto file = SpoolFile::create(spool_dir_);
  if (!file) return fail(file.error());
  download(std::move(file).value());
}

void ChunkCutter::claim_download() {
  if (transfer_->failed.load()) return fail(cancelled_error());
  auto lock = cache_->try_lock(transfer_->module->blob.digest);
  if (!lock && phase_ != Phase::claiming) {
    log::debug(
        "waiting for another download of the module",
        {{"app_name", transfer_->request.app_name}, {"digest", transfer_->module->blob.digest}});
    phase_ = Phase::claiming;
  }
  // The writer may be stalled by what this transfer does not share (another process's broker, a
  // registry connection of its own): once it has shown no progress for a while, this one
  // downloads too, and whichever stores the module second finds it there.
  if (!lock && cache_->writer_idle_for(transfer_->module->blob.digest) >= kWriterStalled) {
    log::info(
        "the other download of the module is stalled; downloading it too",
        {{"app_name", transfer_->request.app_name}, {"digest", transfer_->module->blob.digest}});
    lock = std::make_unique<BlobCache::WriterLock>(-1, std::string());
  }
  if (!lock) {
    // Polled, not notified: the other writer may be another process sharing the cache.
    registry_.io().post_after(std::chrono::milliseconds(100), [self = shared_from_this()] {
      self->guarded([&] { self->claim_download(); });
    });
    return;
  }
  // Stored by whoever held the lock before us; else that download failed, and this one takes over.
  if (transfer_->read_cache()) {
    // Not hashed here (this is the I/O thread): whoever stored it checked it as it streamed.
    if (auto cached = cache_->find(transfer_->module->blob, false)) {
      count_cache_use(*cache_, true);
      transfer_->module_file = spool_ = cached;
      transfer_->from_cache = true;
      return stream_file(std::move(cached));
    }
  }
  count_cache_use(*cache_, false);
  auto file = cache_->create_temp();
  if (!file) return fail(file.error());
  writer_lock_ = std::move(lock);
  download(std::move(file).value());
}

void ChunkCutter::stream_file(std::shared_ptr<SpoolFile> file) {
  phase_ = Phase::streaming;
  download_ = stream_spool_file(registry_.io(), std::move(file), shared_from_this());
}

void ChunkCutter::download(std::shared_ptr<SpoolFile> copy) {
  phase_ = Phase::streaming;
  spool_ = std::move(copy);
  from_registry_ = true;
  download_ =
      registry_.fetch_blob(transfer_->ref, transfer_->module->blob.digest, shared_from_this());
}

bool ChunkCutter::take_credit() {
  if (credit_ == Credit::held) return true;
  const bool granted = window_.acquire_or_wait([self = shared_from_this()] {
    // Called on whichever thread released the credit: move back to the I/O thread.
    self->registry_.io().post([self] { self->guarded([&] { self->on_credit(); }); });
  });
  credit_ = granted ? Credit::held : Credit::asked;
  if (granted) current_.reserve(transfer_->chunk_size);
  return granted;
}

void ChunkCutter::on_credit() {
  if (phase_ == Phase::done) {  // the transfer ended while we waited: the credit is not ours
    credit_ = Credit::none;
    window_.release();
    return;
  }
  credit_ = Credit::held;
  if (transfer_->failed.load()) {
    if (phase_ == Phase::streaming) {
      download_->cancel();  // on_end follows with the failure
    } else {
      fail(cancelled_error());
    }
    return;
  }
  if (phase_ == Phase::scheduled) return send_next();
  current_.reserve(transfer_->chunk_size);
  std::string pending = std::move(carry_);
  carry_.clear();
  place(pending.data(), pending.size());
  if (credit_ == Credit::asked) return;
  if (phase_ == Phase::draining) {
    finish_stream();
  } else {
    download_->resume();
  }
}

std::size_t ChunkCutter::on_data(const char* data, std::size_t size) {
  std::size_t taken = 0;
  if (auto problem = internal_error_in("blob-download", [&] { taken = take_data(data, size); })) {
    abort_reason_ = std::move(problem);  // on_end follows the abort, and fails the transfer
    return 0;
  }
  return taken;
}

std::size_t ChunkCutter::take_data(const char* data, std::size_t size) {
  if (phase_ == Phase::done) return 0;
  if (transfer_->failed.load()) {
    abort_reason_ = cancelled_error();
    return 0;
  }
  // Out of credit: curl keeps these bytes and offers them again after resume().
  if (credit_ == Credit::asked) return oci::HttpHandler::kPause;
  if (auto error = oci::check_blob_size(received_ + size, transfer_->module->blob, false)) {
    abort_reason_ = std::move(error);
    return 0;
  }
  if (from_registry_) {
    if (auto error = spool_->append(data, size)) {
      abort_reason_ = std::move(error);
      return 0;
    }
  }
  if (writer_lock_) {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_heartbeat_ >= std::chrono::seconds(1)) {
      writer_lock_->heartbeat();
      last_heartbeat_ = now;
    }
  }
  received_ += size;
  fault_point("blob-download-io", transfer_->request.app_name);
  place(data, size);
  return size;
}

void ChunkCutter::place(const char* data, std::size_t size) {
  const std::size_t chunk = transfer_->chunk_size;
  while (size > 0) {
    if (!take_credit()) {
      carry_.append(data, size);
      return;
    }
    const std::size_t n = std::min(size, chunk - current_.size());
    current_.append(data, n);
    data += n;
    size -= n;
    // The final chunk waits for the end of the response (see finish_stream()).
    if (current_.size() == chunk && next_idx_ + 1 < transfer_->module->total_chunks) {
      // Recorded before the chunk goes out, so that a request joining from now on has it resent.
      transfer_->schedule.cut(next_idx_);
      emit_chunk(next_idx_++, false, true);
    }
  }
}

void ChunkCutter::on_end(std::optional<Error> error) {
  guarded([&] { end(std::move(error)); });
}

void ChunkCutter::end(std::optional<Error> error) {
  if (phase_ == Phase::done) return;
  phase_ = Phase::draining;
  if (abort_reason_) return fail(*abort_reason_);
  // A cancelled transfer's download was aborted: that is the cancellation, not a registry error.
  if (error && transfer_->failed.load()) return fail(cancelled_error());
  if (error) return fail(std::move(*error));
  // Else on_credit() finishes once the carried bytes are placed.
  if (credit_ != Credit::asked) finish_stream();
}

void ChunkCutter::finish_stream() {
  if (auto error = oci::check_blob_size(received_, transfer_->module->blob, true)) {
    return fail(std::move(*error));
  }
  if (!take_credit()) return;  // a zero-byte blob's only chunk has not asked for one yet
  phase_ = Phase::scheduled;
  download_.reset();  // the download holds this sink: the handle must not hold it back
  const bool last = transfer_->schedule.stream_ended();
  emit_chunk(next_idx_, last, true);
  if (!last) send_next();
}

void ChunkCutter::send_next() {
  if (transfer_->failed.load()) return fail(cancelled_error());
  if (!take_credit()) return;  // on_credit() comes back here
  const ChunkSchedule::Next next = transfer_->schedule.take_next();
  if (spool_) return read_spooled(next.idx, next.last);
  fetch_range(next.idx, next.last);
}

void ChunkCutter::read_spooled(std::uint64_t idx, bool last) {
  const std::size_t length = chunk_length(transfer_->module->blob.size, transfer_->chunk_size, idx);
  current_.resize(length);
  for (std::size_t got = 0; got < length;) {
    const ssize_t n =
        spool_->read_at(idx * transfer_->chunk_size + got, current_.data() + got, length - got);
    if (n <= 0) {
      return fail(Error{errc::proxy_error, std::string("cannot read the spooled module back: ") +
                                               (n < 0 ? std::strerror(errno) : "it is short")});
    }
    got += static_cast<std::size_t>(n);
  }
  emit_chunk(idx, last, false);
  // The next one is a task of its own, so that other exchanges on the I/O thread keep moving.
  if (!last) {
    registry_.io().post([self = shared_from_this()] { self->guarded([&] { self->send_next(); }); });
  }
}

void ChunkCutter::fetch_range(std::uint64_t idx, bool last) {
  const std::size_t length = chunk_length(transfer_->module->blob.size, transfer_->chunk_size, idx);
  if (length == 0) {  // the one chunk of an empty module: nothing to fetch
    emit_chunk(idx, last, false);
    return;
  }
  auto reader = std::make_shared<RangeReader>(
      "chunk " + std::to_string(idx) + " of blob " + transfer_->module->blob.digest, length,
      [self = shared_from_this(), idx, last](Expected<std::string> bytes) {
        self->guarded([&] { self->take_range(idx, last, std::move(bytes)); });
      });
  download_ =
      registry_.fetch_blob(transfer_->ref, transfer_->module->blob.digest, std::move(reader),
                           oci::ByteRange{idx * transfer_->chunk_size, length});
}

void ChunkCutter::take_range(std::uint64_t idx, bool last, Expected<std::string> bytes) {
  download_.reset();
  if (!bytes) return fail(transfer_->failed.load() ? cancelled_error() : bytes.error());
  current_ = std::move(bytes).value();
  emit_chunk(idx, last, false);
  if (!last) send_next();
}

void ChunkCutter::fail(Error error) {
  if (credit_ == Credit::held) window_.release();
  // An asked credit comes all the same, and is given back then (see on_credit).
  if (credit_ != Credit::asked) credit_ = Credit::none;
  current_.clear();
  current_.shrink_to_fit();
  carry_.clear();
  phase_ = Phase::done;
  download_.reset();  // the download holds this sink: the handle must not hold it back
  spool_.reset();
  writer_lock_.reset();
  Chunk item;
  item.transfer = transfer_;
  item.seq = seq_.fetch_add(1);
  item.idx = next_idx_;
  item.last = true;
  item.chunks = emitted_;
  item.failure = std::move(error);
  emit_(std::move(item));
}

void ChunkCutter::emit_chunk(std::uint64_t idx, bool last, bool streamed) {
  ++emitted_;
  Chunk item;
  item.transfer = transfer_;
  item.seq = seq_.fetch_add(1);
  item.idx = idx;
  item.last = last;
  if (last) item.chunks = emitted_;
  item.streamed = streamed;
  item.bytes = std::move(current_);
  current_ = std::string();
  credit_ = Credit::none;
  // The stream's final chunk takes the cache's copy of the module to the verify stage.
  if (streamed && idx + 1 == transfer_->module->total_chunks && writer_lock_) {
    item.stream_copy = spool_;
    item.cache_lock = std::move(writer_lock_);
  }
  if (last) {
    phase_ = Phase::done;
    download_.reset();
    // The transfer keeps the file (track reads it once the transfer is over, for what a broker
    // restart may cost), and lets it go with itself.
    if (!transfer_->module_file) transfer_->module_file = std::move(spool_);
    spool_.reset();
  }
  emit_(std::move(item));
}

void DownloadStage::operator()(const TransferPtr& t, ChunkCutter::Emit emit) {
  fault_point("blob-download", t->request.app_name);
  // A module from the spool was announced when its layer's download began.
  if (!t->module_file) publisher_.publish_progress(*t, "downloading");
  auto cutter = std::make_shared<ChunkCutter>(t, window_, registry_, cache_, spool_dir_, next_seq_,
                                              std::move(emit));
  registry_.io().post([cutter] { cutter->begin(); });
}

}  // namespace pp
