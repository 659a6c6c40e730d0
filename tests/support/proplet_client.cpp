#include "tests/support/proplet_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <stdexcept>

#include "tests/support/tcp.hpp"

namespace pp::test {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<std::int8_t, 256> decode_table() {
  std::array<std::int8_t, 256> t{};
  t.fill(-1);
  for (std::size_t i = 0; i < kAlphabet.size(); ++i) {
    t[static_cast<unsigned char>(kAlphabet[i])] = static_cast<std::int8_t>(i);
  }
  return t;
}

std::string unique_client_id() {
  static std::atomic<unsigned> seq{0};
  const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
  return "pp-proplet-" + std::to_string(::getpid()) + "-" + std::to_string(++seq) + "-" +
         std::to_string(now % 1000000);
}

std::optional<std::uint64_t> unsigned_field(const nlohmann::json& msg, const char* key) {
  const auto it = msg.find(key);
  if (it == msg.end() || !it->is_number_unsigned()) return std::nullopt;
  return it->get<std::uint64_t>();
}

// Optional fields are fine when absent, but must have the right type when present.
template <typename Check>
bool optional_ok(const nlohmann::json& msg, const char* key, Check check) {
  const auto it = msg.find(key);
  return it == msg.end() || check(*it);
}

// The string "app_name" of a message, or nullopt (never throws on odd payloads).
std::optional<std::string> app_name_of(const nlohmann::json& msg) {
  const auto it = msg.find("app_name");
  if (it == msg.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

std::string mqtt_error(const char* what, int rc) {
  return std::string(what) + ": " + MQTTAsync_strerror(rc) + " (" + std::to_string(rc) + ")";
}

}  // namespace

// --- base64 ------------------------------------------------------------------------------------

std::optional<std::string> base64_decode_strict(std::string_view text) {
  static constexpr auto kTable = decode_table();
  if (text.size() % 4 != 0) return std::nullopt;
  std::size_t pad = 0;
  if (!text.empty() && text.back() == '=') pad = text[text.size() - 2] == '=' ? 2 : 1;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    std::uint32_t quad = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      const bool padding = last && k >= 4 - pad;
      const std::int8_t v = padding ? 0 : kTable[static_cast<unsigned char>(text[i + k])];
      if (v < 0) return std::nullopt;  // outside the alphabet, or '=' not at the end
      quad = (quad << 6) | static_cast<std::uint32_t>(v);
    }
    // Non-zero bits under the padding mean a non-canonical encoding.
    if (last && ((pad == 1 && (quad & 0xff) != 0) || (pad == 2 && (quad & 0xffff) != 0))) {
      return std::nullopt;
    }
    const std::size_t n = last ? 3 - pad : 3;
    for (std::size_t k = 0; k < n; ++k)
      out += static_cast<char>((quad >> (16 - 8 * k)) & 0xff);
  }
  return out;
}

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const std::size_t n = std::min<std::size_t>(3, bytes.size() - i);
    std::uint32_t triple = 0;
    for (std::size_t k = 0; k < 3; ++k) {
      const auto byte = k < n ? static_cast<unsigned char>(bytes[i + k]) : 0u;
      triple = (triple << 8) | byte;
    }
    for (std::size_t k = 0; k < 4; ++k) {
      out += k <= n ? kAlphabet[(triple >> (18 - 6 * k)) & 0x3f] : '=';
    }
  }
  return out;
}

// --- connection --------------------------------------------------------------------------------

PropletClient::PropletClient(std::string broker_url, std::string channel, int qos, bool keep_bytes)
    : prefix_(channel.ends_with('/') ? channel : "channels/" + channel + "/messages/registry/"),
      qos_(qos),
      keep_bytes_(keep_bytes),
      broker_port_(url_port(broker_url)),
      id_(unique_client_id()),
      sync_topic_("pp-test-sync/" + id_) {
  int rc = MQTTAsync_create(&client_, broker_url.c_str(), id_.c_str(), MQTTCLIENT_PERSISTENCE_NONE,
                            nullptr);
  if (rc != MQTTASYNC_SUCCESS) throw std::runtime_error(mqtt_error("MQTTAsync_create", rc));
  MQTTAsync_setCallbacks(client_, this, on_connection_lost, on_message, nullptr);
  // Called for the first connect and every automatic reconnect: (re)subscribe there, because a
  // clean session loses its subscriptions with the broker.
  MQTTAsync_setConnected(client_, this, on_connected);

  MQTTAsync_connectOptions opts = MQTTAsync_connectOptions_initializer;
  opts.keepAliveInterval = 20;
  opts.cleansession = 1;
  opts.connectTimeout = 5;
  opts.MQTTVersion = MQTTVERSION_3_1_1;
  opts.automaticReconnect = 1;
  opts.minRetryInterval = 1;
  opts.maxRetryInterval = 2;
  opts.onFailure = on_connect_failure;
  opts.context = this;
  rc = MQTTAsync_connect(client_, &opts);
  if (rc != MQTTASYNC_SUCCESS) {
    shutdown();
    throw std::runtime_error(mqtt_error(("connect to " + broker_url).c_str(), rc));
  }
  std::unique_lock lock(mu_);
  const bool done = cv_.wait_for(lock, std::chrono::seconds(30),
                                 [&] { return subscribed_ || connect_error_.has_value(); });
  if (subscribed_) return;
  const std::string why = done ? *connect_error_ : "timed out after 30 s";
  lock.unlock();
  shutdown();
  throw std::runtime_error("proplet client " + broker_url + ": " + why);
}

