#pragma once
// Chunk arithmetic and the chunk message's wire format. This is the per-chunk CPU path: it builds
// the JSON text directly (one exact-size allocation, base64 written in place) rather than through a
// DOM.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "nodes/common/json_text.hpp"

namespace pp {

// ceil(size / chunk_size), and 1 for a zero-byte blob (it still gets one chunk with empty data).
std::uint64_t total_chunks(std::uint64_t size, std::size_t chunk_size);

// Bytes of blob in chunk `idx` of a blob of `size` bytes.
std::size_t chunk_length(std::uint64_t size, std::size_t chunk_size, std::uint64_t idx);

std::size_t base64_encoded_length(std::size_t n);
// Standard alphabet, '=' padding, no line breaks. Writes exactly base64_encoded_length(n) bytes.
void base64_encode(const unsigned char* in, std::size_t n, char* out);

// Strict standard base64 (padding required, no whitespace); nullopt for anything else.
std::optional<std::string> base64_decode(std::string_view text);

// Frames the chunks of one blob:
// {"app_name":…,"chunk_idx":i,"total_chunks":n,"digest":…,"size":…,"data":"<base64>"}
// The parts common to every chunk are rendered once, at construction.
class ChunkFramer {
 public:
  ChunkFramer(std::string_view app_name, std::string_view digest, std::uint64_t size,
              std::uint64_t total_chunks);

  std::string frame(std::uint64_t chunk_idx, std::string_view bytes) const;

 private:
  std::string head_;  // {"app_name":"…","chunk_idx":
  std::string mid_;   // ,"total_chunks":n,"digest":"…","size":n,"data":"
};

}  // namespace pp
