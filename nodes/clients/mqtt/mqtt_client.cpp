#include "nodes/clients/mqtt/mqtt_client.hpp"

#include <MQTTAsync.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <memory>
#include <random>
#include <stdexcept>
#include <thread>

#include "nodes/common/log.hpp"

namespace pp::mqtt {

namespace {

// The callbacks of a request, in the signatures of MQTT `version` (5 has its own).
MQTTAsync_responseOptions response_options(int version, void* context,
                                           MQTTAsync_onSuccess5* success5,
                                           MQTTAsync_onFailure5* failure5,
                                           MQTTAsync_onSuccess* success,
                                           MQTTAsync_onFailure* failure) {
  MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
  if (version == 5) {
    opts.onSuccess5 = success5;
    opts.onFailure5 = failure5;
  } else {
    opts.onSuccess = success;
    opts.onFailure = failure;
  }
  opts.context = context;
  return opts;
}

Client& self(void* context) {
  return *static_cast<Client*>(context);
}

void on_connect_success(void* context, MQTTAsync_successData*) {
  log::contained("Paho's thread", "on_connect_success", [&] { self(context).handle_connected(); });
}
void on_connect_failure(void* context, MQTTAsync_failureData* data) {
  log::contained("Paho's thread", "on_connect_failure", [&] {
    self(context).handle_connect_failed(data && data->message ? data->message
                                                              : "connection refused");
  });
}
void on_reconnected(void* context, char*) {
  log::contained("Paho's thread", "on_reconnected", [&] { self(context).handle_connected(); });
}
void on_subscribe_success(void* context, MQTTAsync_successData*) {
  log::contained("Paho's thread", "on_subscribe_success",
                 [&] { self(context).handle_subscribed(true); });
}
void on_subscribe_failure(void* context, MQTTAsync_failureData*) {
  log::contained("Paho's thread", "on_subscribe_failure",
                 [&] { self(context).handle_subscribed(false); });
}
void on_connection_lost(void* context, char* cause) {
  log::contained("Paho's thread", "on_connection_lost", [&] { self(context).handle_lost(cause); });
}

// MQTT 5 reports the broker's reason codes; 0x80 and above are refusals.
constexpr int kFirstFailureReason = 0x80;
void on_connect_success5(void* context, MQTTAsync_successData5*) {
  log::contained("Paho's thread", "on_connect_success5", [&] { self(context).handle_connected(); });
}
void on_connect_failure5(void* context, MQTTAsync_failureData5* data) {
  log::contained("Paho's thread", "on_connect_failure5", [&] {
    const char* reason = "connection refused";
    if (data && data->message) {
      reason = data->message;
    } else if (data) {
      reason = MQTTReasonCode_toString(data->reasonCode);
    }
    self(context).handle_connect_failed(reason);
  });
}
void on_subscribe_success5(void* context, MQTTAsync_successData5* data) {
  log::contained("Paho's thread", "on_subscribe_success5", [&] {
    self(context).handle_subscribed(!data || data->reasonCode < kFirstFailureReason);
  });
}
void on_subscribe_failure5(void* context, MQTTAsync_failureData5*) {
  log::contained("Paho's thread", "on_subscribe_failure5",
                 [&] { self(context).handle_subscribed(false); });
}
int on_message_arrived(void* context, char* topic, int topic_len, MQTTAsync_message* message) {
  // Consumed whatever happens: a message Paho is told was not would be delivered again.
  log::contained("Paho's thread", "a received message",
                 [&] { self(context).handle_message(topic, topic_len, message); });
  return 1;
}

struct PublishContext {
  Client::PublishDone done;
};
void on_publish_success(void* context, MQTTAsync_successData*) {
  log::contained("Paho's thread", "on_publish_success", [&] {
    std::unique_ptr<PublishContext> ctx(static_cast<PublishContext*>(context));
    ctx->done(Client::Published::acknowledged, {});
  });
}
// Paho fails what was in flight when the connection drops with these codes; MQTTASYNC_FAILURE
// too, for a publish it had written when the broker went away (seen in test_io_threads). An MQTT
// 3.1.1 broker cannot refuse a publish other than by disconnecting, so none of them is a refusal.
Client::Published failure_kind(int code) {
  return code == MQTTASYNC_DISCONNECTED || code == MQTTASYNC_OPERATION_INCOMPLETE ||
                 code == MQTTASYNC_FAILURE
             ? Client::Published::connection_lost
             : Client::Published::refused;
}
void on_publish_failure(void* context, MQTTAsync_failureData* data) {
  log::contained("Paho's thread", "on_publish_failure", [&] {
    std::unique_ptr<PublishContext> ctx(static_cast<PublishContext*>(context));
    const int code = data ? data->code : -1;
    std::string reason = "publish failed (code " + std::to_string(code) + ")";
    if (data && data->message) reason += ": " + std::string(data->message);
    ctx->done(failure_kind(code), std::move(reason));
  });
}
void on_publish_success5(void* context, MQTTAsync_successData5* data) {
  log::contained("Paho's thread", "on_publish_success5", [&] {
    std::unique_ptr<PublishContext> ctx(static_cast<PublishContext*>(context));
    if (data && data->reasonCode >= kFirstFailureReason) {
      ctx->done(Client::Published::refused, std::string("the broker refused the publish: ") +
                                                MQTTReasonCode_toString(data->reasonCode));
    } else {
      ctx->done(Client::Published::acknowledged, {});
    }
  });
}
void on_publish_failure5(void* context, MQTTAsync_failureData5* data) {
  log::contained("Paho's thread", "on_publish_failure5", [&] {
    std::unique_ptr<PublishContext> ctx(static_cast<PublishContext*>(context));
    std::string reason = "publish failed";
    if (data) reason += std::string(": ") + MQTTReasonCode_toString(data->reasonCode);
    if (data && data->message) reason += " (" + std::string(data->message) + ")";
    ctx->done(failure_kind(data ? data->code : -1), std::move(reason));
  });
}

bool uses_tls(const std::string& address) {
  return address.starts_with("ssl://") || address.starts_with("wss://") ||
         address.starts_with("mqtts://");
}

// The port of "scheme://host[:port][/path]" (when absent: 1883, 8883 with TLS, 80 and 443 for
// WebSockets).
int broker_port(const std::string& address) {
  const auto scheme_end = address.find("://");
  const std::string scheme = scheme_end == std::string::npos ? "" : address.substr(0, scheme_end);
  std::string authority = address.substr(scheme_end == std::string::npos ? 0 : scheme_end + 3);
  authority = authority.substr(0, authority.find('/'));
  const auto colon = authority.rfind(':');
  if (colon != std::string::npos && authority.back() != ']') {
    return std::atoi(authority.c_str() + colon + 1);
  }
  if (scheme == "ws") return 80;
  if (scheme == "wss") return 443;
  return scheme == "ssl" || scheme == "mqtts" ? 8883 : 1883;
}

int peer_port(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return -1;
  if (addr.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  return -1;
}

// Paho C leaves Nagle on and offers no socket hook: without TCP_NODELAY the tail of a publish can
// wait for the broker's delayed ACK (~40 ms on Linux). So once connected, find our TCP sockets to
// the broker's port and set it on them (setting it twice is harmless).
void disable_nagle_to_port(int port) {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return;
  while (const dirent* entry = readdir(dir)) {
    const int fd = std::atoi(entry->d_name);
    struct stat st {};
    if (fd <= 2 || fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    int type = 0;
    socklen_t len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) continue;
    if (peer_port(fd) != port) continue;
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  closedir(dir);
}

}  // namespace

Client::Client(ClientOptions options) : options_(std::move(options)) {
  MQTTAsync_createOptions create = MQTTAsync_createOptions_initializer;
  create.MQTTVersion = options_.version == 5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1;
  create.maxBufferedMessages = options_.max_buffered;
  MQTTAsync client = nullptr;
  const int rc =
      MQTTAsync_createWithOptions(&client, options_.address.c_str(), options_.client_id.c_str(),
                                  MQTTCLIENT_PERSISTENCE_NONE, nullptr, &create);
  if (rc != MQTTASYNC_SUCCESS) {
    throw std::runtime_error("cannot create MQTT client for " + options_.address + ": " +
                             MQTTAsync_strerror(rc));
  }
  client_ = client;
  MQTTAsync_setCallbacks(client, this, on_connection_lost, on_message_arrived, nullptr);
  MQTTAsync_setConnected(client, this, on_reconnected);
}

Client::~Client() {
  stop();
  MQTTAsync client = client_;
  MQTTAsync_destroy(&client);
}

void Client::start(std::vector<std::string> subscriptions) {
  subscriptions_ = std::move(subscriptions);
  retrier_ = std::thread([this] { retry_connects(); });
  connect();
}

std::chrono::milliseconds Client::retry_delay(unsigned attempt) {
  static constexpr std::chrono::milliseconds kBackoff[] = {
      std::chrono::milliseconds(100), std::chrono::milliseconds(250),
      std::chrono::milliseconds(500), std::chrono::milliseconds(1000),
      std::chrono::milliseconds(2000)};
  return kBackoff[std::min<std::size_t>(attempt, std::size(kBackoff) - 1)];
}

// Connections are made here, not by Paho's automatic reconnect, whose first attempt comes a second
// after a loss and whose backoff then doubles: a broker back after a restart of a second or two
// would wait for the proxy for seconds more, while proplets reconnect and ask on their own
// schedule. So: the first attempt at once (in 100 ms), then 250 ms, 500 ms, 1 s, and every 2 s
// after that (each ±20 %, so that a fleet of proxies does not come back in step), the first
// connection as every later one, until stop().
void Client::retry_connects() {
  std::unique_lock lock(mutex_);
  std::minstd_rand jitter(
      static_cast<unsigned>(std::chrono::steady_clock::now().time_since_epoch().count() ^
                            reinterpret_cast<std::uintptr_t>(this)));
  for (;;) {
    changed_.wait(lock, [this] { return stopping_ || retry_pending_; });
    if (stopping_) return;
    const auto base = retry_delay(attempt_);
    const auto delay =
        std::chrono::milliseconds(base.count() * static_cast<long long>(80 + jitter() % 41) / 100);
    if (changed_.wait_for(lock, delay, [this] { return stopping_; })) return;
    retry_pending_ = false;
    ++attempt_;
    lock.unlock();
    log::debug("connecting to the MQTT broker",
               {{"broker", options_.address}, {"attempt", static_cast<std::uint64_t>(attempt_)}});
    connect();
    lock.lock();
  }
}

void Client::connect() {
  const bool v5 = options_.version == 5;
  MQTTAsync_connectOptions opts = MQTTAsync_connectOptions_initializer;
  if (v5) {
    const MQTTAsync_connectOptions init5 = MQTTAsync_connectOptions_initializer5;
    opts = init5;
    opts.cleanstart = options_.clean_session ? 1 : 0;
    opts.onSuccess5 = on_connect_success5;
    opts.onFailure5 = on_connect_failure5;
  } else {
    opts.cleansession = options_.clean_session ? 1 : 0;
    opts.onSuccess = on_connect_success;
    opts.onFailure = on_connect_failure;
  }
  opts.keepAliveInterval = options_.keepalive_s;
  opts.automaticReconnect = 0;  // see retry_connects()
  opts.connectTimeout = options_.connect_timeout_s;
  // MQTT 5 ends a session when the connection does, unless told how long to keep it.
  MQTTProperties properties = MQTTProperties_initializer;
  if (v5 && !options_.clean_session) {
    MQTTProperty expiry{};
    expiry.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL;
    expiry.value.integer4 = static_cast<unsigned>(options_.session_expiry_s);
    MQTTProperties_add(&properties, &expiry);
    opts.connectProperties = &properties;
  }
  if (!options_.username.empty()) opts.username = options_.username.c_str();
  if (!options_.password.empty()) opts.password = options_.password.c_str();
  opts.context = this;
  // Paho copies these during MQTTAsync_connect.
  MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
  if (uses_tls(options_.address)) {
    if (!options_.ca_file.empty()) ssl.trustStore = options_.ca_file.c_str();
    if (!options_.cert_file.empty()) ssl.keyStore = options_.cert_file.c_str();
    if (!options_.key_file.empty()) ssl.privateKey = options_.key_file.c_str();
    ssl.enableServerCertAuth = options_.tls_insecure ? 0 : 1;
    ssl.verify = options_.tls_insecure ? 0 : 1;  // the host name must match the certificate
    opts.ssl = &ssl;
  }
  const int rc = MQTTAsync_connect(client_, &opts);
  MQTTProperties_free(&properties);
  if (rc != MQTTASYNC_SUCCESS) handle_connect_failed(MQTTAsync_strerror(rc));
}

void Client::handle_connected() {
  {
    // Paho reports a first connection twice (onSuccess and the connected callback).
    std::lock_guard lock(mutex_);
    if (connected_) return;
    connected_ = true;
    attempt_ = 0;
  }
  connections_.fetch_add(1);
  disable_nagle_to_port(broker_port(options_.address));
  log::info("connected to the MQTT broker", {{"broker", options_.address}});
  for (const auto& topic : subscriptions_) {
    MQTTAsync_responseOptions opts =
        response_options(options_.version, this, on_subscribe_success5, on_subscribe_failure5,
                         on_subscribe_success, on_subscribe_failure);
    const int rc = MQTTAsync_subscribe(client_, topic.c_str(), 1, &opts);
    if (rc != MQTTASYNC_SUCCESS) handle_subscribed(false);
  }
  if (subscriptions_.empty()) set_ready(true);
}

void Client::handle_connect_failed(const char* reason) {
  unsigned attempt = 0;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    retry_pending_ = true;
    attempt = attempt_;
  }
  changed_.notify_all();
  log::warn("cannot connect to the MQTT broker; retrying",
            {{"broker", options_.address},
             {"error", reason},
             {"in_ms", static_cast<long long>(retry_delay(attempt).count())}});
}

void Client::handle_subscribed(bool ok) {
  if (!ok) {
    log::error("the MQTT broker refused a subscription", {{"broker", options_.address}});
    return;
  }
  set_ready(true);
}

void Client::handle_lost(const char* cause) {
  {
    std::lock_guard lock(mutex_);
    connected_ = false;
    if (!stopping_) retry_pending_ = true;
  }
  changed_.notify_all();
  set_ready(false);
  log::warn("lost the MQTT broker; reconnecting",
            {{"broker", options_.address}, {"error", cause ? cause : "connection closed"}});
}

int Client::handle_message(char* topic, int topic_len, void* message) {
  auto* msg = static_cast<MQTTAsync_message*>(message);
  // Freed whatever the handler does (it copies what it keeps).
  const std::unique_ptr<MQTTAsync_message, void (*)(MQTTAsync_message*)> held(
      msg, [](MQTTAsync_message* m) { MQTTAsync_freeMessage(&m); });
  const std::unique_ptr<char, void (*)(char*)> held_topic(topic,
                                                          [](char* t) { MQTTAsync_free(t); });
  const std::string_view t = topic_len > 0
                                 ? std::string_view(topic, static_cast<std::size_t>(topic_len))
                                 : std::string_view(topic);
  if (on_message_) {
    on_message_(t, std::string_view(static_cast<const char*>(msg->payload),
                                    static_cast<std::size_t>(msg->payloadlen)));
  }
  return 1;
}

void Client::set_ready(bool ready) {
  bool changed = false;
  {
    std::lock_guard lock(mutex_);
    changed = ready_ != ready;
    ready_ = ready;
  }
  changed_.notify_all();
  if (changed && on_connection_) on_connection_(ready);
}

bool Client::ready() const {
  std::lock_guard lock(mutex_);
  return ready_;
}

bool Client::wait_ready(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [this] { return ready_; });
}

void Client::publish(const std::string& topic, std::string_view payload, int qos,
                     PublishDone done) {
  auto ctx = std::make_unique<PublishContext>(PublishContext{std::move(done)});
  MQTTAsync_message msg = MQTTAsync_message_initializer;
  msg.payload = const_cast<char*>(payload.data());
  msg.payloadlen = static_cast<int>(payload.size());
  msg.qos = qos;
  MQTTAsync_responseOptions opts =
      response_options(options_.version, ctx.get(), on_publish_success5, on_publish_failure5,
                       on_publish_success, on_publish_failure);
  const int rc = MQTTAsync_sendMessage(client_, topic.c_str(), &msg, &opts);
  if (rc != MQTTASYNC_SUCCESS) {
    ctx->done(rc == MQTTASYNC_DISCONNECTED ? Published::connection_lost : Published::refused,
              std::string("publish refused: ") + MQTTAsync_strerror(rc));
    return;
  }
  ctx.release();  // owned by the Paho callback now
}

void Client::stop(std::chrono::milliseconds timeout) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  changed_.notify_all();
  if (retrier_.joinable()) retrier_.join();
  if (MQTTAsync_isConnected(client_)) {
    MQTTAsync_disconnectOptions opts = MQTTAsync_disconnectOptions_initializer;
    opts.timeout = static_cast<int>(timeout.count());
    MQTTAsync_disconnect(client_, &opts);
    // MQTTAsync_disconnect is asynchronous: wait for Paho to finish before the client goes away.
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (MQTTAsync_isConnected(client_) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  set_ready(false);
}

}  // namespace pp::mqtt