PropletClient::~PropletClient() {
  shutdown();
}

std::vector<std::unique_ptr<PropletClient>> PropletClient::connect_many(
    const std::string& broker_url, const std::vector<std::string>& channels, int qos,
    bool keep_bytes) {
  std::vector<std::future<std::unique_ptr<PropletClient>>> pending;
  for (const std::string& channel : channels) {
    pending.push_back(std::async(std::launch::async, [=] {
      return std::make_unique<PropletClient>(broker_url, channel, qos, keep_bytes);
    }));
  }
  std::vector<std::unique_ptr<PropletClient>> clients;
  for (auto& p : pending)
    clients.push_back(p.get());  // rethrows; the rest are still joined
  return clients;
}

void PropletClient::shutdown() noexcept {
  if (client_ == nullptr) return;
  {
    std::lock_guard lock(mu_);
    closing_ = true;
  }
  cv_.notify_all();  // a held delivery lets go
  MQTTAsync_disconnectOptions opts = MQTTAsync_disconnectOptions_initializer;
  opts.timeout = 1000;
  opts.onSuccess = on_disconnected;
  opts.onFailure = [](void* self, MQTTAsync_failureData*) { on_disconnected(self, nullptr); };
  opts.context = this;
  if (MQTTAsync_disconnect(client_, &opts) == MQTTASYNC_SUCCESS) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(5), [&] { return disconnected_; });
  }
  MQTTAsync_destroy(&client_);
  client_ = nullptr;
}

void PropletClient::subscribe() {
  char* topics[3];
  const std::string server = server_topic();
  const std::string status = status_topic();
  topics[0] = const_cast<char*>(server.c_str());  // Paho's API is not const-correct
  topics[1] = const_cast<char*>(status.c_str());
  topics[2] = const_cast<char*>(sync_topic_.c_str());
  // The markers' subscription has the same QoS as the others: they take the same way.
  int qos[3] = {qos_, qos_, qos_};
  MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
  opts.onSuccess = on_subscribed;
  opts.onFailure = on_subscribe_failure;
  opts.context = this;
  const int rc = MQTTAsync_subscribeMany(client_, 3, topics, qos, &opts);
  if (rc != MQTTASYNC_SUCCESS) {
    std::lock_guard lock(mu_);
    connect_error_ = mqtt_error("subscribe", rc);
    cv_.notify_all();
  }
}

void PropletClient::on_connected(void* self, char*) {
  auto* c = static_cast<PropletClient*>(self);
  {
    std::lock_guard lock(c->mu_);
    if (c->closing_) return;
  }
  disable_nagle_towards(c->broker_port_);
  c->subscribe();  // outside the lock: Paho calls must not nest inside our mutex
}

void PropletClient::on_connect_failure(void* self, MQTTAsync_failureData* data) {
  auto* c = static_cast<PropletClient*>(self);
  std::lock_guard lock(c->mu_);
  // Paho also reports the original connect as failed after a connection loss; only the
  // constructor's wait cares about this.
  if (c->losses_ > 0) return;
  c->connect_error_ = mqtt_error("connect failed", data != nullptr ? data->code : -1);
  if (data != nullptr && data->message != nullptr)
    *c->connect_error_ += std::string(": ") + data->message;
  c->cv_.notify_all();
}

void PropletClient::on_connection_lost(void* self, char*) {
  auto* c = static_cast<PropletClient*>(self);
  std::lock_guard lock(c->mu_);
  c->subscribed_ = false;
  ++c->losses_;
  c->cv_.notify_all();
}

void PropletClient::on_subscribed(void* self, MQTTAsync_successData* data) {
  auto* c = static_cast<PropletClient*>(self);
  std::lock_guard lock(c->mu_);
  // 0x80 is the SUBACK failure code for a single topic filter.
  if (data != nullptr && data->alt.qosList != nullptr &&
      (data->alt.qosList[0] == 0x80 || data->alt.qosList[1] == 0x80 ||
       data->alt.qosList[2] == 0x80)) {
    c->connect_error_ = "subscription refused by the broker";
  } else {
    c->subscribed_ = true;
  }
  c->cv_.notify_all();
}

