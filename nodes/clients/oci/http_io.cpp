#include "nodes/clients/oci/http_io.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "nodes/clients/oci/ascii.hpp"
#include "nodes/common/log.hpp"

namespace pp::oci {

static_assert(HttpHandler::kPause == CURL_WRITEFUNC_PAUSE);

struct HttpIo::Exchange {
  Id id = 0;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::string body;  // what CURLOPT_POSTFIELDS points at
  std::shared_ptr<HttpHandler> handler;
  HttpHead head;
  char error[CURL_ERROR_SIZE] = {};
  // The redirect policy's reference point: the request's own scheme, host and port.
  std::string scheme, host, port;
  bool follow = false;
  long max_redirects = 0;
  // Stall detection: when bytes last moved (or the handler last un-paused the exchange).
  long stall_ms = 0;
  bool paused = false;
  curl_off_t moved = -1;
  std::chrono::steady_clock::time_point progress_at = std::chrono::steady_clock::now();
  std::string stalled;  // why the progress callback aborted the exchange

  ~Exchange() {
    if (easy) curl_easy_cleanup(easy);
    if (headers) curl_slist_free_all(headers);
  }
};

namespace {

struct CurlGlobal {
  CurlGlobal() {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      throw std::runtime_error("curl_global_init failed");
    }
  }
};

using ascii::iequals;
using ascii::trim;

// Every response (each redirect hop, each 100-continue) starts with a status line, which resets
// what we know: the handler only ever sees the head of the final response.
void parse_header_line(HttpHead& head, std::string_view line) {
  line = trim(line);
  if (line.starts_with("HTTP/")) {
    head = HttpHead{};
    const auto sp = line.find(' ');
    if (sp != std::string_view::npos) {
      const auto code = line.substr(sp + 1, 3);
      std::from_chars(code.data(), code.data() + code.size(), head.status);
    }
    return;
  }
  const auto colon = line.find(':');
  if (colon == std::string_view::npos) return;
  const auto name = line.substr(0, colon);
  const auto value = trim(line.substr(colon + 1));
  if (iequals(name, "content-type")) {
    head.content_type = value;
  } else if (iequals(name, "content-length")) {
    std::uint64_t n = 0;
    if (std::from_chars(value.data(), value.data() + value.size(), n).ec == std::errc{}) {
      head.content_length = n;
    }
  } else if (iequals(name, "www-authenticate")) {
    head.www_authenticate = value;
  } else if (iequals(name, "location")) {
    head.location = value;
  } else if (iequals(name, "docker-content-digest")) {
    head.docker_content_digest = value;
  } else if (iequals(name, "retry-after")) {
    head.retry_after = value;
  }
}

struct UrlParts {
  std::string scheme, host, port;
  std::string shown;  // scheme://host[:port]/path: never the query, which may be a signature
};

// `url` resolved against `base` (a Location may be relative), or nullopt when it is not a URL.
std::optional<UrlParts> resolve_url(const char* base, const std::string& url) {
  CURLU* u = curl_url();
  std::optional<UrlParts> out;
  if (curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
      curl_url_set(u, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK) {
    UrlParts parts;
    const auto get = [u](CURLUPart what, std::string& into, unsigned flags = 0) {
      char* v = nullptr;
      if (curl_url_get(u, what, &v, flags) != CURLUE_OK) return false;
      into = v;
      curl_free(v);
      return true;
    };
    std::string path;
    if (get(CURLUPART_SCHEME, parts.scheme) && get(CURLUPART_HOST, parts.host) &&
        get(CURLUPART_PORT, parts.port, CURLU_DEFAULT_PORT)) {
      get(CURLUPART_PATH, path);
      parts.shown = parts.scheme + "://" + parts.host + ":" + parts.port + path;
      out = std::move(parts);
    }
  }
  curl_url_cleanup(u);
  return out;
}

// The redirect policy (see HttpRequest::follow_redirects): an empty string when `location` may be
// followed, else why not.
std::string refuse_redirect(const HttpIo::Exchange& ex, const std::string& location) {
  char* current = nullptr;
  curl_easy_getinfo(ex.easy, CURLINFO_EFFECTIVE_URL, &current);
  const auto target = resolve_url(current ? current : "", location);
  if (!target) return "redirect to an invalid URL refused";
  if (target->scheme == "https") return {};
  if (target->scheme == "http" && ex.scheme == "http" && iequals(target->host, ex.host) &&
      target->port == ex.port) {
    return {};
  }
  return "redirect to " + target->shown +
         " refused: redirects are followed only to https://, or within the plain-HTTP registry "
         "the request went to";
}

std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user) {
  auto* ex = static_cast<HttpIo::Exchange*>(user);
  parse_header_line(ex->head, std::string_view(data, size * n));
  ex->progress_at = std::chrono::steady_clock::now();
  // The Location of a redirect curl is about to follow: checked before it is.
  if (ex->follow && ex->head.status >= 300 && ex->head.status < 400 && !ex->head.location.empty() &&
      ex->head.refused.empty()) {
    ex->head.refused = refuse_redirect(*ex, ex->head.location);
    if (!ex->head.refused.empty()) return 0;
  }
  return size * n;
}

// Nothing may unwind through curl's C frames: what a handler lets escape is logged and ends what
// it was doing (an exchange is aborted). Handlers fail their own work first (the download's does).
std::size_t on_write(char* data, std::size_t size, std::size_t n, void* user) {
  auto* ex = static_cast<HttpIo::Exchange*>(user);
  std::size_t taken = 0;
  const bool ok = log::contained("the HTTP I/O thread", "a response body",
                                 [&] { taken = ex->handler->on_body(ex->head, data, size * n); });
  if (!ok) return 0;
  ex->paused = taken == CURL_WRITEFUNC_PAUSE;
  ex->progress_at = std::chrono::steady_clock::now();
  return taken;
}

// Called by curl about once a second whatever happens, so a silent connection is noticed too.
int on_progress(void* user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                curl_off_t ulnow) {
  (void)dltotal;
  (void)ultotal;
  auto* ex = static_cast<HttpIo::Exchange*>(user);
  const auto now = std::chrono::steady_clock::now();
  // Counts restart at each redirect hop: any change is movement.
  if (dlnow + ulnow != ex->moved || ex->paused) {
    ex->moved = dlnow + ulnow;
    ex->progress_at = now;
    return 0;
  }
  if (now - ex->progress_at < std::chrono::milliseconds(ex->stall_ms)) return 0;
  ex->stalled = "no data for " + std::to_string(ex->stall_ms / 1000) +
                " s (PROXY_HTTP_STALL_TIMEOUT): the connection stalled";
  return 1;
}

}  // namespace

