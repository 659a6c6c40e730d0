#pragma once
// What the module cache knows of its directory, in memory, so that storing a module needs no scan
// of it: the modules (size, last use, whether this process checked their bytes) and the resolution
// records (which module each one names, when it was written). Exact for what this process did;
// what other processes sharing the directory did comes in when BlobCache refreshes it from disk.
// Not thread-safe: BlobCache locks.

#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace pp {

// Files' mtimes are their last use (modules) or write (records): kept on the same clock.
using CacheTime = std::chrono::system_clock::time_point;

// Entries by key, in the order of their times.
template <class Value>
class RecencyMap {
 public:
  struct Item {
    CacheTime at;
    Value value;
  };

  // Adds `key`, or gives it a new time and value.
  void put(const std::string& key, CacheTime at, Value value) {
    erase(key);
    items_.emplace(key, Item{at, std::move(value)});
    order_.emplace(at, key);
  }
  bool erase(const std::string& key) {
    const auto it = items_.find(key);
    if (it == items_.end()) return false;
    order_.erase({it->second.at, key});
    items_.erase(it);
    return true;
  }
  const Item* find(const std::string& key) const {
    const auto it = items_.find(key);
    return it == items_.end() ? nullptr : &it->second;
  }
  std::size_t size() const { return items_.size(); }
  // Keys, oldest first.
  auto begin() const { return order_.begin(); }
  auto end() const { return order_.end(); }
  const std::unordered_map<std::string, Item>& items() const { return items_; }

 private:
  std::unordered_map<std::string, Item> items_;
  std::set<std::pair<CacheTime, std::string>> order_;
};

class ModuleIndex {
 public:
  struct Module {
    std::uint64_t size = 0;
    bool checked = false;  // this process hashed or stored these bytes
  };
  // A module file as a scan of the directory found it.
  struct Seen {
    std::string digest;
    std::uint64_t size = 0;
    CacheTime used;
  };

  void put(const std::string& digest, std::uint64_t size, CacheTime used, bool checked);
  // `digest` was just used (and found to be `size` bytes); added, unchecked, when unknown.
  void touch(const std::string& digest, std::uint64_t size, CacheTime used);
  void mark_checked(const std::string& digest);
  bool checked(const std::string& digest) const;
  void erase(const std::string& digest);

  // Takes out, least recently used first, the modules that must go for `bytes` more in `count`
  // more modules to fit within `max_bytes` and `max_modules` (0 and 0: to fit as they are).
  std::vector<std::pair<std::string, std::uint64_t>> take_victims(std::uint64_t bytes,
                                                                  std::size_t count,
                                                                  std::uint64_t max_bytes,
                                                                  std::size_t max_modules);
  // Brings the index in line with a scan that started at `scan_started`: what it saw is known (its
  // last use the later of the file's and this process's), what it did not see and was not used
  // since the scan started is gone (another process removed it).
  void reconcile(const std::vector<Seen>& seen, CacheTime scan_started);

  std::uint64_t bytes() const { return bytes_; }
  std::size_t count() const { return modules_.size(); }

 private:
  RecencyMap<Module> modules_;
  std::uint64_t bytes_ = 0;
};

class RecordIndex {
 public:
  struct Record {
    std::string module;  // the digest it resolves to; empty when the record is unreadable
    // Which file it is: another process may replace it (same name, another file).
    std::uint64_t inode = 0;
    CacheTime mtime;
  };
  struct Seen {
    std::string name;
    Record record;
  };
  using Taken = std::pair<std::string, Record>;  // a record's file name and what it was

  // `written`: when this process wrote it, or the file's mtime (which file systems keep coarser
  // than the clock, so records written in a burst would tie on it).
  void put(const std::string& name, CacheTime written, Record record);
  const RecencyMap<Record>::Item* find(const std::string& name) const {
    return records_.find(name);
  }
  // Takes out the records that name `module`.
  std::vector<Taken> take_for_module(const std::string& module);
  // Takes out the least recently written records beyond `max_records`.
  std::vector<Taken> take_oldest_beyond(std::size_t max_records);
  // As ModuleIndex::reconcile: what the scan saw replaces what was known of it.
  void reconcile(const std::vector<Seen>& seen, CacheTime scan_started);

  std::size_t count() const { return records_.size(); }

 private:
  RecencyMap<Record> records_;
};

}  // namespace pp
