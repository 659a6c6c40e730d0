#pragma once
// The operator's HTTP endpoint: GET /health (liveness), GET /ready (connected and subscribed),
// GET /metrics (Prometheus text format).
// It runs on cpp-httplib's own threads, apart from the pipeline.

#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace pp {

class HttpEndpoint {
 public:
  HttpEndpoint(std::function<bool()> ready, std::function<std::string()> metrics);
  ~HttpEndpoint();
  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;

  // Binds `host`:`port` and serves in the background; false (and a log line) when it cannot bind.
  bool start(const std::string& host, int port);

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

}  // namespace pp
