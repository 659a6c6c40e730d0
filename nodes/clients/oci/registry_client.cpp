#include "nodes/clients/oci/registry_client.hpp"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <random>
#include <utility>

#include "nodes/clients/oci/digest.hpp"
#include "nodes/common/log.hpp"

namespace pp::oci {

namespace {

constexpr std::size_t kMaxManifestBytes = 4 * 1024 * 1024;
constexpr std::size_t kMaxErrorBodyBytes = 64 * 1024;

bool is_success(long status) {
  return status >= 200 && status < 300;
}

// "4 MiB", "64 KiB", "100 bytes": for messages about limits.
std::string size_text(std::size_t bytes) {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) == 0)
    return std::to_string(bytes / (1024 * 1024)) + " MiB";
  if (bytes >= 1024 && bytes % 1024 == 0) return std::to_string(bytes / 1024) + " KiB";
  return std::to_string(bytes) + " bytes";
}

// A request that ended without a complete response: the registry could not be reached, or the
// proxy refused where the registry sent it.
Error transport_failure(const HttpHead& head, const std::string& what, const std::string& error) {
  if (!head.refused.empty()) return Error{errc::not_allowed, what + ": " + error};
  return Error{errc::registry_unavailable, what + ": " + error};
}

// Collects a small body (a manifest, an error document) with a hard size limit.
class BufferedExchange : public HttpHandler {
 public:
  using Done = std::function<void(const HttpHead&, std::string body, std::optional<Error>)>;
  BufferedExchange(std::size_t limit, std::string what, Done done)
      : limit_(limit), what_(std::move(what)), done_(std::move(done)) {}

  std::size_t on_body(const HttpHead& head, const char* data, std::size_t size) override {
    const std::size_t limit = is_success(head.status) ? limit_ : kMaxErrorBodyBytes;
    if (body_.size() + size > limit) {
      oversized_ = is_success(head.status);
      if (!oversized_) return size;  // an error document is only read for its message: truncate
      return 0;
    }
    body_.append(data, size);
    return size;
  }

  void on_done(const HttpHead& head, std::optional<std::string> transport_error) override {
    if (oversized_) {
      done_(head, {}, Error{errc::too_large, what_ + " is larger than " + size_text(limit_)});
    } else if (transport_error) {
      done_(head, {}, transport_failure(head, what_, *transport_error));
    } else {
      done_(head, std::move(body_), std::nullopt);
    }
  }

  std::optional<std::uint64_t> restart_offset() override {
    if (oversized_) return std::nullopt;
    body_.clear();  // nothing was handed on: start over
    return 0;
  }

 private:
  std::size_t limit_;
  std::string what_;
  Done done_;
  std::string body_;
  bool oversized_ = false;
};

// Hands a 2xx body to the sink; anything else becomes the sink's error.
class BlobExchange : public HttpHandler {
 public:
  BlobExchange(std::shared_ptr<BlobSink> sink, std::string what, std::optional<ByteRange> range)
      : sink_(std::move(sink)),
        what_(std::move(what)),
        range_(range),
        resume_at_(range ? range->offset : 0) {}

  std::size_t on_body(const HttpHead& head, const char* data, std::size_t size) override {
    if (!is_success(head.status)) {
      if (error_body_.size() + size <= kMaxErrorBodyBytes) error_body_.append(data, size);
      return size;
    }
    // A ranged or resumed download answered 200 instead of 206: the registry sends the blob from
    // its start, and what comes before the wanted bytes (or what the sink already has) is skipped,
    // as is what comes after a range.
    std::size_t skip = 0;
    if (head.status == 200 && skipped_ < resume_at_) {
      skip = static_cast<std::size_t>(std::min<std::uint64_t>(size, resume_at_ - skipped_));
    }
    std::size_t wanted = size - skip;
    if (range_) {
      wanted = static_cast<std::size_t>(
          std::min<std::uint64_t>(wanted, range_->length - std::min(range_->length, delivered_)));
    }
    if (wanted == 0) {
      skipped_ += skip;
      return size;
    }
    const std::size_t taken = sink_->on_data(data + skip, wanted);
    if (taken == wanted) {
      skipped_ += skip;
      delivered_ += taken;
      return size;
    }
    if (taken == kPause) return kPause;  // nothing consumed, nothing skipped: offered again later
    gave_up_ = true;
    return 0;
  }

