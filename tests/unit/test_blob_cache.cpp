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

#include "nodes/clients/oci/digest.hpp"
#include "nodes/store/cache.hpp"
#include "nodes/store/cache_index.hpp"
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

// Stores `bytes` as a download would: written to a temp file of the cache, then stored, and waits
// for the store to be done.
void put(BlobCache& cache, const std::string& bytes) {
  auto file = cache.create_temp();
  BOOST_TEST_REQUIRE(file.ok());
  BOOST_TEST_REQUIRE(!(*file)->append(bytes.data(), bytes.size()));
  cache.store(*file, descriptor_of(bytes));
  cache.flush();
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
  const BlobCache::Resolution r{"sha256:" + std::string(64, 'a'),
                                descriptor_of("x"),
                                std::chrono::system_clock::now() - c.age,
                                true,
                                {}};
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
  // No pauses for distinct mtimes: the order is the index's, kept in memory.
  put(*cache, a);
  put(*cache, b);
  put(*cache, c);
  BOOST_TEST(cache->find(descriptor_of(a)));  // a is used: b is now the oldest
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
  auto spool = std::make_shared<pp::SpoolFile>(fd);
  BOOST_TEST_REQUIRE(!spool->append(bytes.data(), bytes.size()));
  cache->store(spool, descriptor_of(bytes));
  cache->flush();
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

// The verdict goes with the resolution, for the keys it was reached with; a record with no verdict
// (the proxy did not check signatures then) reads back without one.
BOOST_AUTO_TEST_CASE(signature_verdicts_round_trip_with_their_resolution) {
  pp::test::TempDir dir;
  auto cache = open_cache(dir, 1 << 20);
  const auto when = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
  using Result = pp::trust::Verdict::Result;
  for (const auto& verdict : {
           pp::trust::Verdict{Result::verified, "a1b2c3d4e5f60718", "bundle", ""},
           pp::trust::Verdict{Result::unsigned_module, "", "", "no signature found"},
           pp::trust::Verdict{Result::invalid, "", "", "1 signature, none valid"},
       }) {
    BlobCache::Resolution r{"sha256:" + std::string(64, 'e'), descriptor_of("module"), when, true,
                            pp::trust::CheckedSignature{verdict, "k1,k2", when}};
    cache->remember("reg/app:v1", r);
    const auto back = cache->resolution("reg/app:v1");
    BOOST_TEST_REQUIRE(back.has_value());
    BOOST_TEST_REQUIRE(back->signature.has_value());
    BOOST_TEST((back->signature->verdict.result == verdict.result));
    BOOST_TEST(back->signature->verdict.key_id == verdict.key_id);
    BOOST_TEST(back->signature->verdict.format == verdict.format);
    BOOST_TEST(back->signature->verdict.reason == verdict.reason);
    BOOST_TEST(back->signature->keyset == "k1,k2");
    BOOST_TEST((back->signature->checked_at == when));
  }
  cache->remember("reg/app:v1", {"sha256:" + std::string(64, 'e'), descriptor_of("module"), when,
                                 true, std::nullopt});
  const auto back = cache->resolution("reg/app:v1");
  BOOST_TEST_REQUIRE(back.has_value());
  BOOST_TEST(!back->signature.has_value());
}

BOOST_AUTO_TEST_CASE(resolutions_round_trip_and_damaged_records_are_ignored) {
  pp::test::TempDir dir;
  auto cache = open_cache(dir, 1 << 20);
  const auto when = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
  const BlobCache::Resolution r{
      "sha256:" + std::string(64, 'e'), descriptor_of("module"), when, false, {}};
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

namespace {

// One step of a cache's life: a module stored or used, or a reference resolved to one. Module `m`
// is 100 bytes of the letter m.
struct Op {
  enum Kind { store, use, resolve } kind;
  char module;
  std::string reference = {};
};

struct BoundCase {
  std::string name;
  std::uint64_t max_bytes;
  std::size_t max_modules, max_records;
  std::vector<Op> ops;
  std::string modules_kept;  // letters
  std::vector<std::string> references_kept;
  std::uint64_t evictions;
};

std::ostream& operator<<(std::ostream& os, const BoundCase& c) {
  return os << c.name;
}

std::string module_bytes(char m) {
  return std::string(100, m);
}

const BoundCase kBounds[] = {
    {"the least recently used module goes first",
     300,
     100,
     100,
     {{Op::store, 'a'}, {Op::store, 'b'}, {Op::store, 'c'}, {Op::use, 'a'}, {Op::store, 'd'}},
     "acd",
     {},
     1},
    {"a module's records go with it",
     200,
     100,
     100,
     {{Op::store, 'a'},
      {Op::resolve, 'a', "reg/a:v1"},
      {Op::resolve, 'a', "reg/a@sha256:aaaa"},
      {Op::store, 'b'},
      {Op::resolve, 'b', "reg/b:v1"},
      {Op::store, 'c'}},
     "bc",
     {"reg/b:v1"},
     1},
    {"a record of a module never stored stays: only the count bounds it",
     200,
     100,
     100,
     {{Op::resolve, 'x', "reg/x:v1"}, {Op::store, 'a'}, {Op::store, 'b'}, {Op::store, 'c'}},
     "bc",
     {"reg/x:v1"},
     1},
    {"the number of modules is bounded too",
     1 << 20,
     2,
     100,
     {{Op::store, 'a'}, {Op::store, 'b'}, {Op::store, 'c'}},
     "bc",
     {},
     1},
    {"the number of records is bounded: the least recently written go",
     1 << 20,
     100,
     3,
     {{Op::store, 'a'},
      {Op::resolve, 'a', "r1"},
      {Op::resolve, 'a', "r2"},
      {Op::resolve, 'a', "r3"},
      {Op::resolve, 'a', "r1"},  // written again: now the newest
      {Op::resolve, 'a', "r4"},
      {Op::resolve, 'a', "r5"}},
     "a",
     {"r1", "r4", "r5"},
     0},
    {"a module stored twice counts once",
     1 << 20,
     100,
     100,
     {{Op::store, 'a'}, {Op::store, 'a'}},
     "a",
     {},
     0},
};

const std::vector<std::string> kReferences = {
    "reg/a:v1", "reg/a@sha256:aaaa", "reg/b:v1", "reg/x:v1", "r1", "r2", "r3", "r4", "r5"};

}  // namespace

BOOST_DATA_TEST_CASE(modules_and_records_stay_within_their_bounds, bdata::make(kBounds), c) {
  pp::test::TempDir dir;
  auto opened = BlobCache::open({.dir = dir.path() + "/cache",
                                 .max_bytes = c.max_bytes,
                                 .platform = "wasi/wasm",
                                 .max_modules = c.max_modules,
                                 .max_records = c.max_records});
  BOOST_TEST_REQUIRE(opened.ok());
  BlobCache& cache = **opened;
  for (const Op& op : c.ops) {
    const std::string bytes = module_bytes(op.module);
    switch (op.kind) {
      case Op::store:
        put(cache, bytes);
        break;
      case Op::use:
        BOOST_TEST(cache.find(descriptor_of(bytes)));
        break;
      case Op::resolve:
        cache.remember(op.reference, {"sha256:" + std::string(64, 'f'),
                                      descriptor_of(bytes),
                                      std::chrono::system_clock::now(),
                                      true,
                                      {}});
        cache.flush();  // the records' pass, when one is due
        break;
    }
  }
  std::string kept;
  for (char m = 'a'; m <= 'z'; ++m)
    if (fs::exists(blob_path(dir, module_bytes(m)))) kept += m;
  BOOST_TEST(kept == c.modules_kept);
  std::vector<std::string> references;
  for (const auto& r : kReferences)
    if (cache.resolution(r)) references.push_back(r);
  BOOST_TEST(references == c.references_kept, boost::test_tools::per_element());
  BOOST_TEST(cache.counters().modules.load() == c.modules_kept.size());
  BOOST_TEST(cache.counters().bytes.load() == 100 * c.modules_kept.size());
  BOOST_TEST(cache.counters().records.load() == c.references_kept.size());
  BOOST_TEST(cache.counters().evictions.load() == c.evictions);
  std::size_t on_disk = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path() + "/cache/refs"))
    ++on_disk;
  BOOST_TEST(on_disk == c.references_kept.size());
  BOOST_TEST(fs::is_empty(dir.path() + "/cache/tmp"));  // nothing was left aside
}