void PropletClient::on_subscribe_failure(void* self, MQTTAsync_failureData* data) {
  auto* c = static_cast<PropletClient*>(self);
  std::lock_guard lock(c->mu_);
  c->connect_error_ = mqtt_error("subscribe failed", data != nullptr ? data->code : -1);
  c->cv_.notify_all();
}

void PropletClient::on_disconnected(void* self, MQTTAsync_successData*) {
  auto* c = static_cast<PropletClient*>(self);
  std::lock_guard lock(c->mu_);
  c->disconnected_ = true;
  c->cv_.notify_all();
}

bool PropletClient::connected() const {
  std::lock_guard lock(mu_);
  return subscribed_;
}

bool PropletClient::wait_connected(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return subscribed_; });
}

void PropletClient::hold_deliveries(bool held) {
  std::lock_guard lock(mu_);
  held_ = held;
  cv_.notify_all();
}

std::uint64_t PropletClient::connection_losses() const {
  std::lock_guard lock(mu_);
  return losses_;
}

// --- publishing --------------------------------------------------------------------------------

void PropletClient::request(const std::string& app_name) {
  publish_raw(request_topic(), nlohmann::json{{"app_name", app_name}}.dump(), 1);
}

void PropletClient::publish_raw(const std::string& topic, std::string_view payload, int qos) {
  MQTTAsync_message msg = MQTTAsync_message_initializer;
  msg.payload = const_cast<char*>(payload.data());  // Paho copies the payload
  msg.payloadlen = static_cast<int>(payload.size());
  msg.qos = qos;
  MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
  opts.onSuccess = on_publish_success;
  opts.onFailure = on_publish_failure;
  opts.context = this;
  const int rc = MQTTAsync_sendMessage(client_, topic.c_str(), &msg, &opts);
  if (rc != MQTTASYNC_SUCCESS) throw std::runtime_error(mqtt_error("publish", rc));

  // The callback may already have run: results are kept by token until claimed here.
  std::unique_lock lock(mu_);
  const bool done = cv_.wait_for(lock, std::chrono::seconds(30),
                                 [&] { return completions_.contains(opts.token); });
  const bool ok = done && completions_[opts.token];
  completions_.erase(opts.token);
  if (!ok) {
    throw std::runtime_error("publish to " + topic + (done ? " failed" : " timed out after 30 s"));
  }
}

void PropletClient::finish_completion(int token, bool ok) {
  std::lock_guard lock(mu_);
  completions_[token] = ok;
  cv_.notify_all();
}

void PropletClient::on_publish_success(void* self, MQTTAsync_successData* data) {
  if (data != nullptr) static_cast<PropletClient*>(self)->finish_completion(data->token, true);
}

void PropletClient::on_publish_failure(void* self, MQTTAsync_failureData* data) {
  if (data != nullptr) static_cast<PropletClient*>(self)->finish_completion(data->token, false);
}

// --- receiving ---------------------------------------------------------------------------------

int PropletClient::on_message(void* self, char* topic, int topic_len, MQTTAsync_message* message) {
  auto* c = static_cast<PropletClient*>(self);
  {
    std::unique_lock lock(c->mu_);
    c->cv_.wait(lock, [c] { return !c->held_ || c->closing_; });
  }
  const std::string_view name(
      topic, topic_len > 0 ? static_cast<std::size_t>(topic_len) : std::strlen(topic));
  const std::string_view payload(static_cast<const char*>(message->payload),
                                 static_cast<std::size_t>(message->payloadlen));
  if (name == c->server_topic()) {
    c->handle_chunk(payload);
  } else if (name == c->status_topic()) {
    c->handle_status(payload);
  } else if (name == c->sync_topic_) {
    std::lock_guard lock(c->mu_);
    c->synced_.emplace(payload);
    c->cv_.notify_all();
  }
  MQTTAsync_freeMessage(&message);
  MQTTAsync_free(topic);
  return 1;  // handled: Paho may acknowledge it
}

void PropletClient::handle_chunk(std::string_view payload) {
  const auto msg = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
  std::lock_guard lock(mu_);
  ++server_messages_;
  cv_.notify_all();
  // Without a usable app_name a message cannot be attributed; it only shows in message_count().
  const auto name = app_name_of(msg);
  if (!name) return;
  AppState& app = apps_[*name];
  if (!accept_chunk(app, msg)) ++app.assembly.rejected;
}

