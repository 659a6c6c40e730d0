#pragma once
// What pipeline/graph.cpp adapts the stages with: a guard for each body, the routing of a stage's
// Next to its output ports (see nodes/next.hpp), and the callbacks through which an async node's
// answers come back from another thread.

#include <oneapi/tbb/flow_graph.h>

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <string_view>
#include <tuple>
#include <utility>
#include <variant>

#include "nodes/common/error.hpp"
#include "nodes/common/log.hpp"
#include "nodes/model/transfer.hpp"

namespace pp {

// Runs a stage's body. What escapes it fails what the body was working on (`fail` gets a
// proxy_error naming the stage, which the transfer's one log line and status carry) and the graph
// goes on: oneTBB would cancel the whole graph instead, silently, and from then on no request
// would be answered (wait_for_all() rethrows only at shutdown).
template <class Body, class Fail>
void guarded(std::string_view stage, Body&& body, Fail&& fail) noexcept {
  auto problem = internal_error_in(stage, std::forward<Body>(body));
  if (!problem) return;
  if (!internal_error_in(stage, [&] { fail(*problem); })) return;
  log::error("internal error in a stage, and what it was working on could not be failed",
             {{"stage", stage}, {"error", problem->message}});
}

// Puts the alternative `next` holds into the output port of its index (none for a monostate).
template <class Ports, class... Ts>
void route(Ports& ports, std::variant<Ts...>&& next) {
  [&]<std::size_t... i>(std::index_sequence<i...>) {
    (
        [&] {
          if constexpr (i < std::tuple_size_v<Ports>) {
            if (next.index() == i) std::get<i>(ports).try_put(std::get<i>(std::move(next)));
          }
        }(),
        ...);
  }
  (std::index_sequence_for<Ts...>{});
}

// One of the graph's wait counts, held for an answer an async node's gateway gets from another
// thread: released once the answer is in (put() then release()), or when the last callback holding
// it is gone without one, so that an exception between the reservation and the hand-off cannot
// leave wait_for_all() waiting for ever.
template <class Gateway>
class WaitReservation {
 public:
  explicit WaitReservation(Gateway& gw) : gw_(gw) { gw_.reserve_wait(); }
  ~WaitReservation() { release(); }
  WaitReservation(const WaitReservation&) = delete;
  WaitReservation& operator=(const WaitReservation&) = delete;

  template <class Message>
  void put(Message&& message) {
    gw_.try_put(std::forward<Message>(message));
  }
  void release() {
    if (!released_.exchange(true)) gw_.release_wait();
  }

 private:
  Gateway& gw_;
  std::atomic<bool> released_{false};
};

template <class Gateway>
std::shared_ptr<WaitReservation<Gateway>> reserve(Gateway& gw) {
  return std::make_shared<WaitReservation<Gateway>>(gw);
}

// The callback that puts `t`'s answer through `gw`, keeping the graph's wait count up until then.
template <class T, class Gateway>
std::function<void(Expected<T>)> answer_through(Gateway& gw, TransferPtr t) {
  return [t = std::move(t), hold = reserve(gw)](Expected<T> result) {
    Answer<T> answer{t, std::nullopt, std::nullopt};
    if (result) {
      answer.value = std::move(result).value();
    } else {
      answer.error = result.error();
    }
    hold->put(std::move(answer));
    hold->release();
  };
}

// The callback that puts each item of a download through `gw`, until its last.
template <class Gateway>
std::function<void(Chunk)> chunks_through(Gateway& gw) {
  return [hold = reserve(gw)](Chunk chunk) {
    const bool last = chunk.last;
    hold->put(std::make_shared<Chunk>(std::move(chunk)));
    if (last) hold->release();
  };
}

// The callback that puts the settlement of a published chunk through `gw`.
template <class Gateway>
std::function<void(ChunkSettled)> settled_through(Gateway& gw) {
  return [hold = reserve(gw)](ChunkSettled settled) {
    hold->put(TrackEvent{std::move(settled)});
    hold->release();
  };
}

}  // namespace pp
