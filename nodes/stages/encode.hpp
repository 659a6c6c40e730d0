#pragma once
// The chunk-encode stage: base64 and the JSON frame, the CPU-heavy step, run in parallel across
// chunks and transfers. A chunk it cannot frame still goes on, so that the sequencer after it sees
// every number, and is settled by verify as not delivered.

#include "nodes/model/transfer.hpp"

namespace pp {

void encode_chunk(Chunk& c) noexcept;

}  // namespace pp