// The store runs on the cache's thread, and the writer's lock goes with it: whenever the lock is
// free again, the module is there, so that a transfer waiting for the digest finds it.
BOOST_AUTO_TEST_CASE(the_writers_lock_is_held_until_its_module_is_stored) {
  pp::test::TempDir dir;
  auto cache = open_cache(dir, 1 << 30);
  int pending_after_store = 0;
  for (int round = 0; round < 10; ++round) {
    // Copied in (as from another file system), so that the store takes a while.
    const std::string bytes(4'000'000 + round, static_cast<char>('a' + round));
    const auto blob = descriptor_of(bytes);
    const std::string path = dir.path() + "/spooled";
    const int fd = ::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    BOOST_TEST_REQUIRE(fd >= 0);
    ::unlink(path.c_str());
    auto spool = std::make_shared<pp::SpoolFile>(fd);
    BOOST_TEST_REQUIRE(!spool->append(bytes.data(), bytes.size()));
    std::shared_ptr<BlobCache::WriterLock> writer = cache->try_lock(blob.digest);
    BOOST_TEST_REQUIRE(writer);
    cache->store(std::move(spool), blob, std::move(writer));
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    for (bool first = true;; first = false) {
      if (auto free = cache->try_lock(blob.digest)) {
        BOOST_TEST(cache->find(blob, false), "round " << round);
        break;
      }
      if (first) ++pending_after_store;
      BOOST_TEST_REQUIRE((std::chrono::steady_clock::now() < deadline));
      std::this_thread::yield();
    }
  }
  BOOST_TEST_MESSAGE(pending_after_store
                     << " of 10 stores were still running when store() returned");
}

