#pragma once
// A broker connection in memory, behind the mqtt::Publisher seam: it acknowledges each publish
// from a thread of its own (as Paho's callbacks come from Paho's thread), in publish order, and
// records what it acknowledged: what subscribers would have seen. A test can drop the connection
// and bring it back, and wait, with a deadline, for what was published.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "nodes/clients/mqtt/mqtt_client.hpp"

namespace pp::test {

class FakeBroker : public mqtt::Publisher {
 public:
  struct Message {
    std::string topic;
    std::string payload;
    int qos = 0;
  };
  using Condition = std::function<bool(const std::vector<Message>&)>;

  FakeBroker();
  // Publishes never acknowledged are dropped without a callback: whoever published them is gone
  // by now.
  ~FakeBroker() override;
  FakeBroker(const FakeBroker&) = delete;
  FakeBroker& operator=(const FakeBroker&) = delete;

  void publish(const std::string& topic, std::string_view payload, int qos,
               PublishDone done) override;
  void on_connection(ConnectionHook hook) override;

  // The connection is (again) ready: the hook hears true.
  void connect();
  // The connection is lost: the hook hears false, publishes not yet acknowledged fail with
  // connection_lost, and so do new ones until connect().
  void disconnect();

  // What the broker acknowledged, in order.
  std::vector<Message> messages() const;
  // Publishes answered connection_lost.
  std::size_t lost() const;
  // Waits up to `timeout` until `condition` holds for what was acknowledged; whether it did.
  bool wait_for(const Condition& condition, std::chrono::milliseconds timeout) const;
  // Waits up to `timeout` until every publish has had its callback; whether it did.
  bool wait_acknowledged(std::chrono::milliseconds timeout) const;

 private:
  struct Pending {
    Message message;
    PublishDone done;
  };
  void run();

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  ConnectionHook hook_;
  bool connected_ = true;
  bool stopping_ = false;
  std::deque<Pending> pending_;
  bool acknowledging_ = false;  // a callback is running
  std::vector<Message> messages_;
  std::size_t lost_ = 0;
  std::thread acks_;  // last: it uses the members above
};

}  // namespace pp::test
