#pragma once
// The module cache (PROXY_CACHE_DIR): modules on disk by digest, so that the registry sees each
// module once, whatever the fleet does. Layout:
//
//   blobs/<algorithm>/<hex>  a module whose bytes were verified against its digest before the name
//                            was given to them; its mtime is its last use (LRU eviction)
//   refs/<sha256 of key>     what a reference resolved to: its manifest's digest and the module
//                            chosen from it, and when (JSON)
//   tmp/                     modules being written (anonymous O_TMPFILE files, or named ones where
//                            the file system lacks it) and the writers' lock files
//
// A module is written to an anonymous file while it streams and linked under its name only after
// its digest matched, so a crash mid-write leaves nothing that could be served. Every file name is
// made by link(2) or rename(2), both atomic, so proxies sharing the directory never see a partial
// file; writers of the same digest take an flock(2) on its lock file, which also keeps transfers of
// one process apart, and is released by the kernel when a writer dies. A cached module is read
// back through the same verify stage as a download: its digest is checked again on the way out.
// Since that check ends with the last chunk, after the others have left, a module is also hashed
// whole the first time this process reads it (it may have been damaged while no proxy ran): bad
// bytes are then never sent. One damaged while the proxy runs is caught on the way out; its last
// chunk is withheld and the request answered again from the registry.
//
// Bounded: the modules' total size (PROXY_CACHE_MAX_BYTES) and count, and the number of records.
// A module's eviction takes the records that resolve to it along; beyond that, the least recently
// written records go. BlobCache keeps an index of both in memory (cache_index.hpp), exact for what
// this process did and refreshed from the directory every minute for what others did, so no call
// scans the directory. Records are removed by renaming them away first and looking at what was
// taken: one that another process rewrote meanwhile is put back (link(2), so that a still newer one
// is never overwritten).
//
// Storing and evicting run on the cache's own maintenance thread, so that the thread that asks
// (the pipeline's serial verify stage) is not held up by evictions or by the copy of a module from
// another file system. The writer's lock travels with the store: transfers waiting for the digest
// find the module once it is free. Room is made before the link, so the bound holds throughout.
// Other calls are blocking local-disk syscalls on small files (open, fstat, a record's read or
// write); safe from any thread.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "nodes/clients/oci/manifest.hpp"
#include "nodes/common/error.hpp"
#include "nodes/common/task_thread.hpp"
#include "nodes/store/cache_index.hpp"
#include "nodes/store/spool.hpp"
#include "nodes/trust/signature_check.hpp"

namespace pp {

class BlobCache {
 public:
  struct Options {
    std::string dir;
    std::uint64_t max_bytes = 0;  // the modules' total size is kept at or under this
    std::chrono::seconds manifest_ttl{60};
    // Part of every resolution's key: an index resolves to a different module on another platform.
    std::string platform;
    // Each module costs an index entry here and an inode there whatever its size, and a registry
    // may serve tiny ones: 10 000 is far more modules than a fleet runs (200 KiB each on average
    // fill the default 2 GiB) and keeps the index to about 3 MiB (some 330 bytes an entry).
    std::size_t max_modules = 10'000;
    // Records are what references resolved to: two per tag (the tag and its manifest's digest),
    // one per digest reference, a few hundred bytes each (and a disk block). 10 000 is thousands of
    // references, more than a fleet asks for, and at most about 40 MiB of disk and 5 MiB of index
    // (some 500 bytes an entry).
    std::size_t max_records = 10'000;
    // How often the index is brought in line with the directory, for what other processes sharing
    // it stored or removed (a module they stored is also known once this process reads it).
    std::chrono::milliseconds refresh_every = std::chrono::minutes(1);
  };

  // What a reference resolved to.
  struct Resolution {
    std::string manifest_digest;
    oci::Descriptor module;
    std::chrono::system_clock::time_point resolved_at;
    // The module is a blob of the repository (not unpacked from one): it can be downloaded by its
    // digest without the manifest.
    bool is_blob = true;
    // What the signature check concluded, when the module's repository had its signatures
    // checked (see SignatureStage).
    std::optional<trust::CheckedSignature> signature;
  };

