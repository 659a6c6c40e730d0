#pragma once
// Layers that need unpacking (tar, tar+gzip, tar+zstd, or raw bytes under a non-wasm label) are
// spooled to disk: the module's digest goes into every chunk, so it must be known before the first
// one is sent, and a packed module's digest is known only once it is out of its archive. Disk, not
// memory, holds them, so the blob is still never held whole in memory.
//
// Spool files have no name: created with O_TMPFILE (or unlinked at once where the file system
// lacks it), they vanish when closed, whichever way the process ends.

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "nodes/clients/oci/manifest.hpp"
#include "nodes/clients/oci/registry_client.hpp"
#include "nodes/common/error.hpp"

namespace pp {

class SpoolFile {
 public:
  // An anonymous file in `dir`, or, where the file system lacks O_TMPFILE, a named one: unlinked
  // at once, unless `linkable` (it is to be given a name with link_to). errc::proxy_error naming
  // the directory when it cannot be made.
  static Expected<std::shared_ptr<SpoolFile>> create(const std::string& dir, bool linkable = false);
  // `path`: the file's name, removed with it, when it has one that is not yet its final one (a
  // named temporary file where the file system lacks O_TMPFILE).
  explicit SpoolFile(int fd, std::uint64_t size = 0, std::string path = {})
      : fd_(fd), size_(size), path_(std::move(path)) {}
  ~SpoolFile();
  SpoolFile(const SpoolFile&) = delete;
  SpoolFile& operator=(const SpoolFile&) = delete;

  int fd() const { return fd_; }
  std::uint64_t size() const { return size_; }
  // errc::proxy_error when the disk refuses (full, I/O error).
  std::optional<Error> append(const char* data, std::size_t n);
  // Up to `n` bytes from `offset`: the count read, 0 at the end, -1 on error (errno set).
  ssize_t read_at(std::uint64_t offset, char* data, std::size_t n) const;
  // Gives the file the name `name` too (link(2): atomic, and refused when the name exists, which
  // fails with EEXIST). Returns 0 or the errno.
  int link_to(const std::string& name) const;

 private:
  int fd_;
  std::uint64_t size_ = 0;
  std::string path_;
};

// Downloads a layer blob into a spool file (on the I/O thread), checking its size against the
// descriptor; the digest is checked by whoever reads it back (off the I/O thread).
class LayerSpooler : public oci::BlobSink {
 public:
  using Done = std::function<void(Expected<std::shared_ptr<SpoolFile>>)>;
  // `cancelled` is polled as bytes arrive; `done` runs exactly once, on the I/O thread.
  LayerSpooler(std::shared_ptr<SpoolFile> file, oci::Descriptor layer,
               std::function<bool()> cancelled, Done done);

  std::size_t on_data(const char* data, std::size_t size) override;
  void on_end(std::optional<Error> error) override;

 private:
  std::shared_ptr<SpoolFile> file_;
  const oci::Descriptor layer_;
  std::function<bool()> cancelled_;
  Done done_;
  std::optional<Error> abort_reason_;
};

// Streams a spool file to `sink` on the I/O thread with a registry download's contract (pause,
// resume, cancel; on_end exactly once), so that the chunk cutter need not care where bytes come
// from. Each read is its own I/O-thread task, so other exchanges keep moving meanwhile.
std::shared_ptr<oci::Registry::Call> stream_spool_file(oci::HttpIo& io,
                                                       std::shared_ptr<SpoolFile> file,
                                                       std::shared_ptr<oci::BlobSink> sink);

}  // namespace pp
