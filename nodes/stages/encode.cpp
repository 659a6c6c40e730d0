#include "nodes/stages/encode.hpp"

#include "nodes/common/fault.hpp"

namespace pp {

void encode_chunk(Chunk& c) noexcept {
  if (c.failure) return;
  auto problem = internal_error_in("chunk-encode", [&] {
    fault_point("chunk-encode", c.transfer->request.app_name);
    c.message = c.transfer->module->framer.frame(c.idx, c.bytes);
  });
  if (problem) c.error = std::move(problem);
}

}  // namespace pp