// Two caches on one directory, as two processes: what one stores and removes reaches the other's
// index with its next refresh, and the bound then counts both.
BOOST_AUTO_TEST_CASE(another_process_s_modules_come_in_with_a_refresh) {
  pp::test::TempDir dir;
  const auto open_shared = [&] {
    auto c = BlobCache::open({.dir = dir.path() + "/cache",
                              .max_bytes = 300,
                              .platform = "wasi/wasm",
                              .refresh_every = 50ms});
    BOOST_TEST_REQUIRE(c.ok());
    return std::move(c).value();
  };
  auto one = open_shared();
  auto other = open_shared();
  put(*one, module_bytes('a'));
  std::this_thread::sleep_for(20ms);  // b and c's mtimes later than a's use, on any clock
  put(*other, module_bytes('b'));
  put(*other, module_bytes('c'));
  const auto wait_for = [](const std::function<bool()>& condition) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!condition() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(10ms);
    return condition();
  };
  BOOST_TEST_REQUIRE(wait_for([&] { return one->counters().modules.load() == 3; }));
  BOOST_TEST(one->counters().bytes.load() == 300u);
  // a is the least recently used of the three, as one knows them.
  put(*one, module_bytes('d'));
  BOOST_TEST(!fs::exists(blob_path(dir, module_bytes('a'))));
  for (char m : {'b', 'c', 'd'})
    BOOST_TEST(fs::exists(blob_path(dir, module_bytes(m))), m);
  // Removed behind its back (another process evicting): forgotten with the next refresh.
  fs::remove(blob_path(dir, module_bytes('b')));
  BOOST_TEST(wait_for([&] { return one->counters().modules.load() == 2; }));
  BOOST_TEST(one->counters().bytes.load() == 200u);
}

// A record another process rewrote after this one indexed it is not removed with the module the
// old one named: it names another.
BOOST_AUTO_TEST_CASE(a_record_rewritten_by_another_process_survives_the_eviction) {
  pp::test::TempDir dir;
  const auto open_shared = [&] {
    // Room for one module: storing a second evicts the first (as far as each one knows).
    auto c = BlobCache::open({.dir = dir.path() + "/cache", .max_bytes = 100, .platform = "w"});
    BOOST_TEST_REQUIRE(c.ok());
    return std::move(c).value();
  };
  auto one = open_shared();
  auto other = open_shared();
  const auto now = std::chrono::system_clock::now();
  put(*one, module_bytes('a'));
  one->remember(
      "reg/app:v1",
      {"sha256:" + std::string(64, '1'), descriptor_of(module_bytes('a')), now, true, {}});
  put(*other, module_bytes('b'));
  other->remember(
      "reg/app:v1",
      {"sha256:" + std::string(64, '2'), descriptor_of(module_bytes('b')), now, true, {}});
  put(*one, module_bytes('c'));  // evicts a, and with it what one thinks resolves to a
  BOOST_TEST(!fs::exists(blob_path(dir, module_bytes('a'))));
  const auto r = other->resolution("reg/app:v1");
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST(r->module.digest == descriptor_of(module_bytes('b')).digest);
  BOOST_TEST(fs::is_empty(dir.path() + "/cache/tmp"));
}

// The index against a scan of the directory: a module the scan missed is gone, unless this process
// used it after the scan began (it may have been stored just then).
BOOST_AUTO_TEST_CASE(a_scan_forgets_only_what_was_not_used_since_it_began) {
  using pp::ModuleIndex;
  const auto t = [](int s) { return pp::CacheTime(std::chrono::seconds(1'700'000'000 + s)); };
  ModuleIndex index;
  index.put("sha256:old", 10, t(0), true);
  index.put("sha256:fresh", 20, t(10), true);
  index.put("sha256:seen", 30, t(0), true);
  index.reconcile({{"sha256:seen", 30, t(1)}, {"sha256:theirs", 40, t(2)}}, t(5));
  BOOST_TEST(index.count() == 3u);
  BOOST_TEST(index.bytes() == 90u);
  BOOST_TEST(index.checked("sha256:seen"));     // the same size: the same bytes
  BOOST_TEST(!index.checked("sha256:theirs"));  // another process's: this one has not checked it
  // Least recently used first: seen (t1), theirs (t2), fresh (t10).
  const auto victims = index.take_victims(0, 0, 30, 100);
  BOOST_TEST_REQUIRE(victims.size() == 2u);
  BOOST_TEST(victims[0].first == "sha256:seen");
  BOOST_TEST(victims[1].first == "sha256:theirs");
}