namespace {

std::string take_variable(const char* lower, const char* upper) {
  std::string value;
  for (const char* name : {upper, lower}) {  // the lower-case name wins: read it last
    if (const char* v = std::getenv(name); v && *v) value = v;
    ::unsetenv(name);
  }
  return value;
}

}  // namespace

ProxyEnvironment take_proxy_environment() {
  ProxyEnvironment env;
  env.http = take_variable("http_proxy", "HTTP_PROXY");
  env.https = take_variable("https_proxy", "HTTPS_PROXY");
  env.all = take_variable("all_proxy", "ALL_PROXY");
  env.none = take_variable("no_proxy", "NO_PROXY");
  return env;
}

const std::string& ProxyEnvironment::for_url(std::string_view url) const {
  const std::string& own = url.starts_with("https://") ? https : http;
  return own.empty() ? all : own;
}

HttpIo::HttpIo(ProxyEnvironment proxies) : proxies_(std::move(proxies)) {
  static CurlGlobal global;
  multi_ = curl_multi_init();
  if (!multi_) throw std::runtime_error("curl_multi_init failed");
  thread_ = std::thread([this] { run(); });
}

HttpIo::~HttpIo() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  curl_multi_wakeup(static_cast<CURLM*>(multi_));
  thread_.join();
  curl_multi_cleanup(static_cast<CURLM*>(multi_));
}

