#include "tests/support/registry_push.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace pp::test {
namespace {

// --- hashing and data --------------------------------------------------------------------------

std::string to_hex(const unsigned char* bytes, std::size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(n * 2, '\0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = kHex[bytes[i] >> 4];
    out[2 * i + 1] = kHex[bytes[i] & 0xf];
  }
  return out;
}

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// --- libcurl plumbing --------------------------------------------------------------------------

void curl_init_once() {
  static std::once_flag once;  // curl_global_init is not thread-safe; Paho threads may exist
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

bool iequals(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return s;
}

size_t on_body(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* headers = static_cast<std::vector<std::pair<std::string, std::string>>*>(user);
  const std::string_view line(data, size * n);
  if (line.starts_with("HTTP/")) headers->clear();  // keep only the final response's headers
  if (const auto colon = line.find(':'); colon != std::string_view::npos) {
    headers->emplace_back(std::string(trim(line.substr(0, colon))),
                          std::string(trim(line.substr(colon + 1))));
  }
  return size * n;
}

// Feeds the request body from memory, so large blobs are never copied.
struct UploadCursor {
  std::string_view rest;
};

size_t on_read(char* buffer, size_t size, size_t n, void* user) {
  auto* cursor = static_cast<UploadCursor*>(user);
  const size_t len = std::min(size * n, cursor->rest.size());
  std::memcpy(buffer, cursor->rest.data(), len);
  cursor->rest.remove_prefix(len);
  return len;
}

using CurlPtr = std::unique_ptr<CURL, void (*)(CURL*)>;
using SlistPtr = std::unique_ptr<curl_slist, void (*)(curl_slist*)>;

void set_method(CURL* curl, std::string_view method, std::optional<std::string_view> body,
                UploadCursor& cursor) {
  const std::string m(method);
  if (m == "GET" && !body) {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  } else if (m == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (body || m == "POST" || m == "PUT" || m == "PATCH") {
    // Upload mode streams via on_read and always sends Content-Length (0 for an empty body).
    cursor.rest = body.value_or(std::string_view());
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(cursor.rest.size()));
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(curl, CURLOPT_READDATA, &cursor);
    if (m != "PUT") curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, m.c_str());
  } else {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, m.c_str());
  }
}

// Percent-encodes everything but RFC 3986 unreserved characters (the ':' of a digest).
std::string url_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    }
  }
  return out;
}

void expect_status(const HttpResponse& r, long expected, const std::string& what) {
  if (r.status != expected) {
    throw std::runtime_error(what + ": HTTP " + std::to_string(r.status) + " (expected " +
                             std::to_string(expected) + "): " + r.body);
  }
}

nlohmann::ordered_json desc_json(const Desc& d) {
  return {{"mediaType", d.media_type}, {"digest", d.digest}, {"size", d.size}};
}

}  // namespace

// --- Sha256Hasher ------------------------------------------------------------------------------

Sha256Hasher::Sha256Hasher() : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
  if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("EVP sha256 init failed");
  }
}

void Sha256Hasher::update(std::string_view bytes) {
  if (EVP_DigestUpdate(ctx_.get(), bytes.data(), bytes.size()) != 1) {
    throw std::runtime_error("EVP sha256 update failed");
  }
}

std::string Sha256Hasher::finish() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_.get(), md, &len) != 1 ||
      EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("EVP sha256 final failed");
  }
  return "sha256:" + to_hex(md, len);
}

std::string sha256_digest(std::string_view bytes) {
  Sha256Hasher h;
  h.update(bytes);
  return h.finish();
}

std::string random_wasm(std::size_t size, std::uint64_t seed) {
  static constexpr char kHeader[] = {'\0', 'a', 's', 'm', '\x01', '\0', '\0', '\0'};
  std::string out(size, '\0');
  const std::size_t header = std::min(size, sizeof kHeader);
  std::memcpy(out.data(), kHeader, header);
  std::uint64_t state = seed;
  for (std::size_t i = header; i < size; i += 8) {
    const std::uint64_t word = splitmix64(state);
    std::memcpy(out.data() + i, &word, std::min<std::size_t>(8, size - i));
  }
  return out;
}

// --- HTTP --------------------------------------------------------------------------------------

std::optional<std::string> HttpResponse::header(std::string_view name) const {
  for (auto it = headers.rbegin(); it != headers.rend(); ++it) {
    if (iequals(it->first, name)) return it->second;
  }
  return std::nullopt;
}

