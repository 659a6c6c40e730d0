#include "nodes/blob_download.hpp"

#include <algorithm>

#include "nodes/spool.hpp"

namespace pp {

ChunkCutter::ChunkCutter(TransferPtr transfer, ChunkWindow& window, oci::RegistryClient& registry,
                         std::atomic<std::uint64_t>& seq, Emit emit)
    : transfer_(std::move(transfer)),
      window_(window),
      registry_(registry),
      seq_(seq),
      emit_(std::move(emit)) {}

void ChunkCutter::begin() {
  download_ =
      transfer_->module_file
          ? stream_spool_file(registry_.io(), transfer_->module_file, shared_from_this())
          : registry_.fetch_blob(transfer_->ref, transfer_->blob.digest, shared_from_this());
}

bool ChunkCutter::take_credit() {
  if (has_credit_) return true;
  const bool granted = window_.acquire_or_wait([self = shared_from_this()] {
    // Called on whichever thread released the credit: move back to the I/O thread.
    self->registry_.io().post([self] { self->on_credit(); });
  });
  if (granted) {
    has_credit_ = true;
    current_.reserve(transfer_->chunk_size);
  } else {
    waiting_ = true;
  }
  return granted;
}

void ChunkCutter::on_credit() {
  waiting_ = false;
  has_credit_ = true;
  if (done_) {  // the transfer ended while we waited: the credit is not ours to keep
    has_credit_ = false;
    window_.release();
    return;
  }
  if (transfer_->failed.load()) {
    if (!ended_) {
      download_->cancel();  // on_end follows with the failure
    } else {
      fail(Error{errc::shutting_down, "transfer cancelled"});
    }
    return;
  }
  current_.reserve(transfer_->chunk_size);
  std::string pending = std::move(carry_);
  carry_.clear();
  place(pending.data(), pending.size());
  if (waiting_) return;
  if (ended_) {
    finish();
  } else {
    download_->resume();
  }
}

std::size_t ChunkCutter::on_data(const char* data, std::size_t size) {
  if (done_) return 0;
  if (transfer_->failed.load()) {
    abort_reason_ = Error{errc::shutting_down, "transfer cancelled"};
    return 0;
  }
  // Out of credit: curl keeps these bytes and offers them again after resume().
  if (waiting_) return oci::HttpHandler::kPause;
  if (auto error = oci::check_blob_size(received_ + size, transfer_->blob, false)) {
    abort_reason_ = std::move(error);
    return 0;
  }
  received_ += size;
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
    // The final chunk waits for the end of the response (see finish()).
    if (current_.size() == chunk && next_idx_ + 1 < transfer_->total_chunks) emit_chunk(false);
  }
}

void ChunkCutter::on_end(std::optional<Error> error) {
  if (done_) return;
  ended_ = true;
  if (abort_reason_) return fail(*abort_reason_);
  // A cancelled transfer's download was aborted: that is the cancellation, not a registry error.
  if (error && transfer_->failed.load()) {
    return fail(Error{errc::shutting_down, "transfer cancelled"});
  }
  if (error) return fail(std::move(*error));
  if (!waiting_) finish();  // else on_credit() finishes once the carried bytes are placed
}

void ChunkCutter::finish() {
  if (auto error = oci::check_blob_size(received_, transfer_->blob, true)) {
    return fail(std::move(*error));
  }
  if (!take_credit()) return;  // a zero-byte blob's only chunk has not asked for one yet
  emit_chunk(true);
}

void ChunkCutter::fail(Error error) {
  if (has_credit_) {
    has_credit_ = false;
    window_.release();
  }
  current_.clear();
  current_.shrink_to_fit();
  carry_.clear();
  done_ = true;
  download_.reset();  // the download holds this sink: the handle must not hold it back
  Chunk item;
  item.transfer = transfer_;
  item.seq = seq_.fetch_add(1);
  item.idx = next_idx_;
  item.last = true;
  item.failure = std::move(error);
  emit_(std::move(item));
}

void ChunkCutter::emit_chunk(bool last) {
  transfer_->in_flight.fetch_add(1);
  Chunk item;
  item.transfer = transfer_;
  item.seq = seq_.fetch_add(1);
  item.idx = next_idx_++;
  item.last = last;
  item.bytes = std::move(current_);
  current_ = std::string();
  has_credit_ = false;
  if (last) {
    done_ = true;
    download_.reset();  // the download holds this sink: the handle must not hold it back
  }
  emit_(std::move(item));
}

Verified verify_chunk(Chunk chunk) {
  Transfer& t = *chunk.transfer;
  if (chunk.failure) {
    return {std::nullopt, TransferFailed{chunk.transfer, std::move(*chunk.failure)}};
  }
  if (t.failed.load()) {  // whoever failed it has recorded why; this only fills in for cancel_all
    return {std::nullopt, ChunkSettled{chunk.transfer, chunk.idx, chunk.last, false,
                                       Error{errc::shutting_down, "transfer cancelled"}}};
  }
  t.hasher.update(chunk.bytes);
  if (chunk.last) {
    const std::string actual = t.hasher.finish_digest();
    if (actual != t.blob.digest) {
      t.failed.store(true);
      return {std::nullopt, ChunkSettled{chunk.transfer, chunk.idx, true, false,
                                         Error{errc::digest_mismatch,
                                               "blob content hashes to " + actual +
                                                   ", the manifest says " + t.blob.digest}}};
    }
  }
  return {Publication{chunk.transfer, chunk.idx, chunk.last, std::move(chunk.message)},
          std::nullopt};
}

}  // namespace pp