void HttpIo::enqueue(std::function<void()> command) {
  {
    std::lock_guard lock(mutex_);
    commands_.push_back(std::move(command));
  }
  curl_multi_wakeup(static_cast<CURLM*>(multi_));
}

HttpIo::Id HttpIo::start(HttpRequest request, std::shared_ptr<HttpHandler> handler) {
  Id id = 0;
  {
    std::lock_guard lock(mutex_);
    id = next_id_++;
  }
  enqueue([this, id, request = std::move(request), handler = std::move(handler)]() mutable {
    begin(id, std::move(request), std::move(handler));
  });
  return id;
}

void HttpIo::resume(Id id) {
  enqueue([this, id] {
    const auto it = exchanges_.find(id);
    if (it == exchanges_.end()) return;
    // May call on_body right here with the bytes kept while paused.
    it->second->paused = false;
    it->second->progress_at = std::chrono::steady_clock::now();
    const CURLcode rc = curl_easy_pause(it->second->easy, CURLPAUSE_CONT);
    if (rc != CURLE_OK) finish(id, std::string("resume failed: ") + curl_easy_strerror(rc));
  });
}

void HttpIo::cancel(Id id) {
  enqueue([this, id] {
    if (exchanges_.count(id)) finish(id, "cancelled");
  });
}

void HttpIo::abort_all(std::string reason) {
  aborted_.store(true);
  enqueue([this, reason = std::move(reason)] {
    abort_reason_ = reason;
    while (!exchanges_.empty())
      finish(exchanges_.begin()->first, abort_reason_);
  });
}

void HttpIo::post(std::function<void()> task) {
  enqueue(std::move(task));
}

void HttpIo::post_after(std::chrono::milliseconds delay, std::function<void()> task) {
  {
    std::lock_guard lock(mutex_);
    timers_.emplace(std::chrono::steady_clock::now() + delay, std::move(task));
  }
  curl_multi_wakeup(static_cast<CURLM*>(multi_));
}

void HttpIo::begin(Id id, HttpRequest request, std::shared_ptr<HttpHandler> handler) {
  if (aborted_.load()) {
    handler->on_done(HttpHead{}, abort_reason_.empty() ? "aborted" : abort_reason_);
    return;
  }
  auto ex = std::make_unique<Exchange>();
  ex->id = id;
  ex->handler = std::move(handler);
  ex->easy = curl_easy_init();
  CURL* e = ex->easy;
  for (const auto& h : request.headers)
    ex->headers = curl_slist_append(ex->headers, h.c_str());
  curl_easy_setopt(e, CURLOPT_URL, request.url.c_str());
  // Explicit, so that curl does not read the environment (take_proxy_environment emptied it); a
  // redirect keeps the proxy of the first URL, and NO_PROXY is checked for every host.
  curl_easy_setopt(e, CURLOPT_PROXY, proxies_.for_url(request.url).c_str());
  curl_easy_setopt(e, CURLOPT_NOPROXY, proxies_.none.c_str());
  if (request.method == "HEAD") {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else if (request.method != "GET") {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    ex->body = std::move(request.body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, ex->body.data());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(ex->body.size()));
    // No "Expect: 100-continue" round trip before the body.
    ex->headers = curl_slist_append(ex->headers, "Expect:");
  }
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, ex->headers);
  if (!request.username.empty()) {
    curl_easy_setopt(e, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(e, CURLOPT_USERNAME, request.username.c_str());
    curl_easy_setopt(e, CURLOPT_PASSWORD, request.password.c_str());
  }
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, ex.get());
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, ex.get());
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, ex->error);
  curl_easy_setopt(e, CURLOPT_PRIVATE, ex.get());
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, request.connect_timeout_ms);
  if (request.timeout_ms > 0) curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, request.timeout_ms);
  curl_easy_setopt(e, CURLOPT_BUFFERSIZE, static_cast<long>(request.receive_buffer));
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  if (!request.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, request.ca_file.c_str());
  if (request.insecure) {
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!request.cert_file.empty()) {
    curl_easy_setopt(e, CURLOPT_SSLCERT, request.cert_file.c_str());
    curl_easy_setopt(e, CURLOPT_SSLKEY, request.key_file.c_str());
  }
  if (request.follow_redirects) {
    // curl drops Authorization (ours is a custom header) when a redirect changes host, so
    // credentials never reach the object store a registry redirects blob downloads to.
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, request.max_redirects);
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    if (const auto self = resolve_url(request.url.c_str(), request.url)) {
      ex->follow = true;
      ex->max_redirects = request.max_redirects;
      ex->scheme = self->scheme;
      ex->host = self->host;
      ex->port = self->port;
    }
  }
  if (request.stall_timeout_ms > 0) {
    ex->stall_ms = request.stall_timeout_ms;
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(e, CURLOPT_XFERINFODATA, ex.get());
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
  }
  const CURLMcode rc = curl_multi_add_handle(static_cast<CURLM*>(multi_), e);
  if (rc != CURLM_OK) {
    auto handler_copy = ex->handler;
    handler_copy->on_done(ex->head,
                          std::string("cannot start request: ") + curl_multi_strerror(rc));
    return;
  }
  exchanges_.emplace(id, std::move(ex));
}

