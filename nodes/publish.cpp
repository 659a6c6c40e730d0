#include "nodes/publish.hpp"

#include <nlohmann/json.hpp>

#include "nodes/log.hpp"
#include "nodes/mqtt/topics.hpp"

namespace pp {

void ChunkPublisher::publish(const PublicationPtr& chunk,
                             std::function<void(ChunkSettled)> settled) {
  const TransferPtr& t = chunk->transfer;
  client_.publish(mqtt::Topics::server(t->request.origin), chunk->message, qos_,
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

std::string outcome_message(const Outcome& o) {
  nlohmann::json j;
  if (o.transfer) {
    const Transfer& t = *o.transfer;
    j["app_name"] = t.request.app_name;
    if (!t.blob.digest.empty()) {
      j["digest"] = t.blob.digest;
      j["size"] = t.blob.size;
      j["total_chunks"] = t.total_chunks;
    }
    // A resend fetched with ranged GETs: the requester's check of the assembled module is the only
    // one there is.
    if (t.unverified) j["verified"] = false;
    j["duration_ms"] =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t.request.received)
            .count();
  } else {
    j["app_name"] = o.rejected->app_name;
  }
  j["state"] = o.error ? "failed" : "completed";
  if (o.error) j["error"] = {{"code", o.error->code}, {"message", o.error->message}};
  // Invalid UTF-8 from a hostile request must not stop the answer: replace it.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void ChunkPublisher::publish_status(const mqtt::Origin& origin, std::string message) {
  if (origin.channel.empty()) return;  // not from a request topic: nobody to answer
  const auto where = status_topic_.for_origin(origin);
  if (!where) return;  // status messages are off
  const std::string topic = *where;
  client_.publish(topic, std::move(message), 1, [topic](bool ok, std::string reason) {
    if (!ok) log::warn("status message not delivered", {{"topic", topic}, {"error", reason}});
  });
}

void ChunkPublisher::publish_outcome(const Outcome& outcome) {
  publish_status(outcome.transfer ? outcome.transfer->request.origin : outcome.rejected->origin,
                 outcome_message(outcome));
}

void ChunkPublisher::publish_progress(const Transfer& t, std::string_view state) {
  nlohmann::json j;
  j["app_name"] = t.request.app_name;
  j["state"] = state;
  if (!t.blob.digest.empty()) {
    j["digest"] = t.blob.digest;
    j["size"] = t.blob.size;
    j["total_chunks"] = t.total_chunks;
  }
  if (state == "sending") j["chunks_sent"] = t.delivered;
  publish_status(t.request.origin,
                 j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

}  // namespace pp
