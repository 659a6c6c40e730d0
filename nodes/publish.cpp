#include "nodes/publish.hpp"

#include "nodes/mqtt/topics.hpp"

namespace pp {

void ChunkPublisher::publish(const PublicationPtr& chunk,
                             std::function<void(ChunkSettled)> settled) {
  const TransferPtr& t = chunk->transfer;
  client_.publish(mqtt::Topics::server(t->request.channel), chunk->message, qos_,
                  [t, idx = chunk->idx, last = chunk->last, settled = std::move(settled)](
                      bool ok, std::string reason) {
                    std::optional<Error> error;
                    if (!ok) {
                      error = Error{errc::publish_failed,
                                    "chunk " + std::to_string(idx) + ": " + std::move(reason)};
                    }
                    settled(ChunkSettled{t, idx, last, ok, std::move(error)});
                  });
  // Paho copied the payload; the window still counts the chunk until the broker's ack.
  chunk->message = std::string();
}

}  // namespace pp
