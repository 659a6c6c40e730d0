#include "nodes/stages/layer_search.hpp"

#include "nodes/common/fault.hpp"
#include "nodes/common/log.hpp"
#include "nodes/model/next.hpp"
#include "nodes/store/layer_unpack.hpp"

namespace pp {

void LayerSearch::spool(const TransferPtr& t,
                        std::function<void(Expected<std::shared_ptr<SpoolFile>>)> reply) {
  fault_point("layer-spool", t->request.app_name);
  if (t->layers.next_ == 0) publisher_.publish_progress(*t, "downloading");
  auto file = SpoolFile::create(spool_dir_);
  if (!file) return reply(file.error());
  const oci::Descriptor layer = t->layers.layers_[t->layers.next_];
  auto spooler = std::make_shared<LayerSpooler>(
      std::move(file).value(), layer, [t] { return t->failed.load(); }, std::move(reply));
  registry_.io().post(
      [this, t, layer, spooler] { registry_.fetch_blob(t->ref, layer.digest, spooler); });
}

LayerSearch::Next LayerSearch::unpack(const LayerSpooled& s) {
  const TransferPtr& t = s.transfer;
  const oci::Descriptor layer = t->layers.layers_[t->layers.next_++];
  fault_point("layer-unpack", t->request.app_name);
  // Cancelled before the error, as in layer-select.
  if (t->failed.load()) return fail_by<failed, Next>(t, cancelled_error());
  if (s.error) return fail_by<failed, Next>(t, *s.error);
  auto unpacked = unpack_layer(*s.value, layer, spool_dir_, resolution_.max_blob_size());
  if (!unpacked) {
    Error error = unpacked.error();
    if (error.code == errc::no_wasm_layer) {
      t->layers.rejections_.push_back(std::move(error.message));
      if (t->layers.next_ < t->layers.layers_.size()) return by<next_layer, Next>(t);
      std::string reasons;
      for (const auto& r : t->layers.rejections_)
        reasons += (reasons.empty() ? "" : "; ") + r;
      error.message = "manifest " + t->ref.str() + ": no layer holds a wasm module: " + reasons;
    }
    return fail_by<failed, Next>(t, std::move(error));
  }
  log::debug("layer unpacked", {{"app_name", t->request.app_name},
                                {"layer", layer.digest},
                                {"packaging", unpacked->packaging},
                                {"path", unpacked->path}});
  t->module_file = std::move(unpacked->file);
  // Its digest was computed as it was unpacked: it is verified by construction.
  if (BlobCache* cache = resolution_.cache()) cache->store(t->module_file, unpacked->module);
  if (auto error =
          resolution_.start(*t, t->layers.manifest_digest_, std::move(unpacked->module), true)) {
    return fail_by<failed, Next>(t, std::move(*error));
  }
  return by<to_download, Next>(t);
}

}  // namespace pp