  // Continues after the bytes the sink has, unless the sink itself gave up.
  std::optional<std::uint64_t> restart_offset() override {
    if (gave_up_) return std::nullopt;
    error_body_.clear();
    resume_at_ = (range_ ? range_->offset : 0) + delivered_;
    skipped_ = 0;
    return delivered_;
  }

  void on_done(const HttpHead& head, std::optional<std::string> transport_error) override {
    if (transport_error) {
      sink_->on_end(transport_failure(head, what_, *transport_error));
    } else if (!is_success(head.status)) {
      sink_->on_end(registry_error(head.status, error_body_, what_));
    } else {
      sink_->on_end(std::nullopt);
    }
  }

 private:
  std::shared_ptr<BlobSink> sink_;
  std::string what_;
  std::string error_body_;
  std::optional<ByteRange> range_;
  std::uint64_t delivered_ = 0;  // bytes the sink consumed, over all attempts
  std::uint64_t resume_at_ = 0;  // the blob offset the current attempt asked to start at
  std::uint64_t skipped_ = 0;    // of those, skipped in a 200 answer
  bool gave_up_ = false;
};

// The registry's own words, from {"errors":[{"code":…,"message":…}]}; empty if the body has none.
std::string registry_error_text(std::string_view body) {
  const auto doc = nlohmann::json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return {};
  const auto errors = doc.find("errors");
  if (errors == doc.end() || !errors->is_array()) return {};
  std::string out;
  for (const auto& e : *errors) {
    if (!e.is_object()) continue;
    const auto code = e.find("code");
    const auto message = e.find("message");
    if (!out.empty()) out += "; ";
    if (code != e.end() && code->is_string()) out += code->get<std::string>();
    if (message != e.end() && message->is_string()) out += ": " + message->get<std::string>();
  }
  return out;
}

// host[:port]: a DNS name or IPv4 address (letters, digits, '.', '-') or a bracketed IPv6 literal.
// Unlike in a reference, a bare single-label name ("registry", a compose service) is a host here.
bool is_valid_host(std::string_view host_port) {
  std::string_view host = host_port;
  if (host.starts_with('[')) {
    const auto close = host.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    if (host.substr(1, close - 1).find_first_not_of("0123456789abcdefABCDEF:.") !=
        std::string_view::npos) {
      return false;
    }
    host_port = host.substr(close + 1);
    host = {};
  } else {
    const auto colon = host.find(':');
    host_port = colon == std::string_view::npos ? std::string_view{} : host.substr(colon);
    host = host.substr(0, colon);
    if (host.empty() || host.front() == '-' || host.front() == '.' || host.back() == '.')
      return false;
    for (const char c : host) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-') return false;
    }
  }
  if (host_port.empty()) return true;
  if (host_port.front() != ':' || host_port.size() < 2 || host_port.size() > 6) return false;
  std::uint32_t port = 0;
  for (const char c : host_port.substr(1)) {
    if (c < '0' || c > '9') return false;
    port = port * 10 + static_cast<std::uint32_t>(c - '0');
  }
  return port >= 1 && port <= 65535;
}

}  // namespace

std::optional<Error> check_blob_size(std::uint64_t received, const Descriptor& blob,
                                     bool complete) {
  if (received > blob.size) {
    return Error{errc::size_mismatch, "the registry sent more than the " +
                                          std::to_string(blob.size) + " bytes the descriptor of " +
                                          blob.digest + " announces"};
  }
  if (complete && received != blob.size) {
    return Error{errc::size_mismatch,
                 "the registry sent " + std::to_string(received) + " bytes of " + blob.digest +
                     ", its descriptor announces " + std::to_string(blob.size)};
  }
  return std::nullopt;
}

Error registry_error(long status, std::string_view body, std::string_view what) {
  std::string message = std::string(what) + ": HTTP " + std::to_string(status);
  if (const auto text = registry_error_text(body); !text.empty()) message += " (" + text + ")";
  // A hint on what to change, for the errors a user can act on.
  const char* code = errc::registry_error;
  if (status == 401) {
    code = errc::unauthorized;
    message +=
        "; set PROXY_REGISTRY_USERNAME/PASSWORD (or PROXY_REGISTRY_TOKEN), or log in to the "
        "registry in an auth file the proxy reads";
  } else if (status == 403) {
    code = errc::forbidden;
    message += "; the credentials are valid but lack pull access to this repository";
  } else if (status == 404) {
    code = errc::not_found;
    message += "; check the repository name and tag";
  } else if (status == 429) {
    message += "; the registry is rate-limiting this client";
  }
  return Error{code, std::move(message)};
}