void HttpIo::finish(Id id, std::optional<std::string> error) {
  const auto it = exchanges_.find(id);
  if (it == exchanges_.end()) return;
  std::unique_ptr<Exchange> ex = std::move(it->second);
  exchanges_.erase(it);
  curl_multi_remove_handle(static_cast<CURLM*>(multi_), ex->easy);
  curl_off_t first_byte_us = 0;
  if (observer_ && ex->head.status != 0 &&
      curl_easy_getinfo(ex->easy, CURLINFO_STARTTRANSFER_TIME_T, &first_byte_us) == CURLE_OK) {
    observer_(static_cast<double>(first_byte_us) / 1e6);
  }
  log::contained("the HTTP I/O thread", "the end of a response",
                 [&] { ex->handler->on_done(ex->head, std::move(error)); });
}

void HttpIo::run() {
  auto* multi = static_cast<CURLM*>(multi_);
  for (;;) {
    std::vector<std::function<void()>> commands;
    bool stopping = false;
    int poll_ms = 1000;
    {
      std::lock_guard lock(mutex_);
      commands.swap(commands_);
      stopping = stopping_;
      const auto now = std::chrono::steady_clock::now();
      while (!timers_.empty() && timers_.begin()->first <= now) {
        commands.push_back(std::move(timers_.begin()->second));
        timers_.erase(timers_.begin());
      }
      if (!timers_.empty()) {
        const auto until =
            std::chrono::duration_cast<std::chrono::milliseconds>(timers_.begin()->first - now);
        poll_ms = static_cast<int>(std::clamp<long long>(until.count() + 1, 1, poll_ms));
      }
    }
    for (auto& command : commands)
      log::contained("the HTTP I/O thread", "a task", command);
    if (stopping) break;

    int running = 0;
    curl_multi_perform(multi, &running);
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
      if (msg->msg != CURLMSG_DONE) continue;
      Exchange* ex = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &ex);
      std::optional<std::string> error;
      const CURLcode result = msg->data.result;
      if (result == CURLE_TOO_MANY_REDIRECTS) {
        ex->head.refused = "more than " + std::to_string(ex->max_redirects) + " redirects";
      }
      if (!ex->head.refused.empty()) {
        error = ex->head.refused;
      } else if (!ex->stalled.empty()) {
        error = ex->stalled;
      } else if (result != CURLE_OK) {
        error = ex->error[0] ? std::string(ex->error) : curl_easy_strerror(result);
      }
      finish(ex->id, std::move(error));
    }
    curl_multi_poll(multi, nullptr, 0, poll_ms, nullptr);
  }
  while (!exchanges_.empty())
    finish(exchanges_.begin()->first, "shutting down");
}

}  // namespace pp::oci
