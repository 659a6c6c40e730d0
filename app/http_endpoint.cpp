#include "app/http_endpoint.hpp"

#include <httplib.h>

#include "nodes/common/log.hpp"

namespace pp {

HttpEndpoint::HttpEndpoint(std::function<bool()> ready, std::function<std::string()> metrics)
    : server_(std::make_unique<httplib::Server>()) {
  server_->Get("/metrics",
               [metrics = std::move(metrics)](const httplib::Request&, httplib::Response& res) {
                 res.set_content(metrics(), "text/plain; version=0.0.4");
               });
  // The body the Go proxy answers, so existing health checks keep working.
  server_->Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"status":"ok","service":"proxy"})", "application/json");
  });
  server_->Get("/ready", [ready = std::move(ready)](const httplib::Request&,
                                                    httplib::Response& res) {
    const bool ok = ready();
    res.status = ok ? 200 : 503;
    res.set_content(ok ? R"({"status":"ready"})" : R"({"status":"not ready"})", "application/json");
  });
}

HttpEndpoint::~HttpEndpoint() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

bool HttpEndpoint::start(const std::string& host, int port) {
  if (!server_->bind_to_port(host, port)) {
    log::error("cannot listen on the HTTP endpoint's address (PROXY_HTTP_HOST, PROXY_HTTP_PORT)",
               {{"host", host}, {"port", port}});
    return false;
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return true;
}

}  // namespace pp
