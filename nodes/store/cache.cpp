#include "nodes/store/cache.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <vector>

#include "nodes/clients/oci/digest.hpp"
#include "nodes/common/log.hpp"

namespace pp {

namespace fs = std::filesystem;

namespace {

// A leftover named temporary file older than this was left by a crash (a live writer touches its
// file with every write).
constexpr auto kStaleTemp = std::chrono::hours(1);
// Resolution records are a few hundred bytes; anything much larger is not one of ours.
constexpr std::uintmax_t kMaxRecord = 64 * 1024;

std::int64_t seconds_since_epoch(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

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

CacheTime mtime_of(const struct stat& st) {
  return CacheTime(std::chrono::duration_cast<CacheTime::duration>(
      std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
}

// A resolution record's JSON; nullopt when it cannot be read, is too large to be one, or is not
// JSON. `st`, when given, gets the file's status.
std::optional<nlohmann::json> read_record(const std::string& path, struct stat* st = nullptr) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  struct stat own {};
  if (st == nullptr) st = &own;
  std::string text;
  if (::fstat(fd, st) == 0 && static_cast<std::uintmax_t>(st->st_size) <= kMaxRecord) {
    text.resize(static_cast<std::size_t>(st->st_size));
    const ssize_t n = ::pread(fd, text.data(), text.size(), 0);
    text.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  }
  ::close(fd);
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

// The module a record resolves to; empty when it names none (damaged, or not one of ours).
std::string record_module(const std::optional<nlohmann::json>& j) {
  if (!j || !j->is_object()) return {};
  const auto module = j->find("module");
  if (module == j->end() || !module->is_object()) return {};
  const auto digest = module->find("digest");
  if (digest == module->end() || !digest->is_string()) return {};
  const auto& text = digest->get_ref<const std::string&>();
  return oci::is_digest(text) ? text : std::string();
}

// Copies `size` bytes of `from` onto the end of `to`, showing `writer`'s waiters that it moves.
// Returns 0 or an errno.
int copy_file(const SpoolFile& from, std::uint64_t size, SpoolFile& to,
              const BlobCache::WriterLock* writer) {
  std::vector<char> buffer(1 << 20);
  for (std::uint64_t offset = 0; offset < size;) {
    const ssize_t n = from.read_at(offset, buffer.data(), buffer.size());
    if (n <= 0) return n < 0 ? errno : EIO;
    if (to.append(buffer.data(), static_cast<std::size_t>(n))) return EIO;
    offset += static_cast<std::uint64_t>(n);
    if (writer) writer->heartbeat();
  }
  return 0;
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
  cache->maintenance_.post([c = cache.get()] { c->refresh(); });
  cache->maintenance_.drain();
  log::info("cache",
            {{"dir", cache->options_.dir},
             {"bytes", cache->counters_.bytes.load()},
             {"modules", cache->counters_.modules.load()},
             {"records", cache->counters_.records.load()},
             {"max_bytes", cache->options_.max_bytes},
             {"manifest_ttl_s", static_cast<long long>(cache->options_.manifest_ttl.count())}});
  return cache;
}

BlobCache::BlobCache(Options options)
    : options_(std::move(options)), maintenance_(options_.refresh_every, [this] { refresh(); }) {}

BlobCache::~BlobCache() = default;

std::string BlobCache::blob_path(const std::string& digest) const {
  // Digests come from manifests, which come from the network: only a valid one names a file.
  if (!oci::is_digest(digest)) return {};
  return options_.dir + "/blobs/" + digest.substr(0, digest.find(':')) + "/" + hex_of(digest);
}

namespace {
// A record's file name in refs/.
std::string record_name(const std::string& reference, const std::string& platform) {
  oci::Hasher h;
  h.update(reference + '\n' + platform);
  return hex_of(h.finish_digest());
}
}  // namespace

std::string BlobCache::ref_path(const std::string& reference) const {
  return options_.dir + "/refs/" + record_name(reference, options_.platform);
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
    discard(blob.digest);
    return nullptr;
  }
  ::futimens(fd, nullptr);  // the LRU order on disk; a read-only cache just keeps its order
  auto file = std::make_shared<SpoolFile>(fd, blob.size);
  bool checked = false;
  {
    std::lock_guard lock(index_mutex_);
    modules_.touch(blob.digest, blob.size, CacheTime::clock::now());
    checked = modules_.checked(blob.digest);
    publish_sizes();
  }
  if (!check || checked) return file;
  const std::string actual = digest_of(*file, blob.digest);
  if (actual != blob.digest) {
    log::warn("cached module is damaged; removing it",
              {{"digest", blob.digest}, {"actual", actual.empty() ? "unreadable" : actual}});
    discard(blob.digest);
    return nullptr;
  }
  std::lock_guard lock(index_mutex_);
  modules_.mark_checked(blob.digest);
  return file;
}

Expected<std::shared_ptr<SpoolFile>> BlobCache::create_temp() {
  return SpoolFile::create(options_.dir + "/tmp", /*linkable=*/true);
}

void BlobCache::store(std::shared_ptr<SpoolFile> file, const oci::Descriptor& blob,
                      std::shared_ptr<WriterLock> writer) {
  if (!file || blob_path(blob.digest).empty()) return;
  if (blob.size > options_.max_bytes) {
    log::debug("module not cached: larger than PROXY_CACHE_MAX_BYTES",
               {{"digest", blob.digest}, {"size", blob.size}});
    return;
  }
  // The task holds the writer's lock until it has run, and lets go of it then.
  maintenance_.post([this, file = std::move(file), blob, writer = std::move(writer)] {
    store_now(*file, blob, writer.get());
  });
}

void BlobCache::flush() {
  maintenance_.drain();
}

void BlobCache::store_now(SpoolFile& file, const oci::Descriptor& blob, WriterLock* writer) {
  if (writer) writer->heartbeat();  // it may have waited behind other stores
  const std::string path = blob_path(blob.digest);
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {  // another transfer or process stored it first
    std::lock_guard lock(index_mutex_);
    modules_.touch(blob.digest, static_cast<std::uint64_t>(st.st_size), mtime_of(st));
    publish_sizes();
    return;
  }
  // Before the link, so that the bound holds at every moment, not just once the store is done.
  make_room(blob.size, 1);
  int error = file.link_to(path);
  // A module unpacked in PROXY_SPOOL_DIR on another file system, or in a spool file that has no
  // /proc link to name it by (no O_TMPFILE there): copied.
  if (error == EXDEV || error == ENOENT) {
    auto copy = create_temp();
    error = copy ? copy_file(file, blob.size, **copy, writer) : EIO;
    if (error == 0) error = (*copy)->link_to(path);
  }
  if (error == EEXIST) return;  // another process stored it meanwhile: the same bytes
  if (error != 0) {
    log::warn("cannot store a module in the cache",
              {{"digest", blob.digest}, {"path", path}, {"error", std::strerror(error)}});
    return;
  }
  log::debug("module cached", {{"digest", blob.digest}, {"size", blob.size}});
  std::lock_guard lock(index_mutex_);
  modules_.put(blob.digest, blob.size, CacheTime::clock::now(), true);
  publish_sizes();
}

void BlobCache::discard(const std::string& digest) {
  {
    std::lock_guard lock(index_mutex_);
    modules_.erase(digest);
    publish_sizes();
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
  const auto record = read_record(ref_path(reference));
  if (!record) return std::nullopt;
  const nlohmann::json& j = *record;
  try {
    if (j.at("reference") != reference + '\n' + options_.platform) return std::nullopt;
    Resolution r;
    r.manifest_digest = j.at("manifest").get<std::string>();
    r.module.media_type = j.at("module").at("mediaType").get<std::string>();
    r.module.digest = j.at("module").at("digest").get<std::string>();
    r.module.size = j.at("module").at("size").get<std::uint64_t>();
    r.resolved_at = std::chrono::system_clock::time_point(
        std::chrono::seconds(j.at("resolved_at").get<std::int64_t>()));
    r.is_blob = j.at("is_blob").get<bool>();
    if (!oci::is_digest(r.module.digest)) return std::nullopt;
    if (const auto s = j.find("signature"); s != j.end()) {
      const auto result = trust::verdict_result(s->at("result").get<std::string>());
      if (!result) return std::nullopt;
      trust::CheckedSignature c;
      c.verdict = {*result, s->at("key").get<std::string>(), s->at("format").get<std::string>(),
                   s->at("reason").get<std::string>()};
      c.keyset = s->at("keyset").get<std::string>();
      c.checked_at = std::chrono::system_clock::time_point(
          std::chrono::seconds(s->at("checked_at").get<std::int64_t>()));
      r.signature = std::move(c);
    }
    return r;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;  // damaged: the reference is resolved again and the record rewritten
  }
}

void BlobCache::remember(const std::string& reference, const Resolution& r) {
  nlohmann::json j = {
      {"reference", reference + '\n' + options_.platform},
      {"manifest", r.manifest_digest},
      {"module",
       {{"mediaType", r.module.media_type}, {"digest", r.module.digest}, {"size", r.module.size}}},
      {"resolved_at", seconds_since_epoch(r.resolved_at)},
      {"is_blob", r.is_blob}};
  if (r.signature) {
    const trust::Verdict& v = r.signature->verdict;
    j["signature"] = {{"keyset", r.signature->keyset},
                      {"result", trust::to_string(v.result)},
                      {"key", v.key_id},
                      {"format", v.format},
                      {"reason", v.reason},
                      {"checked_at", seconds_since_epoch(r.signature->checked_at)}};
  }
  const std::string text = j.dump();
  std::string temp = options_.dir + "/tmp/ref-XXXXXX";
  const int fd = ::mkostemp(temp.data(), O_CLOEXEC);
  struct stat st {};
  bool written = fd >= 0 &&
                 ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                 ::fstat(fd, &st) == 0;
  if (fd >= 0) written = (::close(fd) == 0) && written;
  // rename(2) replaces the old record atomically: a reader sees the old one or the new one.
  if (!written || ::rename(temp.c_str(), ref_path(reference).c_str()) != 0) {
    log::warn("cannot record a resolution in the cache",
              {{"reference", reference}, {"error", std::strerror(errno)}});
    if (fd >= 0) ::unlink(temp.c_str());
    return;
  }
  bool over = false;
  {
    std::lock_guard lock(index_mutex_);
    records_.put(record_name(reference, options_.platform), CacheTime::clock::now(),
                 {r.module.digest, static_cast<std::uint64_t>(st.st_ino), mtime_of(st)});
    over = records_.count() > options_.max_records;
    publish_sizes();
  }
  if (over) request_records_pass();
}

bool BlobCache::usable(const Resolution& r, bool by_digest, bool registry_down) const {
  if (by_digest) return true;  // a digest names the same manifest forever
  const auto limit = options_.manifest_ttl * (registry_down ? 10 : 1);
  return std::chrono::system_clock::now() - r.resolved_at < limit;
}

void BlobCache::publish_sizes() {
  counters_.bytes.store(modules_.bytes(), std::memory_order_relaxed);
  counters_.modules.store(modules_.count(), std::memory_order_relaxed);
  counters_.records.store(records_.count(), std::memory_order_relaxed);
}

void BlobCache::make_room(std::uint64_t bytes, std::size_t count) {
  std::vector<std::pair<std::string, std::uint64_t>> victims;
  std::vector<RecordIndex::Taken> records;
  {
    std::lock_guard lock(index_mutex_);
    victims = modules_.take_victims(bytes, count, options_.max_bytes, options_.max_modules);
    for (const auto& victim : victims) {
      for (auto& taken : records_.take_for_module(victim.first))
        records.push_back(std::move(taken));
    }
    publish_sizes();
  }
  for (const auto& [digest, size] : victims) {
    // Gone already when another process evicted it first.
    if (::unlink(blob_path(digest).c_str()) == 0) {
      counters_.evictions.fetch_add(1, std::memory_order_relaxed);
      log::info("module evicted from the cache", {{"digest", digest}, {"size", size}});
    }
  }
  // What resolved to an evicted module goes with it.
  for (const auto& [name, record] : records)
    drop_record(name, record);
}

void BlobCache::evict_records() {
  std::vector<RecordIndex::Taken> oldest;
  {
    std::lock_guard lock(index_mutex_);
    oldest = records_.take_oldest_beyond(options_.max_records);
    publish_sizes();
  }
  for (const auto& [name, record] : oldest)
    drop_record(name, {std::string(), record.inode, record.mtime});  // that file, whatever it names
}

void BlobCache::request_records_pass() {
  // One pass covers every record written until it runs.
  if (records_pass_requested_.exchange(true)) return;
  maintenance_.post([this] {
    records_pass_requested_.store(false);
    evict_records();
  });
}

void BlobCache::drop_record(const std::string& name, const RecordIndex::Record& expected) {
  // Taken aside first, then looked at: another process may have rewritten it since it was indexed,
  // and a rename is the only way to be sure what is removed is what was looked at.
  const std::string path = options_.dir + "/refs/" + name;
  // Named by process and call, so that no two removals share it (other proxies, other caches).
  static std::atomic<std::uint64_t> taken{0};
  const std::string aside = options_.dir + "/tmp/ref-dropped-" + std::to_string(::getpid()) + "-" +
                            std::to_string(taken.fetch_add(1));
  if (::rename(path.c_str(), aside.c_str()) != 0) return;  // gone already
  struct stat st {};
  const auto j = read_record(aside, &st);
  const std::string module = record_module(j);
  const bool same = static_cast<std::uint64_t>(st.st_ino) == expected.inode ||
                    (!expected.module.empty() && module == expected.module);
  // A record rewritten meanwhile is put back, unless a newer one has taken the name since: link(2)
  // never replaces it.
  if (!same && ::link(aside.c_str(), path.c_str()) == 0) {
    std::lock_guard lock(index_mutex_);
    records_.put(name, mtime_of(st), {module, static_cast<std::uint64_t>(st.st_ino), mtime_of(st)});
    publish_sizes();
  }
  ::unlink(aside.c_str());
}

void BlobCache::refresh() {
  const CacheTime started = CacheTime::clock::now();
  std::vector<ModuleIndex::Seen> modules;
  std::error_code ec;
  for (const auto& algorithm : fs::directory_iterator(options_.dir + "/blobs", ec)) {
    for (const auto& blob : fs::directory_iterator(algorithm.path(), ec)) {
      const std::string digest =
          algorithm.path().filename().string() + ":" + blob.path().filename().string();
      struct stat st {};
      // Removed by another process meanwhile, or not a module of ours.
      if (::stat(blob.path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      if (!oci::is_digest(digest)) continue;
      modules.push_back({digest, static_cast<std::uint64_t>(st.st_size), mtime_of(st)});
    }
  }
  std::vector<RecordIndex::Seen> records;
  for (const auto& entry : fs::directory_iterator(options_.dir + "/refs", ec)) {
    struct stat st {};
    if (::stat(entry.path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    RecordIndex::Seen seen{entry.path().filename().string(),
                           {std::string(), static_cast<std::uint64_t>(st.st_ino), mtime_of(st)}};
    bool known = false;
    {
      std::lock_guard lock(index_mutex_);
      const auto* item = records_.find(seen.name);
      known =
          item && item->value.inode == seen.record.inode && item->value.mtime == seen.record.mtime;
      if (known) seen.record.module = item->value.module;
    }
    // Only new or rewritten records are read.
    if (!known) seen.record.module = record_module(read_record(entry.path()));
    records.push_back(std::move(seen));
  }
  {
    std::lock_guard lock(index_mutex_);
    modules_.reconcile(modules, started);
    records_.reconcile(records, started);
    publish_sizes();
  }
  make_room(0, 0);
  evict_records();
}

}  // namespace pp
