#pragma once
// Coalescing: requests for the same app on the same channel join the transfer under way, since the
// answers of both go to the same topic. The table holds, per app and channel, the transfer that
// takes such requests: the request stage opens and reads it, the track stage closes it, hence the
// lock.

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "nodes/model/transfer.hpp"

namespace pp {

class JoinTable {
 public:
  // `t` takes the requests for its app and channel from now on (unless it is for particular
  // chunks: it has no stream for others to join).
  void open(const TransferPtr& t);
  // The transfer under way that `request` may join, if there is one.
  TransferPtr find(const Request& request) const;
  // `t` takes no more requests (a later transfer for the same app may have taken its place).
  void close(const TransferPtr& t);
  std::size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::weak_ptr<Transfer>> open_;
};

}  // namespace pp