Expected<RegistryUrl> parse_registry_url(std::string_view text) {
  RegistryUrl url;
  std::string_view rest = text;
  if (const auto pos = rest.find("://"); pos != std::string_view::npos) {
    url.scheme = rest.substr(0, pos);
    rest.remove_prefix(pos + 3);
    if (url.scheme != "http" && url.scheme != "https") {
      return Error{
          errc::invalid_reference,
          "scheme \"" + url.scheme + "\" is not http or https in \"" + std::string(text) + "\""};
    }
  }
  if (rest.ends_with('/')) rest.remove_suffix(1);
  if (rest.empty())
    return Error{errc::invalid_reference, "no host in \"" + std::string(text) + "\""};
  if (rest.find_first_of("/?#@ \t") != std::string_view::npos) {
    return Error{errc::invalid_reference,
                 "\"" + std::string(text) + "\" must be scheme://host[:port] with no path"};
  }
  if (!is_valid_host(rest)) {
    return Error{errc::invalid_reference, "invalid host in \"" + std::string(text) + "\""};
  }
  url.host = rest;
  // The same canonical name references get, so that credentials match the references they serve.
  if (url.host == "docker.io" || url.host == "index.docker.io") url.host = "registry-1.docker.io";
  if (url.scheme.empty()) url.scheme = is_loopback_host(url.host) ? "http" : "https";
  return url;
}

RegistryClient::RegistryClient(HttpIo& io, RegistryOptions options)
    : io_(io), options_(std::move(options)), auth_(io_, options_, options_.env) {}

HttpRequest RegistryClient::request_for(const Reference& ref, std::string path) const {
  HttpRequest req;
  const bool own_registry = ref.registry == options_.url.host;
  // Plain HTTP only where the operator said so (PROXY_REGISTRY_URL) or on this very machine.
  const std::string scheme =
      own_registry ? options_.url.scheme : (is_loopback_host(ref.registry) ? "http" : "https");
  req.url = scheme + "://" + ref.registry + path;
  req.headers.push_back("User-Agent: " + options_.user_agent);
  req.stall_timeout_ms = options_.stall_timeout_ms;
  req.ca_file = options_.ca_file;
  req.insecure = options_.insecure;
  if (own_registry) {
    req.cert_file = options_.cert_file;
    req.key_file = options_.key_file;
  }
  return req;
}

struct RegistryClient::Attempts : RegistryClient::Call, std::enable_shared_from_this<Attempts> {
  RegistryClient& client;
  Reference ref;
  HttpRequest request;  // as built, without authorisation
  std::shared_ptr<HttpHandler> receiver;
  std::function<void(Error)> fail;
  HttpIo::Id id = 0;
  bool challenged = false;
  bool cancelled = false;
  int attempt = 1;
  std::optional<ByteRange> range;  // of a ranged GET
  std::uint64_t range_from = 0;    // bytes of the answer (of the range) the receiver has

  Attempts(RegistryClient& c, Reference r, HttpRequest q, std::shared_ptr<HttpHandler> h,
           std::function<void(Error)> f)
      : client(c),
        ref(std::move(r)),
        request(std::move(q)),
        receiver(std::move(h)),
        fail(std::move(f)) {}

  void send();
  // Sends the request again after a transient failure, if attempts are left and the receiver can
  // take it up again (from the byte it has reached). False when it cannot.
  bool retry(const std::string& why, std::optional<std::string_view> retry_after);
  void resume() override { client.io_.resume(id); }
  void cancel() override {
    cancelled = true;
    client.io_.cancel(id);
  }
};

namespace {

// Hands everything to the receiver except what the attempts handle themselves: a first 401 with a
// challenge (met, then sent again) and transient failures (sent again after a backoff). Their
// bodies are not the receiver's.
class ResponseGate : public HttpHandler {
 public:
  using Intercept = std::function<bool(const HttpHead&)>;
  using Handle = std::function<bool(const HttpHead&, const std::optional<std::string>&)>;
  ResponseGate(std::shared_ptr<RegistryClient::Call> attempts, std::shared_ptr<HttpHandler> inner,
               Intercept intercept, Handle handle)
      : attempts_(std::move(attempts)),
        inner_(std::move(inner)),
        intercept_(std::move(intercept)),
        handle_(std::move(handle)) {}

