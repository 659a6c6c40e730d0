#include "nodes/stages/manifest_resolve.hpp"

#include "nodes/common/fault.hpp"
#include "nodes/model/next.hpp"

namespace pp {

namespace {
// At most this many layers are downloaded to look for the module in them (a wasm artifact has one
// or two; the bound is for hostile or mistaken manifests).
constexpr std::size_t kMaxLayersExamined = 8;
}  // namespace

void ManifestStage::resolve(const TransferPtr& t,
                            std::function<void(Expected<oci::ResolvedManifest>)> reply) {
  fault_point("manifest-resolve", t->request.app_name);
  registry_.fetch_manifest(t->ref, std::move(reply));
}

ManifestStage::Next ManifestStage::select(const ManifestResolved& m) {
  const TransferPtr& t = m.transfer;
  fault_point("layer-select", t->request.app_name);
  // Cancelled first: a cancelled transfer's request was aborted, and that is not the registry's
  // error.
  if (t->failed.load()) return fail_by<failed, Next>(t, cancelled_error());
  // From the cache: the transfer goes to its download, unless the request cannot have the module.
  const auto cached = [&](const ModuleResolution::FromCache& c) {
    if (c.error) return fail_by<failed, Next>(t, *c.error);
    return by<to_download, Next>(t);
  };
  if (m.error) {
    // Not an answer about the reference (as 401, 403 or 404 are) but the registry's trouble: what
    // the cache knows still serves.
    const bool registry_down =
        m.error->code == errc::registry_unavailable || m.error->code == errc::registry_error;
    if (registry_down) {
      if (auto c = resolution_.start_from_cache(*t, true); c.answered) return cached(c);
    }
    return fail_by<failed, Next>(t, *m.error);
  }
  auto choice = oci::select_wasm_layer(m.value->manifest);
  if (!choice) {
    return fail_by<failed, Next>(
        t, Error{choice.error().code, "manifest " + t->ref.str() + ": " + choice.error().message});
  }
  const std::string& manifest_digest = m.value->digest;
  if (choice->labelled) {
    if (choice->labelled->size > resolution_.max_blob_size()) {
      return fail_by<failed, Next>(t, resolution_.too_large(*t, *choice->labelled));
    }
    if (auto error = resolution_.start(*t, manifest_digest, std::move(*choice->labelled), true)) {
      return fail_by<failed, Next>(t, std::move(*error));
    }
    return by<to_download, Next>(t);
  }
  // The same manifest as the last time: its module was found in its layers then, and kept.
  if (auto c = resolution_.start_from_cache(*t, false, manifest_digest); c.answered) {
    return cached(c);
  }
  // A layer too large to be served is not worth downloading to look into; when that is every
  // layer, that is the answer.
  for (const oci::Descriptor& layer : choice->by_content) {
    if (layer.size > resolution_.max_blob_size()) {
      t->layers.rejections_.push_back(resolution_.too_large(*t, layer).message);
    } else if (t->layers.layers_.size() < kMaxLayersExamined) {
      t->layers.layers_.push_back(layer);
    }
  }
  t->layers.manifest_digest_ = manifest_digest;
  if (t->layers.layers_.empty()) {
    return fail_by<failed, Next>(t, resolution_.too_large(*t, choice->by_content.front()));
  }
  return by<to_layers, Next>(t);
}

}  // namespace pp
