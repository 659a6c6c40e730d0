// Image layers as `docker buildx` and `podman build` write them: tar archives, optionally gzip or
// zstd compressed, made with libarchive (the library the product reads them with is exercised on
// bytes it did not write itself only in format terms; the content is what the tests choose).
#pragma once

#include <string>
#include <vector>

namespace pp::test {

struct TarEntry {
  std::string path;
  std::string bytes;       // a regular file's content
  bool directory = false;  // a directory entry (no content)
};

enum class Compression { none, gzip, zstd };

// A pax tar of `entries` in order, compressed as asked. Throws std::runtime_error on failure.
std::string make_tar(const std::vector<TarEntry>& entries, Compression compression);

}  // namespace pp::test
