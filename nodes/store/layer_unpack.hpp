#pragma once
// What a layer without a wasm media type holds is decided by its bytes, not its label: `oras push`
// without a media type labels raw bytes "…layer.v1.tar", and `docker buildx --platform wasi/wasm`
// images carry the module as the one *.wasm file of a tar, tar+gzip or tar+zstd layer.

#include <cstdint>
#include <memory>
#include <string>

#include "nodes/clients/oci/manifest.hpp"
#include "nodes/common/error.hpp"
#include "nodes/store/spool.hpp"

namespace pp {

inline constexpr std::string_view wasm_magic{"\0asm", 4};

struct UnpackedModule {
  std::shared_ptr<SpoolFile> file;  // the module's bytes
  oci::Descriptor module;           // application/wasm, the module's digest and size
  std::string packaging;            // "wasm" (the layer is the module), "tar", "tar+gzip", ...
  std::string path;                 // where the module was in the archive; empty for "wasm"
};

// Verifies the spooled `layer` against its descriptor's digest, then finds the module in it: the
// layer itself when it starts with the wasm magic, else the single regular *.wasm file of a tar
// archive (any compression libarchive reads), written to a new file in `spool_dir` and hashed with
// sha256. CPU and local-disk work: run it on a worker, not the I/O thread.
//
// Errors: digest_mismatch; no_wasm_layer when the layer holds no module (not wasm, not a tar, a
// damaged archive, no or several *.wasm files, a *.wasm without the magic), saying which; too_large
// when the module is over `max_module_size` or the archive unpacks to more than twice that (a
// decompression bomb); proxy_error when the spool directory fails.
Expected<UnpackedModule> unpack_layer(const std::shared_ptr<SpoolFile>& layer,
                                      const oci::Descriptor& descriptor,
                                      const std::string& spool_dir, std::uint64_t max_module_size);

}  // namespace pp
