#pragma once
// For the client subcommands, which have nothing else to do while the registry answers.

#include <future>
#include <utility>

#include "nodes/clients/oci/http_io.hpp"

namespace pp {

// Runs one asynchronous registry operation on the I/O thread, where the client's callbacks run,
// and waits for its result. `start` gets the callback that takes the Result.
template <typename Result, typename Start>
Result wait_on_io(oci::HttpIo& io, Start start) {
  std::promise<Result> promise;
  auto result = promise.get_future();
  io.post([&] { start([&promise](Result r) { promise.set_value(std::move(r)); }); });
  return result.get();
}

}  // namespace pp
