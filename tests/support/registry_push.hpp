// Pushing test content into a real OCI registry: digests, random wasm modules, a blocking libcurl
// HTTP helper and a minimal distribution-API pusher (blob uploads and manifests).
#pragma once

#include <openssl/evp.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pp::test {

// Incremental SHA-256 (OpenSSL EVP).
class Sha256Hasher {
 public:
  Sha256Hasher();
  void update(std::string_view bytes);
  // "sha256:<64 lowercase hex>". The hasher is reset afterwards.
  std::string finish();

 private:
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx_;
};

// "sha256:<hex>" of `bytes`.
std::string sha256_digest(std::string_view bytes);

// Exactly `size` bytes: the wasm header "\0asm\x01\0\0\0" (truncated if size < 8), then
// pseudorandom bytes determined by `seed` (splitmix64; ~200 MB in well under a second).
std::string random_wasm(std::size_t size, std::uint64_t seed);

struct HttpResponse {
  long status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // of the final response, in order
  // Case-insensitive lookup; the last occurrence wins.
  std::optional<std::string> header(std::string_view name) const;
};

// One blocking request with libcurl. `headers` are "Name: value" lines; `body` is sent from memory
// without copying (Content-Length set, no "Expect: 100-continue"). Throws std::runtime_error only
// on transport errors; any HTTP status is returned. `verify_tls` false accepts any certificate.
HttpResponse http_request(std::string_view method, const std::string& url,
                          const std::vector<std::string>& headers = {},
                          std::optional<std::string_view> body = std::nullopt,
                          std::chrono::milliseconds timeout = std::chrono::seconds(120),
                          bool verify_tls = true);

inline HttpResponse http_get(const std::string& url, const std::vector<std::string>& headers = {},
                             std::chrono::milliseconds timeout = std::chrono::seconds(120)) {
  return http_request("GET", url, headers, std::nullopt, timeout);
}

struct Desc {
  std::string media_type;
  std::string digest;
  std::uint64_t size = 0;
};

inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";

// Pushes blobs and manifests via the distribution API (no auth unless set_authorization is used).
// Every failure throws std::runtime_error naming the step, the HTTP status and the response body.
class RegistryPusher {
 public:
  explicit RegistryPusher(std::string base_url);  // e.g. "http://127.0.0.1:5000"

  // POST /v2/<repo>/blobs/uploads/, then PUT <Location>?digest=... with the bytes.
  Desc push_blob(const std::string& repo, std::string_view bytes,
                 std::string media_type = "application/octet-stream");
  // PUT /v2/<repo>/manifests/<reference>; returns the "sha256:" digest of `body`.
  std::string push_manifest(const std::string& repo, const std::string& reference,
                            std::string_view body, std::string_view media_type);
  // Config blob "{}" (application/vnd.wasm.config.v0+json, or
  // application/vnd.docker.container.image.v1+json for a docker manifest), the wasm layer and a
  // manifest tagged `tag`. Returns the layer descriptor.
  Desc push_wasm(const std::string& repo, const std::string& tag, std::string_view wasm,
                 std::string layer_media_type = "application/wasm",
                 std::string manifest_media_type = std::string(kOciManifest));

  // {"schemaVersion":2,"mediaType":...,"config":{...},"layers":[...]} (compact, stable order).
  static std::string manifest_json(const Desc& config, const std::vector<Desc>& layers,
                                   std::string_view media_type);

  const std::string& base_url() const { return base_url_; }

  // An Authorization header value sent with every later request, e.g. "Bearer <jwt>" or
  // "Basic <base64>"; empty (the default) sends none.
  void set_authorization(std::string header_value) { authorization_ = std::move(header_value); }
  const std::string& authorization() const { return authorization_; }

 private:
  std::string absolute_url(const std::string& location) const;
  // `headers` plus the Authorization header, if one is set.
  std::vector<std::string> with_auth(std::vector<std::string> headers = {}) const;

  std::string base_url_;
  std::string authorization_;
};

}  // namespace pp::test
