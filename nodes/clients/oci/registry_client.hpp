#pragma once
// The OCI distribution client the pipeline talks to. It composes the small units (references,
// manifest parsing, credentials, HTTP) and nothing above it knows how a request is authorised or
// how a registry reports an error: callers get a Manifest or a stream of verified-size blob bytes,
// or an Error with an errc code. Authentication challenges, token caching, index resolution and
// retries slot in here without changing that interface.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nodes/clients/oci/http_io.hpp"
#include "nodes/clients/oci/manifest.hpp"
#include "nodes/clients/oci/reference.hpp"
#include "nodes/clients/oci/registry_auth.hpp"
#include "nodes/clients/oci/retry_policy.hpp"
#include "nodes/common/error.hpp"

namespace pp::oci {

struct RegistryUrl {
  std::string scheme;  // "http" or "https"
  std::string host;    // host[:port]
};

// "http://host[:port]" or "https://host[:port]" (a trailing '/' is allowed, a path is not); a bare
// "host[:port]" means https, or http for a loopback host. The error message says what is wrong.
Expected<RegistryUrl> parse_registry_url(std::string_view text);

struct RegistryOptions {
  RegistryUrl url;  // PROXY_REGISTRY_URL: the default registry, and the one credentials belong to
  bool authenticate = false;
  std::string username;
  std::string password;
  std::string token;  // static bearer token
  std::string user_agent = "propeller-proxy";
  // Where credentials for other registries come from (auth files); empty: nowhere.
  EnvGet env;
  // The image index entry to follow (PROXY_PLATFORM).
  Platform platform{"wasi", "wasm", ""};
  RetryPolicy retry;
  // A registry connection that moves no byte for this long is dropped and the request retried
  // (PROXY_HTTP_STALL_TIMEOUT); a download paused for window credits is not stalled.
  long stall_timeout_ms = 30'000;
  // TLS to registries: CA certificates to trust besides the system's, no verification (loudly
  // warned about at start), and a client certificate sent to PROXY_REGISTRY_URL's host only.
  std::string ca_file;
  bool insecure = false;
  std::string cert_file;
  std::string key_file;
};

// Bytes [offset, offset + length) of a blob; length > 0.
struct ByteRange {
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

struct ResolvedManifest {
  Manifest manifest;
  std::string digest;  // of the manifest bytes as served: sha256, or the pinned algorithm
  // The image indexes followed to reach it, outermost first (what `cosign sign` signs when given
  // the tag of a multi-platform image); empty when the reference named the manifest itself.
  std::vector<std::string> index_digests;
};

// A small document read whole: a manifest by tag or digest, the referrers of a digest (an image
// index, OCI 1.1), or a blob by digest.
struct Document {
  std::string body;
  std::string content_type;
  std::string digest;  // sha256 of the body
};
enum class DocumentKind { manifest, referrers, blob };

// Receives a blob's bytes on the I/O thread. on_data has HttpHandler::on_body's contract (consume,
// HttpHandler::kPause, or abort); on_end is called exactly once.
class BlobSink {
 public:
  virtual ~BlobSink() = default;
  virtual std::size_t on_data(const char* data, std::size_t size) = 0;
  // nullopt: the registry sent a complete 2xx body. A sink that aborted gets its own abort back as
  // an error and may ignore it.
  virtual void on_end(std::optional<Error> error) = 0;
};

// The size check every BlobSink makes against the blob's descriptor: more bytes than it announces
// (`complete` false: checked as they arrive), or another total once the response is over
// (`complete` true). errc::size_mismatch, or nullopt when the count is right so far.
std::optional<Error> check_blob_size(std::uint64_t received, const Descriptor& blob, bool complete);

// What the pipeline asks of a registry: the seam at which tests put a registry of their own.
class Registry {
 public:
  virtual ~Registry() = default;

  // One logical request: sent, and sent once more if the registry's 401 challenge could be met.
  // Its handle stays valid across those attempts.
  class Call {
   public:
    virtual ~Call() = default;
    virtual void resume() = 0;  // after the receiver paused (I/O thread)
    virtual void cancel() = 0;  // ends it with an error to the receiver (I/O thread)
  };

  // The host of references that name none.
  virtual const std::string& default_registry() const = 0;
  // The I/O thread, on which every callback runs.
  virtual HttpIo& io() = 0;

