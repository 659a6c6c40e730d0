#pragma once
// All HTTP of the process runs here: one I/O thread drives libcurl's multi interface, so no TBB
// worker ever waits on the network. Other threads hand it work (start, resume, cancel, post)
// through a command queue and curl_multi_wakeup; every Handler callback runs on the I/O thread.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace pp::oci {

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  // Basic credentials: curl sends them to the request's host only, never across a redirect.
  std::string username;
  std::string password;
  std::string body;  // uploaded as is (PUT/POST), with Content-Length
  // TLS: extra CA certificates to trust (PEM; the system's are used otherwise), no verification
  // at all, and a client certificate and key.
  std::string ca_file;
  bool insecure = false;
  std::string cert_file;
  std::string key_file;
  // Blobs only: registries redirect them to object storage. A redirect is followed to https://,
  // or to plain http:// on the very host and port the request went to; anything else ends the
  // exchange with HttpHead::refused, as does a chain longer than max_redirects.
  bool follow_redirects = false;
  long max_redirects = 5;
  long connect_timeout_ms = 10'000;
  long timeout_ms = 0;  // the whole exchange; 0: none (blobs: they may be paused for long)
  // An exchange that moves no byte either way for this long, while the handler is not pausing it,
  // has stalled: it ends with a transport error (retried, blobs with Range). 0: never.
  long stall_timeout_ms = 0;
  std::size_t receive_buffer =
      128 * 1024;  // upper bound of one on_body call, except after a resume
};

// What the response said before its body (the final response, after any redirects).
struct HttpHead {
  long status = 0;
  std::string content_type;
  std::optional<std::uint64_t> content_length;
  std::string www_authenticate;
  std::string location;
  std::string docker_content_digest;
  std::string retry_after;
  // Set when the proxy itself refused to go on (a redirect its policy forbids, too many of them):
  // final, never retried, and reported as errc::not_allowed.
  std::string refused;
};

class HttpHandler {
 public:
  // Returned by on_body to pause: curl keeps the bytes and hands them over again after resume().
  static constexpr std::size_t kPause = 0x10000001;  // CURL_WRITEFUNC_PAUSE, checked in http_io.cpp

  virtual ~HttpHandler() = default;
  // Body bytes of the final response. Return `size` (consumed), kPause, or anything else to abort.
  virtual std::size_t on_body(const HttpHead& head, const char* data, std::size_t size) = 0;
  // The exchange is over: `transport_error` is empty when a complete response arrived (any status).
  virtual void on_done(const HttpHead& head, std::optional<std::string> transport_error) = 0;
  // Whether the exchange may be sent again after a transient failure, and from which body byte:
  // 0 to start over, N to continue with a Range request, nullopt when it cannot be repeated (the
  // handler gave up on it). Called before the new attempt; the handler prepares for it.
  virtual std::optional<std::uint64_t> restart_offset() { return std::nullopt; }
};

// The HTTP proxies the standard variables name, read as curl reads them (the lower-case name wins),
// except that HTTP_PROXY counts too, as in Go programs such as the proxy this one replaces (curl
// ignores it against the CGI "httpoxy" attack, which does not apply to a service).
struct ProxyEnvironment {
  std::string http;   // http_proxy, HTTP_PROXY
  std::string https;  // https_proxy, HTTPS_PROXY
  std::string all;    // all_proxy, ALL_PROXY: for a scheme without its own
  std::string none;   // no_proxy, NO_PROXY: hosts reached directly
  // The proxy for `url`, "" for none.
  const std::string& for_url(std::string_view url) const;
};

// Reads the proxy variables and removes them from the environment; call it before any thread
// starts. HttpIo hands them to curl explicitly. Paho, the MQTT client, reads http_proxy and
// https_proxy too, but ignores no_proxy and cannot parse an "http://" https_proxy (the usual form):
// with the variables gone, the broker is always reached directly.
ProxyEnvironment take_proxy_environment();

class HttpIo {
 public:
  using Id = std::uint64_t;

  explicit HttpIo(ProxyEnvironment proxies = {});
  ~HttpIo();  // stops the thread; unfinished exchanges get on_done("shutting down")
  HttpIo(const HttpIo&) = delete;
  HttpIo& operator=(const HttpIo&) = delete;

  // Thread-safe; the exchange begins on the I/O thread.
  Id start(HttpRequest request, std::shared_ptr<HttpHandler> handler);
  // Thread-safe: undoes an on_body kPause.
  void resume(Id id);
  // Thread-safe: ends the exchange with on_done("cancelled") unless it already ended.
  void cancel(Id id);
  // Thread-safe, for shutdown: ends every exchange with on_done(`reason`) and refuses every later
  // one the same way, so that nothing waits on a registry that stopped answering.
  void abort_all(std::string reason);
  bool aborted() const { return aborted_.load(); }
  // Thread-safe: runs `task` on the I/O thread (where handlers may be touched without locks).
  void post(std::function<void()> task);
  // Thread-safe: runs `task` on the I/O thread after `delay`.
  void post_after(std::chrono::milliseconds delay, std::function<void()> task);

  // Called on the I/O thread with the seconds from each request's start to its response head.
  // Set before the first start().
  void set_latency_observer(std::function<void(double)> observer) {
    observer_ = std::move(observer);
  }

  // One request in progress (opaque; defined in http_io.cpp).
  struct Exchange;

 private:
  const ProxyEnvironment proxies_;
  void run();
  void begin(Id id, HttpRequest request, std::shared_ptr<HttpHandler> handler);
  void finish(Id id, std::optional<std::string> error);
  void enqueue(std::function<void()> command);

  void* multi_ = nullptr;  // CURLM*
  std::mutex mutex_;
  std::vector<std::function<void()>> commands_;
  std::multimap<std::chrono::steady_clock::time_point, std::function<void()>> timers_;
  bool stopping_ = false;
  std::atomic<bool> aborted_{false};
  std::string abort_reason_;  // I/O thread only
  Id next_id_ = 1;
  std::unordered_map<Id, std::unique_ptr<Exchange>> exchanges_;  // I/O thread only
  std::function<void(double)> observer_;
  std::thread thread_;
};

}  // namespace pp::oci
