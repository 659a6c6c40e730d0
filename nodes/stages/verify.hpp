#pragma once
// The verify stage (serial, chunks in cut order): hashes each streamed chunk and checks the
// module's digest before the stream's final chunk is released; then stores a downloaded module in
// the cache (when there is one), or discards a cached one that no longer matches. Owns the
// transfer's hasher.

#include <cstddef>
#include <optional>
#include <unordered_map>

#include "nodes/clients/oci/digest.hpp"
#include "nodes/model/transfer.hpp"
#include "nodes/store/cache.hpp"

namespace pp {

class VerifyStage {
 public:
  explicit VerifyStage(BlobCache* cache) : cache_(cache) {}

  struct Verified {
    std::optional<Publication> publish;  // the chunk to send
    std::optional<TrackEvent> settle;    // or what to tell track instead
  };
  Verified verify(Chunk chunk);

  enum Port : std::size_t { to_publish, to_track };
  struct Next {
    PublicationPtr publish;
    std::optional<TrackEvent> settle;
  };
  // verify(), guarded: a chunk it fails on is settled as not delivered (which fails its
  // transfer), a failure item fails its transfer all the same.
  Next operator()(const ChunkPtr& c) noexcept;

  std::size_t streams() const { return hashers_.size(); }  // being hashed

 private:
  BlobCache* const cache_;
  // The streams under way, by transfer (the stage is serial: no lock).
  std::unordered_map<std::uint64_t, oci::Hasher> hashers_;
};

}  // namespace pp