// Validates one chunk like a proplet and records it; false means "reject".
bool PropletClient::accept_chunk(AppState& app, const nlohmann::json& msg) {
  Assembly& a = app.assembly;
  const auto idx = unsigned_field(msg, "chunk_idx");
  const auto total = unsigned_field(msg, "total_chunks");
  const auto data = msg.find("data");
  if (!idx || !total || *total == 0 || *idx >= *total) return false;
  if (data == msg.end() || !data->is_string()) return false;
  if (!optional_ok(msg, "digest", [](const auto& j) { return j.is_string(); }) ||
      !optional_ok(msg, "size", [](const auto& j) { return j.is_number_unsigned(); })) {
    return false;
  }
  if (a.total_chunks != 0 && *total != a.total_chunks) return false;
  const auto digest = msg.find("digest");
  if (digest != msg.end() && !a.digest.empty() && *digest != a.digest) return false;
  const auto size = unsigned_field(msg, "size");
  if (size && app.size_seen && *size != a.size) return false;
  auto bytes = base64_decode_strict(data->get_ref<const std::string&>());
  if (!bytes) return false;

  a.total_chunks = *total;
  if (digest != msg.end() && a.digest.empty()) a.digest = digest->get<std::string>();
  if (size && !app.size_seen) {
    a.size = *size;
    app.size_seen = true;
  }
  ++a.received;
  a.arrival_order.push_back(*idx);
  if (!app.seen.insert(*idx).second) {
    ++a.duplicates;
  } else {
    record_first(app, *idx, std::move(*bytes));
  }
  return true;
}

void PropletClient::record_first(AppState& app, std::uint64_t idx, std::string bytes) {
  Assembly& a = app.assembly;
  a.distinct = app.seen.size();
  if (idx != app.next_in_order) a.in_order = false;
  if (a.in_order) {
    app.hasher.update(bytes);
    a.streamed_bytes += bytes.size();
    ++app.next_in_order;
  }
  if (keep_bytes_) a.chunks.emplace(idx, std::move(bytes));
  if (a.distinct == a.total_chunks) {
    a.complete = true;
    if (a.in_order) a.streamed_sha256 = app.hasher.finish();
  }
}

void PropletClient::handle_status(std::string_view payload) {
  auto msg = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (!msg.is_object()) return;
  std::lock_guard lock(mu_);
  status_.push_back(std::move(msg));
  cv_.notify_all();
}

// --- queries -----------------------------------------------------------------------------------

PropletClient::Assembly PropletClient::snapshot(const std::string& app_name) const {
  std::lock_guard lock(mu_);
  const auto it = apps_.find(app_name);
  return it == apps_.end() ? Assembly{} : it->second.assembly;
}

std::optional<std::string> PropletClient::wait_complete(const std::string& app_name,
                                                        std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  const auto complete = [&] {
    const auto it = apps_.find(app_name);
    return it != apps_.end() && it->second.assembly.complete;
  };
  if (!cv_.wait_for(lock, timeout, complete)) return std::nullopt;
  std::string module;
  for (const auto& [idx, bytes] : apps_.at(app_name).assembly.chunks)
    module += bytes;
  return module;
}

std::vector<nlohmann::json> PropletClient::status_messages(const std::string& app_name) const {
  std::lock_guard lock(mu_);
  std::vector<nlohmann::json> out;
  for (const auto& msg : status_) {
    if (app_name_of(msg) == app_name) out.push_back(msg);
  }
  return out;
}

std::optional<nlohmann::json> PropletClient::wait_status(const std::string& app_name,
                                                         std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  const auto match = [&] {
    return std::ranges::find_if(status_, [&](const nlohmann::json& msg) {
      const auto state = msg.is_object() ? msg.value("state", "") : "";
      return app_name_of(msg) == app_name && (state == "completed" || state == "failed");
    });
  };
  if (!cv_.wait_for(lock, timeout, [&] { return match() != status_.end(); })) return std::nullopt;
  return *match();
}

std::size_t PropletClient::message_count() const {
  std::lock_guard lock(mu_);
  return server_messages_;
}

bool PropletClient::wait_message_count(std::size_t at_least, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return server_messages_ >= at_least; });
}

bool PropletClient::sync(std::chrono::milliseconds timeout) {
  std::string marker;
  {
    std::lock_guard lock(mu_);
    marker = "sync-" + std::to_string(++sync_seq_);
  }
  publish_raw(sync_topic_, marker, 1);
  std::unique_lock lock(mu_);
  const bool back = cv_.wait_for(lock, timeout, [&] { return synced_.contains(marker); });
  synced_.erase(marker);
  return back;
}

void PropletClient::forget(const std::string& app_name) {
  std::lock_guard lock(mu_);
  apps_.erase(app_name);
  std::erase_if(status_, [&](const nlohmann::json& msg) { return app_name_of(msg) == app_name; });
}

}  // namespace pp::test
