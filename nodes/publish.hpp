#pragma once
// The publish stage: hands a verified chunk message to the broker. The chunk's flight ends, and its
// window credit returns, only when the broker has acknowledged it.

#include <functional>
#include <memory>

#include "nodes/mqtt/mqtt_client.hpp"
#include "pipeline/transfer.hpp"

namespace pp {

using PublicationPtr = std::shared_ptr<Publication>;

class ChunkPublisher {
 public:
  ChunkPublisher(mqtt::Client& client, int qos) : client_(client), qos_(qos) {}

  // `settled` runs on Paho's thread (or right here when the client refuses the message).
  void publish(const PublicationPtr& chunk, std::function<void(ChunkSettled)> settled);

 private:
  mqtt::Client& client_;
  int qos_;
};

}  // namespace pp
