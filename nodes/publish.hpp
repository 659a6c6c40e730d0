#pragma once
// The publish stage: hands a verified chunk message to the broker. The chunk's flight ends, and its
// window credit returns, only when the broker has acknowledged it.

#include <functional>
#include <memory>
#include <string_view>

#include "nodes/mqtt/mqtt_client.hpp"
#include "nodes/mqtt/topics.hpp"
#include "nodes/track.hpp"
#include "pipeline/transfer.hpp"

namespace pp {

using PublicationPtr = std::shared_ptr<Publication>;

class ChunkPublisher {
 public:
  ChunkPublisher(mqtt::Client& client, int qos, mqtt::StatusTopic status_topic = {})
      : client_(client), qos_(qos), status_topic_(std::move(status_topic)) {}

  // `settled` runs on Paho's thread (or right here when the client refuses the message).
  void publish(const PublicationPtr& chunk, std::function<void(ChunkSettled)> settled);

  // Tells the requester how its request ended, on the channel's status topic (QoS 1; see
  // mqtt::StatusTopic):
  // {"app_name","state":"completed","digest","size","total_chunks","duration_ms"} or
  // {"app_name","state":"failed","error":{"code","message"}, …what was known}.
  void publish_outcome(const Outcome& outcome);

  // A running transfer's progress on the same topic (QoS 1): "resolving" (the manifest is being
  // fetched), "downloading" (with digest, size and total_chunks once the module is known),
  // "sending" (with chunks_sent, the chunks the broker has acknowledged). Call "sending" from the
  // track stage only, which owns the count.
  void publish_progress(const Transfer& t, std::string_view state);

 private:
  void publish_status(const mqtt::Origin& origin, std::string message);

  mqtt::Client& client_;
  int qos_;
  mqtt::StatusTopic status_topic_;
};

}  // namespace pp
