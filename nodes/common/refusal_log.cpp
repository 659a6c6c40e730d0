#include "nodes/common/refusal_log.hpp"

#include <utility>

namespace pp {

void RefusalLog::HeldBack::add(const std::string& code) {
  ++count;
  ++by_code[code];
}

std::string RefusalLog::HeldBack::describe() const {
  if (count == 0) return {};
  std::string text = std::to_string(count) + " (";
  for (const auto& [code, n] : by_code) {
    if (text.back() != '(') text += ", ";
    text += code + " " + std::to_string(n);
  }
  return text + ")";
}

bool RefusalLog::note(const std::string& channel, const std::string& code, Clock::time_point now,
                      HeldBack& held_back) {
  constexpr auto kSecond = std::chrono::seconds(1);
  std::lock_guard lock(mutex_);
  if (now - second_ >= kSecond) {
    second_ = now;
    lines_ = 0;
  }
  const auto it = channels_.find(channel);
  if (it != channels_.end() && now - it->second.logged_at < kSecond) {
    it->second.held_back.add(code);
    return false;
  }
  if (lines_ >= kLinesPerSecond) {
    over_budget_.add(code);
    return false;
  }
  ++lines_;
  if (it != channels_.end()) {
    held_back = std::move(it->second.held_back);
    it->second = Channel{now, {}};
  } else {
    held_back = {};
    channels_.emplace(channel, Channel{now, {}});
  }
  return true;
}

std::vector<RefusalLog::Summary> RefusalLog::flush(Clock::time_point now) {
  std::vector<Summary> out;
  std::lock_guard lock(mutex_);
  for (auto it = channels_.begin(); it != channels_.end();) {
    if (now - it->second.logged_at < std::chrono::seconds(1)) {
      ++it;
      continue;
    }
    if (it->second.held_back.count > 0) out.push_back({it->first, std::move(it->second.held_back)});
    it = channels_.erase(it);
  }
  if (over_budget_.count > 0) out.push_back({"", std::exchange(over_budget_, {})});
  return out;
}

std::size_t RefusalLog::channels() const {
  std::lock_guard lock(mutex_);
  return channels_.size();
}

}  // namespace pp
