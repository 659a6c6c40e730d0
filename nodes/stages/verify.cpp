#include "nodes/stages/verify.hpp"

#include "nodes/common/fault.hpp"

namespace pp {

VerifyStage::Verified VerifyStage::verify(Chunk chunk) {
  const Transfer& t = *chunk.transfer;
  // Nothing of the transfer follows its last item: whatever became of its stream, it is over.
  struct Forget {
    std::unordered_map<std::uint64_t, oci::Hasher>& hashers;
    std::uint64_t id;
    bool last;
    ~Forget() {
      if (last) hashers.erase(id);
    }
  } forget{hashers_, t.id, chunk.last};
  if (chunk.failure) {
    return {std::nullopt, TransferFailed{chunk.transfer, std::move(*chunk.failure), chunk.chunks}};
  }
  if (chunk.error) {
    return {std::nullopt, ChunkSettled{chunk.transfer, chunk.idx, chunk.last, false,
                                       std::move(*chunk.error), chunk.chunks}};
  }
  if (t.failed.load()) {  // whoever failed it has recorded why; this only fills in for cancel_all
    return {std::nullopt, ChunkSettled{chunk.transfer, chunk.idx, chunk.last, false,
                                       cancelled_error(), chunk.chunks}};
  }
  // Chunks sent after the stream come from the spool it wrote (or a ranged GET): the stream's
  // check covers the first, and nothing can cover the second.
  if (chunk.streamed) {
    const Module& m = *t.module;
    auto it = hashers_.find(t.id);
    // Made once per stream (an OpenSSL context): not for every chunk.
    if (it == hashers_.end())
      it = hashers_.emplace(t.id, oci::Hasher::for_digest(m.blob.digest)).first;
    it->second.update(chunk.bytes);
    if (chunk.idx + 1 == m.total_chunks) {
      const std::string actual = it->second.finish_digest();
      hashers_.erase(it);
      const bool matched = actual == m.blob.digest;
      // The store runs on the cache's own thread and lets go of the writer's lock when it is done:
      // a transfer waiting for this module then finds it. Not stored, the lock goes with the
      // chunk, and a transfer waiting for this module goes on.
      if (matched && chunk.stream_copy && cache_) {
        cache_->store(std::move(chunk.stream_copy), m.blob,
                      std::static_pointer_cast<BlobCache::WriterLock>(std::move(chunk.cache_lock)));
      }
      if (!matched) {
        chunk.transfer->failed.store(true);
        Error error{errc::digest_mismatch,
                    "blob content hashes to " + actual + ", the manifest says " + m.blob.digest};
        if (t.from_cache && cache_) {
          cache_->discard(m.blob.digest);
          error = Error{errc::cache_corrupt, "the cached copy of " + m.blob.digest + " hashes to " +
                                                 actual + "; it was removed"};
        }
        return {std::nullopt, ChunkSettled{chunk.transfer, chunk.idx, chunk.last, false,
                                           std::move(error), chunk.chunks}};
      }
    }
  }
  return {Publication{chunk.transfer, chunk.seq, chunk.idx, chunk.last, chunk.chunks,
                      std::move(chunk.message)},
          std::nullopt};
}

VerifyStage::Next VerifyStage::operator()(const ChunkPtr& c) noexcept {
  // What verify() consumes, for the guard.
  const TransferPtr t = c->transfer;
  const std::uint64_t idx = c->idx;
  const bool last = c->last, failure = c->failure.has_value();
  const std::uint64_t chunks = c->chunks;
  Next next;
  auto problem = internal_error_in("verify", [&] {
    fault_point("verify", t->request.app_name);
    Verified v = verify(std::move(*c));
    if (v.publish) next.publish = std::make_shared<Publication>(std::move(*v.publish));
    next.settle = std::move(v.settle);
  });
  if (problem) {
    next = {};
    if (failure) {
      next.settle = TransferFailed{t, std::move(*problem), chunks};
    } else {
      next.settle = ChunkSettled{t, idx, last, false, std::move(*problem), chunks};
    }
  }
  return next;
}

}  // namespace pp
