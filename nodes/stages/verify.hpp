#pragma once
// The verify stage (serial, chunks in cut order): hashes each streamed chunk and checks the
// module's digest before the stream's final chunk is released; then stores a downloaded module in
// the cache (when there is one), or discards a cached one that no longer matches. Owns the
// transfer's hasher.

#include <cstddef>
#include <optional>

#include "nodes/model/transfer.hpp"
#include "nodes/store/cache.hpp"

namespace pp {

struct Verified {
  std::optional<Publication> publish;  // the chunk to send
  std::optional<TrackEvent> settle;    // or what to tell track instead
};
Verified verify_chunk(Chunk chunk, BlobCache* cache);

class VerifyStage {
 public:
  explicit VerifyStage(BlobCache* cache) : cache_(cache) {}

  enum Port : std::size_t { to_publish, to_track };
  struct Next {
    PublicationPtr publish;
    std::optional<TrackEvent> settle;
  };
  // verify_chunk, guarded: a chunk it fails on is settled as not delivered (which fails its
  // transfer), a failure item fails its transfer all the same.
  Next operator()(const ChunkPtr& c) const noexcept;

 private:
  BlobCache* const cache_;
};

}  // namespace pp
