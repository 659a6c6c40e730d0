#include "nodes/stages/verify.hpp"

#include "nodes/common/fault.hpp"

namespace pp {

Verified verify_chunk(Chunk chunk, BlobCache* cache) {
  Transfer& t = *chunk.transfer;
  if (chunk.failure) {
    return {std::nullopt, TransferFailed{chunk.transfer, std::move(*chunk.failure)}};
  }
  if (chunk.error) {
    return {std::nullopt,
            ChunkSettled{chunk.transfer, chunk.idx, chunk.last, false, std::move(*chunk.error)}};
  }
  if (t.failed.load()) {  // whoever failed it has recorded why; this only fills in for cancel_all
    return {std::nullopt,
            ChunkSettled{chunk.transfer, chunk.idx, chunk.last, false, cancelled_error()}};
  }
  // Chunks sent after the stream come from the spool it wrote (or a ranged GET): the stream's
  // check covers the first, and nothing can cover the second.
  if (chunk.streamed) {
    t.hasher.update(chunk.bytes);
    if (chunk.idx + 1 == t.total_chunks) {
      const std::string actual = t.hasher.finish_digest();
      const bool matched = actual == t.blob.digest;
      // The store runs on the cache's own thread and lets go of the writer's lock when it is done:
      // a transfer waiting for this module then finds it.
      if (matched && t.stream_copy && cache) {
        cache->store(std::move(t.stream_copy), t.blob,
                     std::static_pointer_cast<BlobCache::WriterLock>(std::move(t.cache_lock)));
      }
      t.stream_copy.reset();
      t.cache_lock.reset();  // not stored: a transfer waiting for this module goes on
      if (!matched) {
        t.failed.store(true);
        Error error{errc::digest_mismatch,
                    "blob content hashes to " + actual + ", the manifest says " + t.blob.digest};
        if (t.from_cache && cache) {
          cache->discard(t.blob.digest);
          error = Error{errc::cache_corrupt, "the cached copy of " + t.blob.digest + " hashes to " +
                                                 actual + "; it was removed"};
        }
        return {std::nullopt,
                ChunkSettled{chunk.transfer, chunk.idx, chunk.last, false, std::move(error)}};
      }
    }
  }
  return {Publication{chunk.transfer, chunk.seq, chunk.idx, chunk.last, std::move(chunk.message)},
          std::nullopt};
}

VerifyStage::Next VerifyStage::operator()(const ChunkPtr& c) const noexcept {
  // What verify_chunk consumes, for the guard.
  const TransferPtr t = c->transfer;
  const std::uint64_t idx = c->idx;
  const bool last = c->last, failure = c->failure.has_value();
  Next next;
  auto problem = internal_error_in("verify", [&] {
    fault_point("verify", t->request.app_name);
    Verified v = verify_chunk(std::move(*c), cache_);
    if (v.publish) next.publish = std::make_shared<Publication>(std::move(*v.publish));
    next.settle = std::move(v.settle);
  });
  if (problem) {
    next = {};
    if (failure) {
      next.settle = TransferFailed{t, std::move(*problem)};
    } else {
      next.settle = ChunkSettled{t, idx, last, false, std::move(*problem)};
    }
  }
  return next;
}

}  // namespace pp
