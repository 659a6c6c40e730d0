#pragma once
// Where a transfer learns what module it sends: from the registry's manifest (fetch, layer-select,
// layer-unpack) or from what the cache remembers of the reference (fetch, and layer-select when
// the registry is down). Starting a transfer on a module sets what the later stages need to cut,
// frame and verify it, and opens its schedule to requests that join it.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "nodes/clients/oci/manifest.hpp"
#include "nodes/common/error.hpp"
#include "nodes/model/transfer.hpp"
#include "nodes/store/cache.hpp"
#include "nodes/trust/signature_policy.hpp"

namespace pp {

class ModuleResolution {
 public:
  // `policy`: whose signatures are checked, for what the cache says of them; `manifest_ttl`: how
  // long a verdict short of verified holds (signatures are often pushed just after the image).
  ModuleResolution(BlobCache* cache, std::uint64_t max_blob_size,
                   const trust::SignaturePolicy& policy, std::chrono::seconds manifest_ttl)
      : cache_(cache),
        max_blob_size_(max_blob_size),
        policy_(policy),
        manifest_ttl_(manifest_ttl) {}

  // Starts `t` on `blob`, which `manifest_digest` lists, or says why the request cannot be
  // answered with it. `resolved` when the registry was just asked what the reference names: the
  // cache remembers the answer, with `t`'s signature verdict.
  std::optional<Error> start(Transfer& t, std::string manifest_digest, oci::Descriptor blob,
                             bool resolved) const;

  // What the cache answered for a transfer: `answered` when `t` was started on the module the
  // cache says its reference resolves to (`error`: why the request cannot have it), else the
  // registry is to be asked.
  struct FromCache {
    bool answered = false;
    std::optional<Error> error;
  };
  // When the cache has the reference's resolution and it may be used (see BlobCache::usable);
  // `manifest_digest`, when given, must match it. When the reference's repository has its
  // signatures checked, and `t` has no verdict of its own yet, the resolution must hold one for the
  // rule's keys: a verified one, or one that was reached within the manifest TTL (the request is
  // then refused in enforce mode); else the registry is asked. While it is down, the verdict the
  // cache holds stands whatever its age, and without one a module is not served in enforce mode.
  FromCache start_from_cache(Transfer& t, bool registry_down,
                             const std::string& manifest_digest = {}) const;

  // errc::too_large for `layer` of `t`'s reference.
  Error too_large(const Transfer& t, const oci::Descriptor& layer) const;
  std::uint64_t max_blob_size() const { return max_blob_size_; }
  BlobCache* cache() const { return cache_; }

 private:
  // What the cache's verdict on `r` means for `t`: nullopt to go on serving it (`t.signature` set
  // when its repository's signatures are checked), else the answer.
  std::optional<FromCache> signature_from_cache(Transfer& t, const BlobCache::Resolution& r,
                                                bool registry_down) const;

  BlobCache* const cache_;
  const std::uint64_t max_blob_size_;
  const trust::SignaturePolicy& policy_;
  const std::chrono::seconds manifest_ttl_;
};

// The refusal of a request for chunks past the module's end.
std::string chunks_out_of_range(const Request& r, std::uint64_t total);

}  // namespace pp
