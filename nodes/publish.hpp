#pragma once
// The publish stage: hands a verified chunk message to the broker. The chunk's flight ends, and its
// window credit returns, only when the broker has acknowledged it.

#include <functional>
#include <memory>

#include "nodes/mqtt/mqtt_client.hpp"
#include "nodes/track.hpp"
#include "pipeline/transfer.hpp"

namespace pp {

using PublicationPtr = std::shared_ptr<Publication>;

class ChunkPublisher {
 public:
  ChunkPublisher(mqtt::Client& client, int qos) : client_(client), qos_(qos) {}

  // `settled` runs on Paho's thread (or right here when the client refuses the message).
  void publish(const PublicationPtr& chunk, std::function<void(ChunkSettled)> settled);

  // Tells the requester how its request ended, on the channel's status topic (QoS 1):
  // {"app_name","state":"completed","digest","size","total_chunks","duration_ms"} or
  // {"app_name","state":"failed","error":{"code","message"}, …what was known}.
  void publish_outcome(const Outcome& outcome);

 private:
  mqtt::Client& client_;
  int qos_;
};

}  // namespace pp
