#pragma once
// A stage with several ways out returns a std::variant whose alternative is the way: alternative i
// leaves by the node's output port i (each stage names its ports in an enum), and a trailing
// std::monostate by none. So the stage decides, and pipeline/graph.cpp routes, without either
// knowing the other's types.

#include <cstddef>
#include <utility>
#include <variant>

#include "nodes/model/transfer.hpp"

namespace pp {

// The ways out of a stage that takes a transfer on: on its way, to track (failed), or on another.
using TransferNext = std::variant<TransferPtr, TrackEvent, TransferPtr>;

// The `Next` that leaves by `port` with `value`.
template <auto port, class Next, class Value>
Next by(Value&& value) {
  return Next(std::in_place_index<static_cast<std::size_t>(port)>, std::forward<Value>(value));
}

// The `Next` that takes `t`, failed with `error`, to track by `port`.
template <auto port, class Next>
Next fail_by(const TransferPtr& t, Error error) {
  return by<port, Next>(TrackEvent{TransferFailed{t, std::move(error)}});
}

}  // namespace pp
