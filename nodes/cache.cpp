#include "nodes/cache.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "nodes/log.hpp"
#include "nodes/oci/digest.hpp"

namespace pp {

namespace fs = std::filesystem;

namespace {

// A leftover named temporary file older than this was left by a crash (a live writer touches its
// file with every write).
constexpr auto kStaleTemp = std::chrono::hours(1);
// Resolution records are a few hundred bytes; anything much larger is not one of ours.
constexpr std::uintmax_t kMaxRecord = 64 * 1024;

// Creates `path` and whichever of its parents are missing, as `mkdir -p` does. What it creates is
// 0700: cached modules and what references resolved to are the proxy's business. Directories that
// exist keep their modes. The error names the directory that could not be made, which on a fresh
// machine is often a parent ($HOME/.cache), not the cache directory itself.
std::optional<Error> make_dirs(const std::string& path) {
  fs::path target = fs::path(path).lexically_normal();
  if (!target.has_filename()) target = target.parent_path();  // "dir/"
  const Error unusable{errc::proxy_error,
                       "the cache directory " + path + " is not a writable directory"};
  fs::path made;
  for (const fs::path& part : target) {
    made /= part;
    if (::mkdir(made.c_str(), 0700) == 0) continue;
    const int error = errno;
    std::error_code ec;
    if (error == EEXIST && fs::is_directory(made, ec)) continue;
    if (error == EEXIST && made == target) return unusable;
    const std::string parent = made == target ? "" : "its parent " + made.string() + " ";
    return Error{errc::proxy_error,
                 "cannot create the cache directory " + path + ": " + parent +
                     (error == EEXIST ? "is not a directory"
                                      : (parent.empty() ? "" : "cannot be made: ") +
                                            std::string(std::strerror(error)))};
  }
  if (::access(path.c_str(), W_OK | X_OK) != 0) return unusable;
  return std::nullopt;
}

std::string hex_of(const std::string& digest) {
  return digest.substr(digest.find(':') + 1);
}

}  // namespace

BlobCache::WriterLock::~WriterLock() {
  if (fd_ < 0) return;
  // Unlinked while still held, so that the next writer makes a new file rather than locking one
  // nobody can find.
  ::unlink(path_.c_str());
  ::close(fd_);
}

Expected<std::unique_ptr<BlobCache>> BlobCache::open(Options options) {
  for (const std::string sub : {"", "/blobs", "/blobs/sha256", "/blobs/sha512", "/refs", "/tmp"}) {
    if (auto error = make_dirs(options.dir + sub)) return *error;
  }
  std::unique_ptr<BlobCache> cache(new BlobCache(std::move(options)));
  std::error_code ec;
  const auto now = fs::file_time_type::clock::now();
  for (const auto& entry : fs::directory_iterator(cache->options_.dir + "/tmp", ec)) {
    if (entry.is_regular_file(ec) && now - entry.last_write_time(ec) > kStaleTemp) {
      fs::remove(entry.path(), ec);
    }
  }
  cache->evict("");
  log::info("cache",
            {{"dir", cache->options_.dir},
             {"bytes", cache->counters_.bytes.load()},
             {"max_bytes", cache->options_.max_bytes},
             {"manifest_ttl_s", static_cast<long long>(cache->options_.manifest_ttl.count())}});
  return cache;
}

std::string BlobCache::blob_path(const std::string& digest) const {
  // Digests come from manifests, which come from the network: only a valid one names a file.
  if (!oci::is_digest(digest)) return {};
  return options_.dir + "/blobs/" + digest.substr(0, digest.find(':')) + "/" + hex_of(digest);
}

std::string BlobCache::ref_path(const std::string& reference) const {
  oci::Hasher h;
  h.update(reference + '\n' + options_.platform);
  return options_.dir + "/refs/" + hex_of(h.finish_digest());
}

namespace {
// The digest of `file`'s bytes, in `digest`'s algorithm; empty when it cannot be read.
std::string digest_of(const SpoolFile& file, const std::string& digest) {
  oci::Hasher hasher = oci::Hasher::for_digest(digest);
  std::string buffer(1 << 20, '\0');
  for (std::uint64_t offset = 0;;) {
    const ssize_t n = file.read_at(offset, buffer.data(), buffer.size());
    if (n < 0) return {};
    if (n == 0) return hasher.finish_digest();
    hasher.update(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
    offset += static_cast<std::uint64_t>(n);
  }
}
}  // namespace

std::shared_ptr<SpoolFile> BlobCache::find(const oci::Descriptor& blob, bool check) {
  const std::string path = blob_path(blob.digest);
  if (path.empty()) return nullptr;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || static_cast<std::uint64_t>(st.st_size) != blob.size) {
    log::warn("cached module has the wrong size; removing it",
              {{"digest", blob.digest},
               {"size", static_cast<long long>(st.st_size)},
               {"expected", blob.size}});
    ::close(fd);
    ::unlink(path.c_str());
    return nullptr;
  }
  ::futimens(fd, nullptr);  // the LRU order; a read-only cache just keeps its order
  auto file = std::make_shared<SpoolFile>(fd, blob.size);
  if (!check) return file;
  {
    std::lock_guard lock(checked_mutex_);
    if (checked_.count(blob.digest)) return file;
  }
  const std::string actual = digest_of(*file, blob.digest);
  if (actual != blob.digest) {
    log::warn("cached module is damaged; removing it",
              {{"digest", blob.digest}, {"actual", actual.empty() ? "unreadable" : actual}});
    discard(blob.digest);
    return nullptr;
  }
  std::lock_guard lock(checked_mutex_);
  checked_.insert(blob.digest);
  return file;
}

Expected<std::shared_ptr<SpoolFile>> BlobCache::create_temp() {
  return SpoolFile::create(options_.dir + "/tmp", /*linkable=*/true);
}

void BlobCache::store(SpoolFile& file, const oci::Descriptor& blob) {
  if (blob.size > options_.max_bytes) {
    log::debug("module not cached: larger than PROXY_CACHE_MAX_BYTES",
               {{"digest", blob.digest}, {"size", blob.size}});
    return;
  }
  const std::string path = blob_path(blob.digest);
  if (path.empty()) return;
  int error = file.link_to(path);
  // A module unpacked in PROXY_SPOOL_DIR on another file system, or in a spool file that has no
  // /proc link to name it by (no O_TMPFILE there): copied.
  if (error == EXDEV || error == ENOENT) {
    auto copy = create_temp();
    std::vector<char> buffer(1 << 20);
    for (std::uint64_t offset = 0; copy && offset < blob.size;) {
      const ssize_t n = file.read_at(offset, buffer.data(), buffer.size());
      if (n <= 0) {
        copy = Error{errc::proxy_error, "short read"};
      } else if (auto e = (*copy)->append(buffer.data(), static_cast<std::size_t>(n))) {
        copy = std::move(*e);
      } else {
        offset += static_cast<std::uint64_t>(n);
      }
    }
    error = copy ? (*copy)->link_to(path) : EIO;
  }
  if (error == EEXIST) return;  // another transfer or process stored it first: the same bytes
  if (error != 0) {
    log::warn("cannot store a module in the cache",
              {{"digest", blob.digest}, {"path", path}, {"error", std::strerror(error)}});
    return;
  }
  log::debug("module cached", {{"digest", blob.digest}, {"size", blob.size}});
  {
    std::lock_guard lock(checked_mutex_);
    checked_.insert(blob.digest);
  }
  evict(path);
}

void BlobCache::discard(const std::string& digest) {
  {
    std::lock_guard lock(checked_mutex_);
    checked_.erase(digest);
  }
  const std::string path = blob_path(digest);
  if (!path.empty()) ::unlink(path.c_str());
}

void BlobCache::WriterLock::heartbeat() const {
  if (fd_ >= 0) ::futimens(fd_, nullptr);
}

std::string BlobCache::lock_path(const std::string& digest) const {
  return options_.dir + "/tmp/" + digest.substr(0, digest.find(':')) + "-" + hex_of(digest) +
         ".lock";
}

std::chrono::seconds BlobCache::writer_idle_for(const std::string& digest) const {
  struct stat st {};
  if (::stat(lock_path(digest).c_str(), &st) != 0) return std::chrono::seconds(0);
  const auto beat = std::chrono::system_clock::from_time_t(st.st_mtim.tv_sec);
  return std::max(std::chrono::seconds(0), std::chrono::duration_cast<std::chrono::seconds>(
                                               std::chrono::system_clock::now() - beat));
}

std::unique_ptr<BlobCache::WriterLock> BlobCache::try_lock(const std::string& digest) {
  const std::string path = lock_path(digest);
  // The file may be unlinked by its holder between our open and our lock: then what we locked is
  // not the lock any more, and we try again with the new one.
  for (int attempt = 0; attempt < 3; ++attempt) {
    const int fd = ::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
      log::warn("cannot create a cache lock file; downloading without one",
                {{"path", path}, {"error", std::strerror(errno)}});
      return std::make_unique<WriterLock>(-1, std::string());
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd);
      return nullptr;
    }
    struct stat held {
    }, named{};
    if (::fstat(fd, &held) == 0 && ::stat(path.c_str(), &named) == 0 &&
        held.st_ino == named.st_ino && held.st_dev == named.st_dev) {
      ::futimens(fd, nullptr);  // a lock file left by a writer that died is not a stalled one
      return std::make_unique<WriterLock>(fd, path);
    }
    ::close(fd);
  }
  return nullptr;
}