  // Counters for /metrics.
  struct Counters {
    std::atomic<std::uint64_t> hits{0};    // transfers served from the cache
    std::atomic<std::uint64_t> misses{0};  // transfers that had to download their module
    std::atomic<std::uint64_t> evictions{0};
    // What the index holds: the modules' total size and count, and the records.
    std::atomic<std::uint64_t> bytes{0};
    std::atomic<std::uint64_t> modules{0};
    std::atomic<std::uint64_t> records{0};
  };

  // Held by the one transfer downloading a digest, until its module is stored or it fails.
  class WriterLock {
   public:
    WriterLock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
    ~WriterLock();
    WriterLock(const WriterLock&) = delete;
    WriterLock& operator=(const WriterLock&) = delete;
    // Tells transfers waiting for this download that it is moving (see writer_idle_for).
    void heartbeat() const;

   private:
    int fd_;
    std::string path_;
  };

  // Makes the directories, removes what a crash left in tmp/, reads what is there into the index
  // and enforces the bounds. errc::proxy_error naming the directory when it cannot be used.
  static Expected<std::unique_ptr<BlobCache>> open(Options options);
  // Finishes the stores under way.
  ~BlobCache();

  // The cached module `blob`, open for reading and marked as just used; null when it is not
  // cached. A file of the wrong size is removed, and so is one that does not hash to its digest
  // when `check` and this process has not checked or stored it before (which reads it whole: call
  // it off the I/O thread).
  std::shared_ptr<SpoolFile> find(const oci::Descriptor& blob, bool check = true);
  // A file in the cache's file system for a module about to be downloaded (store() links it).
  Expected<std::shared_ptr<SpoolFile>> create_temp();
  // Gives `file`, whose bytes hash to `blob.digest`, its name in the cache, after evicting the
  // least recently used modules to make room for it; `writer`, the lock its download held, is let
  // go once it is stored or failed to be. Returns at once: the work is the maintenance thread's. A
  // module larger than the bound is not kept. Failures are logged, not returned: the transfer that
  // wrote it does not depend on it.
  void store(std::shared_ptr<SpoolFile> file, const oci::Descriptor& blob,
             std::shared_ptr<WriterLock> writer = nullptr);
  // Returns once every store asked for before the call is done.
  void flush();
  // Removes a cached module that did not hash to its digest.
  void discard(const std::string& digest);
  // The lock for downloading `digest`; null while another transfer (of this process or another
  // one sharing the directory) holds it.
  std::unique_ptr<WriterLock> try_lock(const std::string& digest);
  // How long the writer of `digest` has not shown progress (its last heartbeat); zero when there is
  // no writer.
  std::chrono::seconds writer_idle_for(const std::string& digest) const;

  // Resolutions, by reference (and the platform of Options).
  std::optional<Resolution> resolution(const std::string& reference) const;
  void remember(const std::string& reference, const Resolution& r);
  // Whether `r` may answer a request for `reference` without asking the registry: a digest
  // reference's always, a tag's within the TTL; `registry_down` stretches that to 10× the TTL.
  bool usable(const Resolution& r, bool by_digest, bool registry_down) const;

  const Options& options() const { return options_; }
  Counters& counters() { return counters_; }
  const Counters& counters() const { return counters_; }

 private:
  explicit BlobCache(Options options);
  std::string blob_path(const std::string& digest) const;
  std::string ref_path(const std::string& reference) const;
  std::string lock_path(const std::string& digest) const;

  // On the maintenance thread:
  void store_now(SpoolFile& file, const oci::Descriptor& blob, WriterLock* writer);
  // Evicts what must go for `bytes` more in `count` more modules to fit the bounds.
  void make_room(std::uint64_t bytes, std::size_t count);
  void evict_records();
  // Removes refs/`name` if it is still `expected` (same file, or naming the same module).
  void drop_record(const std::string& name, const RecordIndex::Record& expected);
  void refresh();
  void request_records_pass();

  // Under index_mutex_.
  void publish_sizes();

  const Options options_;
  Counters counters_;
  mutable std::mutex index_mutex_;
  ModuleIndex modules_;
  RecordIndex records_;
  std::atomic<bool> records_pass_requested_{false};
  TaskThread maintenance_;  // last: its tasks use the members above, and finish before they go
};

}  // namespace pp