HttpResponse http_request(std::string_view method, const std::string& url,
                          const std::vector<std::string>& headers,
                          std::optional<std::string_view> body, std::chrono::milliseconds timeout,
                          bool verify_tls) {
  curl_init_once();
  CurlPtr curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) throw std::runtime_error("curl_easy_init failed");
  SlistPtr list(nullptr, curl_slist_free_all);
  // An empty "Expect:" stops libcurl from waiting for 100-continue before large bodies.
  for (const std::string& h : headers)
    list.reset(curl_slist_append(list.release(), h.c_str()));
  list.reset(curl_slist_append(list.release(), "Expect:"));

  HttpResponse response;
  UploadCursor cursor;
  char error[CURL_ERROR_SIZE] = {};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list.get());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &response.headers);
  if (!verify_tls) {
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  set_method(c, method, body, cursor);

  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    throw std::runtime_error(std::string(method) + " " + url + ": " +
                             (error[0] != '\0' ? error : curl_easy_strerror(rc)));
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

// --- RegistryPusher ----------------------------------------------------------------------------

RegistryPusher::RegistryPusher(std::string base_url) : base_url_(std::move(base_url)) {
  while (base_url_.ends_with('/'))
    base_url_.pop_back();
}

// Location may be absolute ("http://host/v2/..."), host-relative ("/v2/...") or path-relative.
std::string RegistryPusher::absolute_url(const std::string& location) const {
  if (location.starts_with("http://") || location.starts_with("https://")) return location;
  if (location.starts_with('/')) {
    const auto scheme_end = base_url_.find("://");
    const auto path_start =
        base_url_.find('/', scheme_end == std::string::npos ? 0 : scheme_end + 3);
    return base_url_.substr(0, path_start) + location;
  }
  return base_url_ + "/" + location;
}

std::vector<std::string> RegistryPusher::with_auth(std::vector<std::string> headers) const {
  if (!authorization_.empty()) headers.push_back("Authorization: " + authorization_);
  return headers;
}

Desc RegistryPusher::push_blob(const std::string& repo, std::string_view bytes,
                               std::string media_type) {
  const std::string digest = sha256_digest(bytes);
  const HttpResponse start =
      http_request("POST", base_url_ + "/v2/" + repo + "/blobs/uploads/", with_auth());
  expect_status(start, 202, "start blob upload to " + repo);
  const auto location = start.header("Location");
  if (!location) throw std::runtime_error("blob upload to " + repo + ": no Location header");

  std::string url = absolute_url(*location);
  url += (url.find('?') == std::string::npos ? '?' : '&');
  url += "digest=" + url_encode(digest);
  const HttpResponse put =
      http_request("PUT", url, with_auth({"Content-Type: application/octet-stream"}), bytes);
  expect_status(put, 201, "finish blob upload " + digest + " to " + repo);
  return Desc{std::move(media_type), digest, bytes.size()};
}

std::string RegistryPusher::push_manifest(const std::string& repo, const std::string& reference,
                                          std::string_view body, std::string_view media_type) {
  const std::string digest = sha256_digest(body);
  const HttpResponse put =
      http_request("PUT", base_url_ + "/v2/" + repo + "/manifests/" + reference,
                   with_auth({"Content-Type: " + std::string(media_type)}), body);
  expect_status(put, 201, "push manifest " + repo + ":" + reference);
  // The registry stores the exact bytes, so its digest must agree with ours.
  if (const auto theirs = put.header("Docker-Content-Digest"); theirs && *theirs != digest) {
    throw std::runtime_error("push manifest " + repo + ":" + reference + ": registry digest " +
                             *theirs + " != " + digest);
  }
  return digest;
}

Desc RegistryPusher::push_wasm(const std::string& repo, const std::string& tag,
                               std::string_view wasm, std::string layer_media_type,
                               std::string manifest_media_type) {
  const bool docker = manifest_media_type == kDockerManifest;
  const Desc config = push_blob(repo, "{}",
                                docker ? "application/vnd.docker.container.image.v1+json"
                                       : "application/vnd.wasm.config.v0+json");
  const Desc layer = push_blob(repo, wasm, std::move(layer_media_type));
  push_manifest(repo, tag, manifest_json(config, {layer}, manifest_media_type),
                manifest_media_type);
  return layer;
}

std::string RegistryPusher::manifest_json(const Desc& config, const std::vector<Desc>& layers,
                                          std::string_view media_type) {
  nlohmann::ordered_json layer_list = nlohmann::ordered_json::array();
  for (const Desc& layer : layers)
    layer_list.push_back(desc_json(layer));
  nlohmann::ordered_json manifest = {{"schemaVersion", 2},
                                     {"mediaType", std::string(media_type)},
                                     {"config", desc_json(config)},
                                     {"layers", std::move(layer_list)}};
  return manifest.dump();
}

}  // namespace pp::test
