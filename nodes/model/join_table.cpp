#include "nodes/model/join_table.hpp"

namespace pp {

namespace {
std::string key_of(const Request& r) {
  return r.origin.tenant + '\n' + r.origin.channel + '\n' + r.app_name;
}
}  // namespace

void JoinTable::open(const TransferPtr& t) {
  if (!t->request.chunks.empty()) return;
  std::lock_guard lock(mutex_);
  open_[key_of(t->request)] = t;
}

TransferPtr JoinTable::find(const Request& request) const {
  std::lock_guard lock(mutex_);
  const auto it = open_.find(key_of(request));
  return it == open_.end() ? nullptr : it->second.lock();
}

void JoinTable::close(const TransferPtr& t) {
  std::lock_guard lock(mutex_);
  const auto it = open_.find(key_of(t->request));
  if (it != open_.end() && (it->second.expired() || it->second.lock() == t)) open_.erase(it);
}

std::size_t JoinTable::size() const {
  std::lock_guard lock(mutex_);
  return open_.size();
}

}  // namespace pp
