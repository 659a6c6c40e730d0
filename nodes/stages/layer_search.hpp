#pragma once
// Layer search, for a manifest whose layers carry no wasm label: layer-spool downloads one layer
// to disk (on the I/O thread), layer-unpack looks for the module in it (CPU work, off the I/O
// thread) and either starts the transfer on what it found, or sends it back to layer-spool for the
// next layer, largest first, noting why each one held no module for the error should none hold
// one.

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <variant>

#include "nodes/clients/oci/registry_client.hpp"
#include "nodes/model/next.hpp"
#include "nodes/model/transfer.hpp"
#include "nodes/stages/publish.hpp"
#include "nodes/stages/resolution.hpp"
#include "nodes/store/spool.hpp"

namespace pp {

using LayerSpooled = Answer<std::shared_ptr<SpoolFile>>;  // the layer being examined, on disk

class LayerSearch {
 public:
  LayerSearch(oci::Registry& registry, const ModuleResolution& resolution,
              ChunkPublisher& publisher, std::string spool_dir)
      : registry_(registry),
        resolution_(resolution),
        publisher_(publisher),
        spool_dir_(std::move(spool_dir)) {}

  // layer-spool: downloads the next candidate layer; `reply` runs on the I/O thread, or here.
  void spool(const TransferPtr& t, std::function<void(Expected<std::shared_ptr<SpoolFile>>)> reply);

  enum Port : std::size_t { to_download, failed, next_layer };
  using Next = TransferNext;
  // layer-unpack.
  Next unpack(const LayerSpooled& s);

 private:
  oci::Registry& registry_;
  const ModuleResolution& resolution_;
  ChunkPublisher& publisher_;
  const std::string spool_dir_;
};

}  // namespace pp