  std::size_t on_body(const HttpHead& head, const char* data, std::size_t size) override {
    if (intercept_(head)) return size;
    return inner_->on_body(head, data, size);
  }
  void on_done(const HttpHead& head, std::optional<std::string> error) override {
    if (handle_(head, error)) return;  // the attempts took it over
    inner_->on_done(head, std::move(error));
  }

 private:
  std::shared_ptr<RegistryClient::Call> attempts_;  // keeps the attempts alive while in flight
  std::shared_ptr<HttpHandler> inner_;
  Intercept intercept_;
  Handle handle_;
};

double jitter() {
  thread_local std::mt19937 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

}  // namespace

void RegistryClient::Attempts::send() {
  HttpRequest attempt_request = request;
  client.auth_.authorize(attempt_request, ref);
  if (range) {
    attempt_request.headers.push_back("Range: bytes=" + std::to_string(range->offset + range_from) +
                                      "-" + std::to_string(range->offset + range->length - 1));
  } else if (range_from > 0) {
    attempt_request.headers.push_back("Range: bytes=" + std::to_string(range_from) + "-");
  }
  auto self = shared_from_this();
  const int max_attempts = client.options_.retry.max_attempts;
  auto gate = std::make_shared<ResponseGate>(
      self, receiver,
      [self, max_attempts](const HttpHead& head) {
        if (!self->challenged && head.status == 401 && !head.www_authenticate.empty()) return true;
        return self->attempt < max_attempts && RetryPolicy::retryable_status(head.status);
      },
      [self](const HttpHead& head, const std::optional<std::string>& error) {
        if (error) return head.refused.empty() && self->retry(*error, std::nullopt);
        if (!self->challenged && head.status == 401 && !head.www_authenticate.empty()) {
          self->challenged = true;
          self->client.auth_.meet(self->ref, head.www_authenticate, [self](std::optional<Error> e) {
            if (e) return self->fail(std::move(*e));
            self->range_from = 0;
            if (auto offset = self->receiver->restart_offset()) {
              self->range_from = *offset;
            }
            self->send();
          });
          return true;
        }
        if (RetryPolicy::retryable_status(head.status)) {
          return self->retry("HTTP " + std::to_string(head.status),
                             head.retry_after.empty()
                                 ? std::nullopt
                                 : std::optional<std::string_view>(head.retry_after));
        }
        return false;
      });
  id = client.io_.start(std::move(attempt_request), std::move(gate));
}

bool RegistryClient::Attempts::retry(const std::string& why,
                                     std::optional<std::string_view> retry_after) {
  if (cancelled || client.io_.aborted() || attempt >= client.options_.retry.max_attempts) {
    return false;
  }
  const auto offset = receiver->restart_offset();
  if (!offset) return false;
  const auto delay = client.options_.retry.delay(attempt, retry_after, jitter());
  ++attempt;
  range_from = *offset;
  log::warn("registry request failed; retrying",
            {{"url", request.url},
             {"error", why},
             {"attempt", attempt},
             {"delay_ms", static_cast<long long>(delay.count())},
             {"resume_at", range_from}});
  client.io_.post_after(delay, [self = shared_from_this()] {
    if (self->cancelled) return self->fail(Error{errc::shutting_down, "request cancelled"});
    self->send();
  });
  return true;
}

std::shared_ptr<RegistryClient::Call> RegistryClient::send(const Reference& ref,
                                                           HttpRequest request,
                                                           std::shared_ptr<HttpHandler> receiver,
                                                           std::function<void(Error)> fail,
                                                           std::optional<ByteRange> range) {
  auto attempts = std::make_shared<Attempts>(*this, ref, std::move(request), std::move(receiver),
                                             std::move(fail));
  attempts->range = range;
  attempts->send();
  return attempts;
}

void RegistryClient::fetch_manifest(const Reference& ref, ManifestCallback done) {
  fetch_manifest_at(ref, 0, std::move(done));
}

void RegistryClient::fetch_manifest_at(const Reference& ref, int depth, ManifestCallback done) {
  HttpRequest req =
      request_for(ref, "/v2/" + ref.repository + "/manifests/" + ref.manifest_selector());
  req.headers.push_back(std::string("Accept: ") + media::manifest_accept);
  req.timeout_ms = 30'000;  // a manifest is small: a registry that takes longer is failing
  const std::string what = "manifest " + ref.str();
  auto handler = std::make_shared<BufferedExchange>(
      kMaxManifestBytes, what,
      [this, ref, depth, what, done](const HttpHead& head, std::string body,
                                     std::optional<Error> error) {
        if (error) return done(std::move(*error));
        if (!is_success(head.status)) {
          return done(registry_error(head.status, body, what));
        }
        // A pinned digest names its algorithm; the manifest is checked with that one.
        Hasher hasher = Hasher::for_digest(ref.digest);
        hasher.update(body);
        std::string digest = hasher.finish_digest();
        if (!ref.digest.empty() && digest != ref.digest) {
          return done(Error{errc::digest_mismatch,
                            what + ": the registry served a manifest whose digest is " + digest});
        }
        if (is_index_document(body, head.content_type)) {
          if (depth >= kMaxIndexDepth) {
            return done(Error{
                errc::unsupported_manifest,
                what + ": image indexes nested deeper than " + std::to_string(kMaxIndexDepth)});
          }
          auto index = parse_index(body, head.content_type);
          if (!index) return done(Error{index.error().code, what + ": " + index.error().message});
          auto chosen = select_platform(*index, options_.platform);
          if (!chosen)
            return done(Error{chosen.error().code, what + ": " + chosen.error().message});
          Reference child = ref;
          child.digest = chosen->digest;  // fetched by digest, so it is verified like a pinned ref
          return fetch_manifest_at(
              child, depth + 1,
              [done, digest = std::move(digest)](Expected<ResolvedManifest> resolved) {
                if (resolved)
                  resolved->index_digests.insert(resolved->index_digests.begin(), digest);
                done(std::move(resolved));
              });
        }
        auto manifest = parse_manifest(body, head.content_type);
        if (!manifest) {
          const Error& e = manifest.error();
          return done(Error{e.code, what + ": " + e.message});
        }
        done(ResolvedManifest{std::move(manifest).value(), std::move(digest), {}});
      });
  send(ref, std::move(req), std::move(handler), [done](Error e) { done(std::move(e)); });
}

void RegistryClient::fetch_document(const Reference& ref, DocumentKind kind,
                                    const std::string& name, std::size_t max_bytes,
                                    DocumentCallback done) {
  static constexpr const char* kPaths[] = {"/manifests/", "/referrers/", "/blobs/"};
  HttpRequest req =
      request_for(ref, "/v2/" + ref.repository + kPaths[static_cast<int>(kind)] + name);
  switch (kind) {
    case DocumentKind::manifest:
      req.headers.push_back(std::string("Accept: ") + media::manifest_accept);
      break;
    case DocumentKind::referrers:
      req.headers.push_back(std::string("Accept: ") + media::oci_index);
      break;
    case DocumentKind::blob:
      req.follow_redirects = true;  // blobs may live on a CDN
      break;
  }
  req.timeout_ms = 30'000;  // small documents, as manifests
  static constexpr const char* kWhat[] = {"manifest ", "referrers of ", "blob "};
  std::string what =
      kWhat[static_cast<int>(kind)] + name + " of " + ref.registry + "/" + ref.repository;
  auto handler = std::make_shared<BufferedExchange>(
      max_bytes, what,
      [kind, name, what, done = std::move(done)](const HttpHead& head, std::string body,
                                                 std::optional<Error> error) {
        if (error) return done(std::move(*error));
        if (!is_success(head.status)) return done(registry_error(head.status, body, what));
        // A referrers answer is named by its subject's digest, not its own.
        const bool by_digest = kind != DocumentKind::referrers && is_digest(name);
        Hasher hasher = Hasher::for_digest(by_digest ? name : std::string());
        hasher.update(body);
        std::string digest = hasher.finish_digest();
        if (by_digest && digest != name) {
          return done(Error{errc::digest_mismatch,
                            what + ": the registry served bytes whose digest is " + digest});
        }
        done(Document{std::move(body), head.content_type, std::move(digest)});
      });
  send(ref, std::move(req), std::move(handler), [done](Error e) { done(std::move(e)); });
}

std::shared_ptr<RegistryClient::Call> RegistryClient::fetch_blob(const Reference& ref,
                                                                 const std::string& digest,
                                                                 std::shared_ptr<BlobSink> sink,
                                                                 std::optional<ByteRange> range) {
  HttpRequest req = request_for(ref, "/v2/" + ref.repository + "/blobs/" + digest);
  req.follow_redirects = true;
  auto receiver = std::make_shared<BlobExchange>(
      sink, "blob " + digest + " of " + ref.registry + "/" + ref.repository, range);
  return send(
      ref, std::move(req), std::move(receiver), [sink](Error e) { sink->on_end(std::move(e)); },
      range);
}

void RegistryClient::exchange(
    const Reference& ref, HttpRequest request, std::string what,
    std::function<void(const HttpHead&, std::string, std::optional<Error>)> done) {
  send(ref, std::move(request),
       std::make_shared<BufferedExchange>(kMaxErrorBodyBytes, std::move(what), done),
       [done](Error e) { done(HttpHead{}, {}, std::move(e)); });
}

// A monolithic blob upload, one step per registry answer: HEAD (already there?), POST (open an
// upload session), PUT (the bytes, closing the session with their digest).
struct RegistryClient::BlobUpload : std::enable_shared_from_this<BlobUpload> {
  RegistryClient& client;
  Reference ref;
  std::string digest;
  std::string bytes;
  Done done;
  std::string what;

