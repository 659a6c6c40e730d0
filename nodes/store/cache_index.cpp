#include "nodes/store/cache_index.hpp"

#include <algorithm>
#include <unordered_set>

namespace pp {

namespace {

// The keys of `map` that `seen` does not hold and that were not touched since `scan_started`.
template <class Value, class Seen, class KeyOf>
std::vector<std::string> unseen(const RecencyMap<Value>& map, const std::vector<Seen>& seen,
                                CacheTime scan_started, KeyOf key_of) {
  std::unordered_set<std::string> keys;
  keys.reserve(seen.size());
  for (const Seen& s : seen)
    keys.insert(key_of(s));
  std::vector<std::string> out;
  for (const auto& [key, item] : map.items()) {
    if (item.at < scan_started && !keys.count(key)) out.push_back(key);
  }
  return out;
}

}  // namespace

void ModuleIndex::put(const std::string& digest, std::uint64_t size, CacheTime used, bool checked) {
  erase(digest);
  modules_.put(digest, used, Module{size, checked});
  bytes_ += size;
}

void ModuleIndex::touch(const std::string& digest, std::uint64_t size, CacheTime used) {
  const auto* known = modules_.find(digest);
  // Another size is another file under the same name: what was checked was not this one.
  const bool checked = known && known->value.size == size && known->value.checked;
  put(digest, size, std::max(used, known ? known->at : used), checked);
}

void ModuleIndex::mark_checked(const std::string& digest) {
  if (const auto* known = modules_.find(digest)) {
    modules_.put(digest, known->at, Module{known->value.size, true});
  }
}

bool ModuleIndex::checked(const std::string& digest) const {
  const auto* known = modules_.find(digest);
  return known && known->value.checked;
}

void ModuleIndex::erase(const std::string& digest) {
  if (const auto* known = modules_.find(digest)) {
    bytes_ -= known->value.size;
    modules_.erase(digest);
  }
}

std::vector<std::pair<std::string, std::uint64_t>> ModuleIndex::take_victims(
    std::uint64_t bytes, std::size_t count, std::uint64_t max_bytes, std::size_t max_modules) {
  std::vector<std::pair<std::string, std::uint64_t>> out;
  while (modules_.size() > 0 &&
         (bytes_ + bytes > max_bytes || modules_.size() + count > max_modules)) {
    const std::string digest = modules_.begin()->second;
    out.emplace_back(digest, modules_.find(digest)->value.size);
    erase(digest);
  }
  return out;
}

void ModuleIndex::reconcile(const std::vector<Seen>& seen, CacheTime scan_started) {
  for (const auto& gone :
       unseen(modules_, seen, scan_started, [](const Seen& s) { return s.digest; })) {
    erase(gone);
  }
  for (const Seen& s : seen)
    touch(s.digest, s.size, s.used);
}

void RecordIndex::put(const std::string& name, CacheTime written, Record record) {
  records_.put(name, written, std::move(record));
}

std::vector<RecordIndex::Taken> RecordIndex::take_for_module(const std::string& module) {
  std::vector<Taken> out;
  for (const auto& [name, item] : records_.items()) {
    if (item.value.module == module) out.emplace_back(name, item.value);
  }
  for (const auto& taken : out)
    records_.erase(taken.first);
  return out;
}

std::vector<RecordIndex::Taken> RecordIndex::take_oldest_beyond(std::size_t max_records) {
  std::vector<Taken> out;
  while (records_.size() > max_records) {
    const std::string name = records_.begin()->second;
    out.emplace_back(name, records_.find(name)->value);
    records_.erase(name);
  }
  return out;
}

void RecordIndex::reconcile(const std::vector<Seen>& seen, CacheTime scan_started) {
  for (const auto& gone :
       unseen(records_, seen, scan_started, [](const Seen& s) { return s.name; })) {
    records_.erase(gone);
  }
  for (const Seen& s : seen) {
    const auto* known = records_.find(s.name);
    if (known && known->value.inode == s.record.inode && known->value.mtime == s.record.mtime) {
      continue;  // the same file: known better than its mtime says
    }
    // Rewritten by this process after the scan saw it: the newer one stands.
    if (known && known->at >= scan_started) continue;
    records_.put(s.name, s.record.mtime, s.record);
  }
}

}  // namespace pp
