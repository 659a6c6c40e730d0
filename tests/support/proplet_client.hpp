// A test stand-in for a Propeller proplet: requests modules over MQTT and reassembles the chunks
// the proxy publishes, validating them the way a proplet would. Uses its own Paho MQTTAsync client
// (paho-mqtt3as, the library the product links too), independent of the product's MQTT code.
#pragma once

#include <MQTTAsync.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/registry_push.hpp"

namespace pp::test {

// Strict standard base64 (RFC 4648 alphabet, '=' padding, length a multiple of 4, zero padding
// bits); nullopt for anything else.
std::optional<std::string> base64_decode_strict(std::string_view text);
// Standard base64 with padding (for hand-made chunk messages).
std::string base64_encode(std::string_view bytes);

class PropletClient {
 public:
  // Reassembly state of one app_name, as seen by this client.
  struct Assembly {
    std::uint64_t total_chunks = 0;               // from the first valid chunk
    std::string digest;                           // first "digest" seen, if any
    std::uint64_t size = 0;                       // first "size" seen, if any
    std::map<std::uint64_t, std::string> chunks;  // decoded bytes by index, only with keep_bytes
    std::uint64_t received = 0;                   // valid chunk messages, duplicates included
    std::uint64_t distinct = 0;                   // distinct indices received
    std::uint64_t duplicates = 0;                 // valid messages repeating an index (ignored)
    // Messages for this app that a proplet would drop: missing/mistyped fields, bad base64,
    // chunk_idx >= total_chunks, or total_chunks/digest/size differing from the first chunk's.
    std::uint64_t rejected = 0;
    std::vector<std::uint64_t> arrival_order;  // chunk_idx of every valid message, as received
    bool in_order = true;                      // first occurrences arrived as 0, 1, 2, ...
    // "sha256:..." of the bytes in arrival order, set on completion if in_order (works without
    // keep_bytes); streamed_bytes counts the bytes hashed so far.
    std::string streamed_sha256;
    std::uint64_t streamed_bytes = 0;
    bool complete = false;  // all indices 0..total_chunks-1 present
  };

  // Connects (clean session, unique client id, automatic reconnect) and subscribes with `qos` to
  // the server and status topics of `channel`; throws std::runtime_error if that does not
  // succeed within 30 s. keep_bytes=false keeps only counters and the streamed hash (large
  // modules). Note: while another Paho client exists in the process, Paho 1.3.11 needs ~2 s to
  // connect (its shared receive thread polls in 1 s rounds; eclipse-paho/paho.mqtt.c#1430), so
  // create several clients with connect_many(). `channel` is a channel id (the seed's
  // channels/<channel>/messages/registry/ topics), or a topic root ending in '/', such as
  // supermq_root() makes.
  PropletClient(std::string broker_url, std::string channel, int qos = 1, bool keep_bytes = true);
  ~PropletClient();
  PropletClient(const PropletClient&) = delete;
  PropletClient& operator=(const PropletClient&) = delete;

  // One client per channel, constructed concurrently (so the Paho connect delay is paid once).
  static std::vector<std::unique_ptr<PropletClient>> connect_many(
      const std::string& broker_url, const std::vector<std::string>& channels, int qos = 1,
      bool keep_bytes = true);

  // The topic root of a SuperMQ deployment's registry topics: m/<tenant>/c/<channel>/registry/.
  static std::string supermq_root(const std::string& tenant, const std::string& channel) {
    return "m/" + tenant + "/c/" + channel + "/registry/";
  }

  std::string request_topic() const { return prefix_ + "proplet"; }
  std::string server_topic() const { return prefix_ + "server"; }
  std::string status_topic() const { return prefix_ + "status"; }

  // Publishes {"app_name": app_name} (QoS 1) on the request topic; waits for the PUBACK.
  void request(const std::string& app_name);
  // Publishes any payload and waits until Paho reports completion; throws on failure/timeout.
  void publish_raw(const std::string& topic, std::string_view payload, int qos = 1);