std::optional<BlobCache::Resolution> BlobCache::resolution(const std::string& reference) const {
  const std::string path = ref_path(reference);
  std::error_code ec;
  if (fs::file_size(path, ec) > kMaxRecord || ec) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  const auto j = nlohmann::json::parse(text.str(), nullptr, false);
  try {
    if (j.is_discarded() || j.at("reference") != reference + '\n' + options_.platform) {
      return std::nullopt;
    }
    Resolution r;
    r.manifest_digest = j.at("manifest").get<std::string>();
    r.module.media_type = j.at("module").at("mediaType").get<std::string>();
    r.module.digest = j.at("module").at("digest").get<std::string>();
    r.module.size = j.at("module").at("size").get<std::uint64_t>();
    r.resolved_at = std::chrono::system_clock::time_point(
        std::chrono::seconds(j.at("resolved_at").get<std::int64_t>()));
    r.is_blob = j.at("is_blob").get<bool>();
    if (!oci::is_digest(r.module.digest)) return std::nullopt;
    return r;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;  // damaged: the reference is resolved again and the record rewritten
  }
}

void BlobCache::remember(const std::string& reference, const Resolution& r) {
  const nlohmann::json j = {
      {"reference", reference + '\n' + options_.platform},
      {"manifest", r.manifest_digest},
      {"module",
       {{"mediaType", r.module.media_type}, {"digest", r.module.digest}, {"size", r.module.size}}},
      {"resolved_at",
       std::chrono::duration_cast<std::chrono::seconds>(r.resolved_at.time_since_epoch()).count()},
      {"is_blob", r.is_blob}};
  const std::string text = j.dump();
  std::string temp = options_.dir + "/tmp/ref-XXXXXX";
  const int fd = ::mkostemp(temp.data(), O_CLOEXEC);
  bool written =
      fd >= 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  if (fd >= 0) written = (::close(fd) == 0) && written;
  // rename(2) replaces the old record atomically: a reader sees the old one or the new one.
  if (!written || ::rename(temp.c_str(), ref_path(reference).c_str()) != 0) {
    log::warn("cannot record a resolution in the cache",
              {{"reference", reference}, {"error", std::strerror(errno)}});
    if (fd >= 0) ::unlink(temp.c_str());
  }
}

