#pragma once
// The benchmark's own MQTT peers (Paho C async, like the proxy): a fleet of subscribers on a chunk
// topic, as cheap as a subscriber can be so that the machine's cores go to what is measured, and a
// publisher that sends pre-encoded messages with a window of unacknowledged ones, as the proxy
// does: the broker-only baseline.

#include <MQTTAsync.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace pp::bench {

using Clock = std::chrono::steady_clock;

// What the fleet received since expect().
struct Delivery {
  Clock::time_point first;  // the earliest first message over all subscribers
  Clock::time_point last;   // the latest last message: when the slowest subscriber had them all
  std::uint64_t messages = 0;
  std::uint64_t bytes = 0;  // payload bytes
};

class Fleet {
 public:
  // `size` subscribers, connected concurrently, each subscribed to `topic` at `qos`. Throws
  // std::runtime_error when one cannot connect or subscribe within 20 s.
  Fleet(const std::string& broker_url, const std::string& topic, int qos, std::size_t size);
  ~Fleet();
  Fleet(const Fleet&) = delete;
  Fleet& operator=(const Fleet&) = delete;

  // Starts counting afresh: each subscriber is done after `messages_each` messages.
  void expect(std::uint64_t messages_each);
  // Until every subscriber is done; false after `timeout`.
  bool wait(std::chrono::milliseconds timeout);
  Delivery delivery() const;

 private:
  struct Subscriber;
  std::vector<std::unique_ptr<Subscriber>> subscribers_;
  std::atomic<std::uint64_t> expected_{0};
  mutable std::mutex mutex_;
  std::condition_variable done_;
};

// One MQTT client that publishes.
class Publisher {
 public:
  // Throws std::runtime_error when it cannot connect within 20 s.
  explicit Publisher(const std::string& broker_url);
  ~Publisher();
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  // Publishes every message in order, with at most `window` of them not yet completed (acked at
  // QoS 1 and 2, written at QoS 0); returns once all are completed. Throws on a refused publish.
  void publish_all(const std::string& topic, const std::vector<std::string>& messages, int qos,
                   std::size_t window);
  // One message, waiting for its completion.
  void publish(const std::string& topic, const std::string& message, int qos = 1);

 private:
  struct State;
  MQTTAsync client_ = nullptr;
  std::unique_ptr<State> state_;
};

}  // namespace pp::bench
