#pragma once
// The publish stage: hands a verified chunk message to the broker. The chunk's flight ends, and its
// window credit returns, only when the broker has acknowledged it.
//
// A chunk whose publish meets a lost connection (refused while the client is down, or in flight
// when the connection dropped) is not a failure: it is parked, with its message and its credit,
// and published again, in cut order, once publishing resumes (resume(): the graph says when, a
// while after the client is connected and subscribed again, so that subscribers are back too).
// So a broker restart pauses transfers (the downloads stop once the window is full of parked
// chunks) and they resume from their first unacknowledged chunk.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "nodes/clients/mqtt/mqtt_client.hpp"
#include "nodes/clients/mqtt/topics.hpp"
#include "nodes/common/refusal_log.hpp"
#include "nodes/model/transfer.hpp"

namespace pp {

class ChunkPublisher {
 public:
  ChunkPublisher(mqtt::Publisher& client, int qos, mqtt::StatusTopic status_topic = {})
      : client_(client), qos_(qos), status_topic_(std::move(status_topic)) {}

  using Settled = std::function<void(ChunkSettled)>;
  // `settled` runs on Paho's thread (or right here when the client refuses the message).
  void publish(const PublicationPtr& chunk, Settled settled);
  // The client's connection came up or went down. Going down closes publishing (chunks park);
  // coming up does not reopen it: resume() does.
  void on_connection(bool ready);
  // Publishes what is parked, and from now on every chunk as it comes (while connected).
  void resume();
  // Settles every parked chunk as not delivered (shutdown: the broker is not coming back in time).
  void drop_parked(const Error& error);

  // Tells the requester how its request ended, on the channel's status topic (QoS 1; see
  // mqtt::StatusTopic):
  // {"app_name","state":"completed","digest","size","total_chunks","duration_ms"} or
  // {"app_name","state":"failed","error":{"code","message"}, …what was known}.
  // `done`, when given, runs once the broker took the message, or it is known that it will not.
  // The answers to refused requests are bounded: past kMaxRefusalStatuses of them waiting for the
  // broker, the next ones are dropped (counted, logged once a second), so that a flood of
  // hostile requests cannot fill Paho's buffer, which the chunks of every transfer share.
  void publish_outcome(const Outcome& outcome, std::function<void()> done = {});
  static constexpr std::size_t kMaxRefusalStatuses = 256;
  // Tells each requester of `transfers` that its request failed with `error`, and waits up to
  // `timeout` for the broker to take those messages (true when it took them all).
  bool fail_all(const std::vector<TransferPtr>& transfers, const Error& error,
                std::chrono::milliseconds timeout);
  std::uint64_t statuses_dropped() const { return statuses_dropped_.load(); }

  // A running transfer's progress on the same topic (QoS 1): "resolving" (the manifest is being
  // fetched), "downloading" (with digest, size and total_chunks once the module is known),
  // "sending" (with chunks_sent, the chunks the broker has acknowledged). Call "sending" from the
  // track stage only, which owns the count.
  void publish_progress(const Transfer& t, std::string_view state);

 private:
  struct Parked {
    PublicationPtr chunk;
    Settled settled;
    std::uint64_t connection = 0;  // the connection (epoch_) it was last published on
  };
  void send(Parked p);
  void park(Parked p);
  void unpark(Parked p);
  void publish_status(const mqtt::Origin& origin, std::string message,
                      std::function<void()> done = {});

  mqtt::Publisher& client_;
  int qos_;
  mqtt::StatusTopic status_topic_;
  std::atomic<std::size_t> refusal_statuses_{0};  // waiting for the broker
  std::atomic<std::uint64_t> statuses_dropped_{0};
  RefusalLog drop_log_;
  std::mutex mutex_;
  bool open_ = true;  // until the connection goes: while closed, chunks park
  // Connections made so far: a publish lost on the current one waits for the next, even while the
  // client has not yet said that this one is gone.
  std::uint64_t epoch_ = 0;
  std::vector<Parked> parked_;
};

}  // namespace pp
