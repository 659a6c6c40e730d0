#pragma once
// Manifest resolution: the registry says what the reference names (manifest-resolve, on the I/O
// thread), and layer-select reads the answer: a layer labelled wasm is the module, streamed from
// the registry; a manifest whose layers carry no such label has them examined one by one (see
// LayerSearch); a registry that is down leaves what the cache knows to answer.

#include <cstddef>
#include <functional>
#include <variant>

#include "nodes/clients/oci/registry_client.hpp"
#include "nodes/common/error.hpp"
#include "nodes/model/next.hpp"
#include "nodes/model/transfer.hpp"
#include "nodes/stages/resolution.hpp"

namespace pp {

using ManifestResolved = Answer<oci::ResolvedManifest>;

class ManifestStage {
 public:
  ManifestStage(oci::Registry& registry, const ModuleResolution& resolution)
      : registry_(registry), resolution_(resolution) {}

  // manifest-resolve: asks the registry; `reply` runs on the I/O thread.
  void resolve(const TransferPtr& t, std::function<void(Expected<oci::ResolvedManifest>)> reply);

  enum Port : std::size_t { to_download, failed, to_layers };
  using Next = TransferNext;
  // layer-select.
  Next select(const ManifestResolved& m);

 private:
  oci::Registry& registry_;
  const ModuleResolution& resolution_;
};

}  // namespace pp
