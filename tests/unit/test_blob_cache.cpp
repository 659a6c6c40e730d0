// The module cache's policies on a real directory: when a resolution may answer without the
// registry, what is stored, checked, evicted and locked, and how records survive damage.
#define BOOST_TEST_MODULE blob_cache
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "nodes/cache.hpp"
#include "nodes/oci/digest.hpp"
#include "tests/support/process.hpp"

namespace bdata = boost::unit_test::data;
namespace fs = std::filesystem;
using pp::BlobCache;
using namespace std::chrono_literals;

namespace {

pp::oci::Descriptor descriptor_of(const std::string& bytes) {
  pp::oci::Hasher h;
  h.update(bytes);
  return {"application/wasm", h.finish_digest(), bytes.size()};
}

std::unique_ptr<BlobCache> open_cache(const pp::test::TempDir& dir, std::uint64_t max_bytes,
                                      std::chrono::seconds ttl = 60s) {
  auto cache = BlobCache::open({dir.path() + "/cache", max_bytes, ttl, "wasi/wasm"});
  BOOST_TEST_REQUIRE(cache.ok(), (cache.ok() ? "" : cache.error().message));
  return std::move(cache).value();
}

// Stores `bytes` as a download would: written to a temp file of the cache, then stored.
void put(BlobCache& cache, const std::string& bytes) {
  auto file = cache.create_temp();
  BOOST_TEST_REQUIRE(file.ok());
  BOOST_TEST_REQUIRE(!(*file)->append(bytes.data(), bytes.size()));
  cache.store(**file, descriptor_of(bytes));
}

std::string read_all(const pp::SpoolFile& file, std::size_t size) {
  std::string out(size, '\0');
  BOOST_TEST_REQUIRE(file.read_at(0, out.data(), size) == static_cast<ssize_t>(size));
  return out;
}

std::string blob_path(const pp::test::TempDir& dir, const std::string& bytes) {
  return dir.path() + "/cache/blobs/sha256/" + descriptor_of(bytes).digest.substr(7);
}

// Returns once a file written now in `dir` (beside the cache, on its file system) is newer than
// `path`: whatever the file system's timestamp resolution, what the cache touches next is newer.
void after_mtime_of(const pp::test::TempDir& dir, const std::string& path) {
  const auto last = fs::last_write_time(path);
  const std::string probe = dir.file("mtime-probe");
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  for (;;) {
    std::ofstream(probe) << "now";
    if (fs::last_write_time(probe) > last) break;
    BOOST_TEST_REQUIRE((std::chrono::steady_clock::now() < deadline),
                       "the file clock stands still");
    std::this_thread::sleep_for(1ms);
  }
  fs::remove(probe);
}

struct UsableCase {
  std::string name;
  bool by_digest;
  bool registry_down;
  std::chrono::seconds age;
  std::chrono::seconds ttl;
  bool usable;
};

std::ostream& operator<<(std::ostream& os, const UsableCase& c) {
  return os << c.name;
}

const UsableCase kUsable[] = {
    {"digest, fresh", true, false, 0s, 60s, true},
    {"digest, a year old", true, false, 365 * 24h, 60s, true},
    {"digest, TTL 0", true, false, 10s, 0s, true},
    {"tag within the TTL", false, false, 59s, 60s, true},
    {"tag past the TTL", false, false, 61s, 60s, false},
    {"tag, TTL 0: always asked", false, false, 0s, 0s, false},
    {"tag past the TTL, registry down", false, true, 61s, 60s, true},
    {"tag at 9x the TTL, registry down", false, true, 540s, 60s, true},
    {"tag past 10x the TTL, registry down", false, true, 601s, 60s, false},
    {"tag, TTL 0, registry down", false, true, 0s, 0s, false},
};

}  // namespace

BOOST_DATA_TEST_CASE(when_a_resolution_answers_without_the_registry, bdata::make(kUsable), c) {
  pp::test::TempDir dir;
  auto cache = open_cache(dir, 1 << 20, c.ttl);
  const BlobCache::Resolution r{"sha256:" + std::string(64, 'a'), descriptor_of("x"),
                                std::chrono::system_clock::now() - c.age};
  BOOST_TEST(cache->usable(r, c.by_digest, c.registry_down) == c.usable);
}

