#pragma once
// A thin, thread-safe wrapper over Paho's MQTT C async client. Paho owns the sockets and its own
// threads; nothing here blocks except start()'s optional wait and stop().

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace pp::mqtt {

struct ClientOptions {
  std::string address;  // tcp://, ssl://, ws:// or wss:// host:port (Paho's URI schemes)
  std::string client_id;
  std::string username;  // empty: anonymous
  std::string password;
  int keepalive_s = 30;
  int connect_timeout_s = 30;  // a connect attempt that takes longer is abandoned (and retried)
  int max_buffered = 1000;     // Paho's queue of unsent publishes (applies while connected too)
  // false: a session the broker keeps across connections (requests published while the proxy is
  // away wait for it); with MQTT 5 it expires session_expiry_s after a connection ends. Needs a
  // client id that stays the same across restarts.
  bool clean_session = true;
  int session_expiry_s = 3600;
  int version = 4;  // 4: MQTT 3.1.1, 5: MQTT 5
  // TLS (ssl://, wss://): the CA bundle to trust (empty: the system's), and a client certificate
  // and key for mutual TLS. `tls_insecure` skips the server's certificate and host name checks.
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  bool tls_insecure = false;
};

// What the pipeline asks of the broker connection: the seam at which tests put a broker of their
// own.
class Publisher {
 public:
  virtual ~Publisher() = default;

  enum class Published {
    acknowledged,     // by the broker (or written, at QoS 0)
    refused,          // by the broker or the client (a reason says why)
    connection_lost,  // the connection was down, or dropped before the broker's ack
  };
  using PublishDone = std::function<void(Published result, std::string reason)>;
  // Non-blocking; the payload is copied. `done` runs on another thread once the broker
  // acknowledged (QoS 1: PUBACK, QoS 2: PUBCOMP) or the message was written (QoS 0), or on
  // failure.
  virtual void publish(const std::string& topic, std::string_view payload, int qos,
                       PublishDone done) = 0;

  // Called with true each time the connection becomes ready (connected and subscribed), with
  // false when it is lost; on the connection's thread. Set before it starts.
  using ConnectionHook = std::function<void(bool ready)>;
  virtual void on_connection(ConnectionHook hook) = 0;
};

class Client : public Publisher {
 public:
  // The views are valid during the call only: a handler copies what it keeps (and so decides what
  // is worth copying: a flood of oversized messages costs no allocation).
  using MessageHandler = std::function<void(std::string_view topic, std::string_view payload)>;

  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Set before start(); runs on Paho's thread, so it must only hand the message on.
  void on_message(MessageHandler handler) { on_message_ = std::move(handler); }
  // Set before start().
  void on_connection(ConnectionHook hook) override { on_connection_ = std::move(hook); }

  // Connects in the background (retrying until stop()) and subscribes `subscriptions` at QoS 1 on
  // every connection.
  void start(std::vector<std::string> subscriptions);
  bool wait_ready(std::chrono::milliseconds timeout);  // connected and subscribed
  bool ready() const;
  // Connections after the first one.
  std::uint64_t reconnects() const { return connections_.load() > 1 ? connections_.load() - 1 : 0; }

  // `done` runs on Paho's thread.
  void publish(const std::string& topic, std::string_view payload, int qos,
               PublishDone done) override;

  // Disconnects cleanly (waiting up to `timeout` for outstanding publishes).
  void stop(std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // Paho C callbacks (public only so the C trampolines in the .cpp can reach them).
  void handle_connected();
  void handle_connect_failed(const char* reason);
  void handle_subscribed(bool ok);
  void handle_lost(const char* cause);
  int handle_message(char* topic, int topic_len, void* message);

 private:
  void connect();
  void retry_connects();
  static std::chrono::milliseconds retry_delay(unsigned attempt);
  void set_ready(bool ready);

  ClientOptions options_;
  void* client_ = nullptr;  // MQTTAsync
  MessageHandler on_message_;
  ConnectionHook on_connection_;
  std::vector<std::string> subscriptions_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::atomic<std::uint64_t> connections_{0};
  bool connected_ = false;      // this connection's subscriptions have been sent
  bool ready_ = false;          // connected and subscribed
  bool retry_pending_ = false;  // a connection is to be made (failed, or lost)
  unsigned attempt_ = 0;        // connection attempts since the last connection
  bool stopping_ = false;
  std::thread retrier_;
};

}  // namespace pp::mqtt