  Assembly snapshot(const std::string& app_name) const;
  // The module (chunks 0..n-1 concatenated; "" without keep_bytes) once complete, else nullopt
  // after `timeout`.
  std::optional<std::string> wait_complete(const std::string& app_name,
                                           std::chrono::milliseconds timeout);
  // JSON objects received on the status topic whose "app_name" equals app_name.
  std::vector<nlohmann::json> status_messages(const std::string& app_name) const;
  // The first final status message (state "completed" or "failed") for app_name, waiting up to
  // `timeout` for one.
  std::optional<nlohmann::json> wait_status(const std::string& app_name,
                                            std::chrono::milliseconds timeout);
  // Every message received on the server topic (valid or not).
  std::size_t message_count() const;
  bool wait_message_count(std::size_t at_least, std::chrono::milliseconds timeout);
  // Forgets the assembly and status messages of app_name, so it can be requested afresh.
  void forget(const std::string& app_name);
  // Publishes a marker on a topic of this client's own and waits for it to come back. The broker
  // queues messages for a client in the order it receives them, so everything it had received for
  // this client before the marker (from any publisher) has been delivered once this returns true.
  // False after `timeout`.
  bool sync(std::chrono::milliseconds timeout = std::chrono::seconds(30));

  // Connected and subscribed. After a broker restart Paho reconnects by itself (its jittered
  // retry plus connect cycle takes ~2-4 s with Paho 1.3.11) and the client subscribes again;
  // wait_connected() waits for that. Messages published meanwhile are lost (clean session).
  bool connected() const;
  bool wait_connected(std::chrono::milliseconds timeout);
  std::uint64_t connection_losses() const;
  // While held, the client reads nothing more from the broker (its receive callback waits): a
  // device that stalls, so that the broker holds what it publishes to it.
  void hold_deliveries(bool held);

 private:
  struct AppState {
    Assembly assembly;
    std::set<std::uint64_t> seen;
    Sha256Hasher hasher;
    std::uint64_t next_in_order = 0;
    bool size_seen = false;
  };

  static void on_connected(void* self, char* cause);
  static void on_connect_failure(void* self, MQTTAsync_failureData* data);
  static void on_connection_lost(void* self, char* cause);
  static int on_message(void* self, char* topic, int topic_len, MQTTAsync_message* message);
  static void on_subscribed(void* self, MQTTAsync_successData* data);
  static void on_subscribe_failure(void* self, MQTTAsync_failureData* data);
  static void on_publish_success(void* self, MQTTAsync_successData* data);
  static void on_publish_failure(void* self, MQTTAsync_failureData* data);
  static void on_disconnected(void* self, MQTTAsync_successData* data);

  void subscribe();
  void handle_chunk(std::string_view payload);
  void handle_status(std::string_view payload);
  bool accept_chunk(AppState& app, const nlohmann::json& msg);
  void record_first(AppState& app, std::uint64_t idx, std::string bytes);
  void finish_completion(int token, bool ok);
  void shutdown() noexcept;

  const std::string prefix_;  // "channels/<ch>/messages/registry/" or a given topic root
  const int qos_;
  const bool keep_bytes_;
  const int broker_port_;
  const std::string id_;
  const std::string sync_topic_;  // this client's alone: markers for sync()
  MQTTAsync client_ = nullptr;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, AppState> apps_;
  std::vector<nlohmann::json> status_;
  std::size_t server_messages_ = 0;
  std::set<std::string> synced_;  // markers back from the broker, not yet claimed by sync()
  std::uint64_t sync_seq_ = 0;
  std::map<int, bool> completions_;  // publish token -> succeeded
  std::optional<std::string> connect_error_;
  bool subscribed_ = false;
  bool closing_ = false;
  bool disconnected_ = false;
  bool held_ = false;
  std::uint64_t losses_ = 0;
};

// The name used in the original brief.
using ProletClient = PropletClient;

}  // namespace pp::test