  using ManifestCallback = std::function<void(Expected<ResolvedManifest>)>;
  // Fetches and parses the manifest `ref` names. When `ref` pins a digest, the bytes must hash to
  // it. `done` runs on the I/O thread.
  virtual void fetch_manifest(const Reference& ref, ManifestCallback done) = 0;

  using DocumentCallback = std::function<void(Expected<Document>)>;
  // GET /v2/<ref's repository>/{manifests,referrers,blobs}/<name>, the body kept whole up to
  // `max_bytes` (errc::too_large past it). A manifest or blob named by its digest must be what the
  // body hashes to (errc::digest_mismatch); a referrers answer is named by the digest it lists the
  // referrers of. A 404 is errc::not_found: the caller decides what absence means.
  // With the authorisation, retries and redirect rules of every other request; `done` runs on the
  // I/O thread.
  virtual void fetch_document(const Reference& ref, DocumentKind kind, const std::string& name,
                              std::size_t max_bytes, DocumentCallback done) = 0;

  // Streams blob `digest` of `ref`'s repository into `sink`, or only `range` of it (a ranged GET;
  // a registry that ignores Range still gives just those bytes, read past the rest). Call on the
  // I/O thread; the handle resumes the download after the sink paused.
  virtual std::shared_ptr<Call> fetch_blob(const Reference& ref, const std::string& digest,
                                           std::shared_ptr<BlobSink> sink,
                                           std::optional<ByteRange> range = std::nullopt) = 0;
};

// The registry over HTTP (the distribution spec), with its authorisation, retries and redirects.
class RegistryClient : public Registry {
 public:
  RegistryClient(HttpIo& io, RegistryOptions options);

  const std::string& default_registry() const override { return options_.url.host; }
  HttpIo& io() override { return io_; }
  RegistryAuth& auth() { return auth_; }  // what it remembers, for /metrics

  void fetch_manifest(const Reference& ref, ManifestCallback done) override;
  void fetch_document(const Reference& ref, DocumentKind kind, const std::string& name,
                      std::size_t max_bytes, DocumentCallback done) override;
  std::shared_ptr<Call> fetch_blob(const Reference& ref, const std::string& digest,
                                   std::shared_ptr<BlobSink> sink,
                                   std::optional<ByteRange> range = std::nullopt) override;

  using Done = std::function<void(std::optional<Error>)>;
  // Uploads `bytes` (whose digest is `digest`) to `ref`'s repository, unless it is already there.
  void push_blob(const Reference& ref, const std::string& digest, std::string bytes, Done done);
  // Stores `body` as the manifest `ref` names (its tag, or its digest).
  void push_manifest(const Reference& ref, std::string body, const std::string& media_type,
                     Done done);

 private:
  struct BlobUpload;
  struct Attempts;
  // Indexes may point at indexes; past this depth it is a loop or an abuse.
  static constexpr int kMaxIndexDepth = 2;
  void fetch_manifest_at(const Reference& ref, int depth, ManifestCallback done);
  // The URL of `path` on `ref`'s registry, with the scheme its host gets; no credentials (those are
  // added per attempt by auth_).
  HttpRequest request_for(const Reference& ref, std::string path) const;
  // Sends `request` (for `range` of its resource, if given) with the registry's authorisation;
  // `receiver` gets the final answer, `fail` gets the reason when a challenge could not be met.
  std::shared_ptr<Call> send(const Reference& ref, HttpRequest request,
                             std::shared_ptr<HttpHandler> receiver, std::function<void(Error)> fail,
                             std::optional<ByteRange> range = std::nullopt);
  // Sends a request whose answer matters only by its status (and Location): `done` gets the head.
  void exchange(const Reference& ref, HttpRequest request, std::string what,
                std::function<void(const HttpHead&, std::string body, std::optional<Error>)> done);

  HttpIo& io_;
  RegistryOptions options_;
  RegistryAuth auth_;
};

// Maps a registry's answer to an Error: status, the registry's {"errors":[…]} body, what was asked.
// 401 unauthorized, 403 forbidden, 404 not_found, else registry_error; with a hint where one helps.
Error registry_error(long status, std::string_view body, std::string_view what);

}  // namespace pp::oci