BOOST_AUTO_TEST_CASE(a_stored_module_is_found_by_digest_and_private) {
  pp::test::TempDir dir;
  auto cache = open_cache(dir, 1 << 20);
  const std::string bytes = "\0asm module bytes";
  BOOST_TEST(!cache->find(descriptor_of(bytes)));
  put(*cache, bytes);
  const auto found = cache->find(descriptor_of(bytes));
  BOOST_TEST_REQUIRE(found);
  BOOST_TEST(read_all(*found, bytes.size()) == bytes);
  struct stat st {};
  BOOST_TEST_REQUIRE(::stat(blob_path(dir, bytes).c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0600u);
  BOOST_TEST(cache->counters().bytes.load() == bytes.size());
  // Nothing is left in tmp/: the temp file had no name.
  BOOST_TEST(fs::is_empty(dir.path() + "/cache/tmp"));
}

BOOST_AUTO_TEST_CASE(a_file_of_the_wrong_size_or_content_is_removed) {
  pp::test::TempDir dir;
  const std::string bytes(5000, 'm');
  {
    auto cache = open_cache(dir, 1 << 20);
    put(*cache, bytes);
    // A descriptor saying another size: not this file.
    auto other_size = descriptor_of(bytes);
    other_size.size += 1;
    BOOST_TEST(!cache->find(other_size));
    BOOST_TEST(!fs::exists(blob_path(dir, bytes)));
    put(*cache, bytes);
  }
  {  // damaged while no process had it open: a new process hashes it before serving it
    std::fstream f(blob_path(dir, bytes), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('X');
  }
  auto cache = open_cache(dir, 1 << 20);
  BOOST_TEST(!cache->find(descriptor_of(bytes)));
  BOOST_TEST(!fs::exists(blob_path(dir, bytes)));
  put(*cache, bytes);
  BOOST_TEST(cache->find(descriptor_of(bytes)));
  // Unchecked (another writer just stored it): returned as it is; the verify stage checks it.
  BOOST_TEST(cache->find(descriptor_of(bytes), false));
}

BOOST_AUTO_TEST_CASE(a_module_larger_than_the_bound_is_not_kept) {
  pp::test::TempDir dir;
  auto cache = open_cache(dir, 100);
  put(*cache, std::string(101, 'b'));
  BOOST_TEST(!cache->find(descriptor_of(std::string(101, 'b'))));
  put(*cache, std::string(100, 'c'));
  BOOST_TEST(cache->find(descriptor_of(std::string(100, 'c'))));
}

BOOST_AUTO_TEST_CASE(eviction_removes_the_least_recently_used) {
  pp::test::TempDir dir;
  auto cache = open_cache(dir, 300);
  const std::string a(100, 'a'), b(100, 'b'), c(100, 'c'), d(100, 'd');
  // Distinct mtimes, whatever the file system's resolution.
  put(*cache, a);
  after_mtime_of(dir, blob_path(dir, a));
  put(*cache, b);
  after_mtime_of(dir, blob_path(dir, b));
  put(*cache, c);
  after_mtime_of(dir, blob_path(dir, c));
  BOOST_TEST(cache->find(descriptor_of(a)));  // a is used: b is now the oldest
  after_mtime_of(dir, blob_path(dir, a));
  put(*cache, d);
  BOOST_TEST(!fs::exists(blob_path(dir, b)));
  for (const auto* kept : {&a, &c, &d})
    BOOST_TEST(fs::exists(blob_path(dir, *kept)));
  BOOST_TEST(cache->counters().evictions.load() == 1u);
  BOOST_TEST(cache->counters().bytes.load() == 300u);
}

BOOST_AUTO_TEST_CASE(opening_enforces_a_lower_bound_and_clears_stale_temp_files) {
  pp::test::TempDir dir;
  {
    auto cache = open_cache(dir, 1000);
    put(*cache, std::string(400, 'a'));
    after_mtime_of(dir, blob_path(dir, std::string(400, 'a')));
    put(*cache, std::string(400, 'b'));
  }
  const std::string stale = dir.path() + "/cache/tmp/partial-old";
  std::ofstream(stale) << "half a module";
  fs::last_write_time(stale, fs::file_time_type::clock::now() - 2h);
  const std::string fresh = dir.path() + "/cache/tmp/partial-new";
  std::ofstream(fresh) << "a module being written";
  auto cache = open_cache(dir, 500);
  BOOST_TEST(!fs::exists(blob_path(dir, std::string(400, 'a'))));
  BOOST_TEST(fs::exists(blob_path(dir, std::string(400, 'b'))));
  BOOST_TEST(!fs::exists(stale));
  BOOST_TEST(fs::exists(fresh));  // perhaps another proxy's, still writing
}

BOOST_AUTO_TEST_CASE(a_module_outside_the_cache_file_system_is_copied_in) {
  pp::test::TempDir dir;
  auto cache = open_cache(dir, 1 << 20);
  const std::string bytes(300'000, 'z');
  // A file without a /proc link to name it by (unlinked at once, as a spool file where O_TMPFILE
  // is missing): it cannot be linked, only copied.
  const std::string path = dir.path() + "/spooled";
  const int fd = ::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  BOOST_TEST_REQUIRE(fd >= 0);
  ::unlink(path.c_str());
  pp::SpoolFile spool(fd);
  BOOST_TEST_REQUIRE(!spool.append(bytes.data(), bytes.size()));
  cache->store(spool, descriptor_of(bytes));
  const auto found = cache->find(descriptor_of(bytes));
  BOOST_TEST_REQUIRE(found);
  BOOST_TEST(read_all(*found, bytes.size()) == bytes);
}

BOOST_AUTO_TEST_CASE(one_writer_per_digest_until_it_lets_go) {
  pp::test::TempDir dir;
  auto cache = open_cache(dir, 1 << 20);
  auto other = open_cache(dir, 1 << 20);  // as another process would: its own descriptors
  const std::string digest = descriptor_of("m").digest;
  auto held = cache->try_lock(digest);
  BOOST_TEST_REQUIRE(held);
  BOOST_TEST(!cache->try_lock(digest));
  BOOST_TEST(!other->try_lock(digest));
  BOOST_TEST(other->try_lock(descriptor_of("n").digest));  // another digest: its own lock
  held.reset();
  BOOST_TEST(other->try_lock(digest));
}

BOOST_AUTO_TEST_CASE(resolutions_round_trip_and_damaged_records_are_ignored) {
  pp::test::TempDir dir;
  auto cache = open_cache(dir, 1 << 20);
  const auto when = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
  const BlobCache::Resolution r{"sha256:" + std::string(64, 'e'), descriptor_of("module"), when,
                                false};
  BOOST_TEST(!cache->resolution("reg/app:v1"));
  cache->remember("reg/app:v1", r);
  const auto back = cache->resolution("reg/app:v1");
  BOOST_TEST_REQUIRE(back.has_value());
  BOOST_TEST(back->manifest_digest == r.manifest_digest);
  BOOST_TEST(back->module.digest == r.module.digest);
  BOOST_TEST(back->module.size == r.module.size);
  BOOST_TEST(back->module.media_type == r.module.media_type);
  BOOST_TEST((back->resolved_at == when));
  BOOST_TEST(back->is_blob == false);
  BOOST_TEST(!cache->resolution("reg/app:v2"));
  // Records are private like the modules, and so are the cache's directories.
  for (const auto& e : fs::directory_iterator(dir.path() + "/cache/refs")) {
    struct stat st {};
    BOOST_TEST_REQUIRE(::stat(e.path().c_str(), &st) == 0);
    BOOST_TEST((st.st_mode & 0777) == 0600u);
  }
  for (const char* sub : {"", "/refs", "/blobs", "/tmp"}) {
    struct stat st {};
    BOOST_TEST_REQUIRE(::stat((dir.path() + "/cache" + sub).c_str(), &st) == 0);
    BOOST_TEST((st.st_mode & 0777) == 0700u, sub);
  }
  // Another platform resolves the same reference to another module.
  auto arm = BlobCache::open({dir.path() + "/cache", 1 << 20, 60s, "wasi/wasm32"});
  BOOST_TEST_REQUIRE(arm.ok());
  BOOST_TEST(!(*arm)->resolution("reg/app:v1"));
  // Damaged records are as good as none.
  for (const auto& e : fs::directory_iterator(dir.path() + "/cache/refs")) {
    std::ofstream(e.path(), std::ios::trunc) << R"({"reference":"reg/app:v1)";
  }
  BOOST_TEST(!cache->resolution("reg/app:v1"));
}

BOOST_AUTO_TEST_CASE(an_unusable_directory_is_an_error_naming_it) {
  pp::test::TempDir dir;
  const std::string file = dir.path() + "/not-a-directory";
  std::ofstream(file) << "x";
  auto cache = BlobCache::open({file, 1 << 20, 60s, "wasi/wasm"});
  BOOST_TEST_REQUIRE(!cache.ok());
  BOOST_TEST(cache.error().message.find(file) != std::string::npos, cache.error().message);
}

BOOST_AUTO_TEST_CASE(a_writer_shows_its_progress_to_those_waiting) {
  pp::test::TempDir dir;
  auto cache = open_cache(dir, 1 << 20);
  const std::string digest = descriptor_of("m").digest;
  BOOST_TEST(cache->writer_idle_for(digest).count() == 0);  // no writer
  auto held = cache->try_lock(digest);
  BOOST_TEST_REQUIRE(held);
  BOOST_TEST(cache->writer_idle_for(digest).count() <= 1);
  const std::string lock = dir.path() + "/cache/tmp/sha256-" + digest.substr(7) + ".lock";
  fs::last_write_time(lock, fs::file_time_type::clock::now() - 40s);
  BOOST_TEST(cache->writer_idle_for(digest).count() >= 39);
  held->heartbeat();
  BOOST_TEST(cache->writer_idle_for(digest).count() <= 1);
  held.reset();
  BOOST_TEST(!fs::exists(lock));
}