  BlobUpload(RegistryClient& c, Reference r, std::string d, std::string b, Done f)
      : client(c),
        ref(std::move(r)),
        digest(std::move(d)),
        bytes(std::move(b)),
        done(std::move(f)),
        what("blob " + digest + " of " + ref.registry + "/" + ref.repository) {}

  void probe() {
    HttpRequest req = client.request_for(ref, "/v2/" + ref.repository + "/blobs/" + digest);
    req.method = "HEAD";
    client.exchange(
        ref, std::move(req), what,
        [self = shared_from_this()](const HttpHead& head, std::string, std::optional<Error> error) {
          if (error) return self->done(std::move(error));
          if (head.status == 200) return self->done(std::nullopt);
          self->open_session();
        });
  }

  void open_session() {
    HttpRequest req = client.request_for(ref, "/v2/" + ref.repository + "/blobs/uploads/");
    req.method = "POST";
    client.exchange(ref, std::move(req), what,
                    [self = shared_from_this()](const HttpHead& head, std::string body,
                                                std::optional<Error> error) {
                      if (error) return self->done(std::move(error));
                      if (head.status != 202 || head.location.empty()) {
                        return self->done(self->refused(head, body));
                      }
                      self->put(head.location);
                    });
  }

  void put(const std::string& location) {
    HttpRequest req = client.request_for(ref, "");
    // Location may be absolute or relative to the registry, and may carry a query already.
    const std::string url = location.starts_with("/") ? req.url + location : location;
    req.url = url + (url.find('?') == std::string::npos ? "?" : "&") + "digest=" + digest;
    req.method = "PUT";
    req.headers.push_back("Content-Type: application/octet-stream");
    req.body = std::move(bytes);
    client.exchange(ref, std::move(req), what,
                    [self = shared_from_this()](const HttpHead& head, std::string body,
                                                std::optional<Error> error) {
                      if (error) return self->done(std::move(error));
                      if (head.status != 201) return self->done(self->refused(head, body));
                      self->done(std::nullopt);
                    });
  }

  Error refused(const HttpHead& head, std::string_view body) const {
    return registry_error(head.status, body, "upload of " + what);
  }
};

void RegistryClient::push_blob(const Reference& ref, const std::string& digest, std::string bytes,
                               Done done) {
  std::make_shared<BlobUpload>(*this, ref, digest, std::move(bytes), std::move(done))->probe();
}

void RegistryClient::push_manifest(const Reference& ref, std::string body,
                                   const std::string& media_type, Done done) {
  HttpRequest put =
      request_for(ref, "/v2/" + ref.repository + "/manifests/" + ref.manifest_selector());
  put.method = "PUT";
  put.headers.push_back("Content-Type: " + media_type);
  put.body = std::move(body);
  const std::string what = "manifest " + ref.str();
  exchange(ref, std::move(put), what,
           [what, done = std::move(done)](const HttpHead& head, std::string body,
                                          std::optional<Error> error) {
             if (error) return done(std::move(error));
             if (head.status != 201) {
               return done(registry_error(head.status, body, "upload of " + what));
             }
             done(std::nullopt);
           });
}

}  // namespace pp::oci