bool BlobCache::usable(const Resolution& r, bool by_digest, bool registry_down) const {
  if (by_digest) return true;  // a digest names the same manifest forever
  const auto limit = options_.manifest_ttl * (registry_down ? 10 : 1);
  return std::chrono::system_clock::now() - r.resolved_at < limit;
}

void BlobCache::evict(const std::string& keep) {
  struct Entry {
    fs::file_time_type used;
    std::uint64_t size;
    fs::path path;
  };
  std::vector<Entry> entries;
  std::uint64_t total = 0;
  std::error_code ec;
  for (const auto& algorithm : fs::directory_iterator(options_.dir + "/blobs", ec)) {
    for (const auto& blob : fs::directory_iterator(algorithm.path(), ec)) {
      if (!blob.is_regular_file(ec)) continue;
      Entry e{blob.last_write_time(ec), blob.file_size(ec), blob.path()};
      if (ec) continue;  // removed by another process meanwhile
      total += e.size;
      entries.push_back(std::move(e));
    }
  }
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.used < b.used; });
  for (const Entry& e : entries) {
    if (total <= options_.max_bytes) break;
    if (e.path == keep) continue;
    if (fs::remove(e.path, ec)) {
      counters_.evictions.fetch_add(1, std::memory_order_relaxed);
      log::info(
          "module evicted from the cache",
          {{"digest", e.path.parent_path().filename().string() + ":" + e.path.filename().string()},
           {"size", e.size}});
    }
    total -= e.size;  // removed, by us or by another process
  }
  counters_.bytes.store(total, std::memory_order_relaxed);
}

}  // namespace pp
