#pragma once
// The fetch stage: a transfer that has a transfer slot learns where its module comes from. The
// cache answers when it knows what the reference resolves to and may say so (see
// BlobCache::usable): the transfer goes straight to its download. Otherwise the registry is asked
// for the manifest.

#include <cstddef>
#include <variant>

#include "nodes/model/active_transfers.hpp"
#include "nodes/model/next.hpp"
#include "nodes/model/transfer.hpp"
#include "nodes/stages/publish.hpp"
#include "nodes/stages/resolution.hpp"

namespace pp {

class FetchStage {
 public:
  FetchStage(const ModuleResolution& resolution, ActiveTransfers& active, ChunkPublisher& publisher)
      : resolution_(resolution), active_(active), publisher_(publisher) {}

  enum Port : std::size_t { to_registry, failed, to_download };
  using Next = TransferNext;
  Next operator()(const TransferPtr& t);

 private:
  const ModuleResolution& resolution_;
  ActiveTransfers& active_;
  ChunkPublisher& publisher_;
};

}  // namespace pp
