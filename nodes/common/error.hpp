#pragma once
// The failure vocabulary shared by every stage: a stable machine-readable code (it goes into status
// messages and metrics) and a human sentence (it goes into the log line and the status message).

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace pp {

struct Error {
  std::string code;
  std::string message;
};

// Codes are part of the wire protocol (status messages): never rename one.
namespace errc {
inline constexpr const char* invalid_request = "invalid_request";
inline constexpr const char* invalid_reference = "invalid_reference";
inline constexpr const char* not_found = "not_found";        // no such repository, tag or blob
inline constexpr const char* unauthorized = "unauthorized";  // 401: no or wrong credentials
inline constexpr const char* forbidden = "forbidden";        // 403: the credentials lack access
inline constexpr const char* registry_unavailable = "registry_unavailable";
inline constexpr const char* registry_error = "registry_error";
inline constexpr const char* invalid_manifest = "invalid_manifest";
inline constexpr const char* unsupported_manifest = "unsupported_manifest";
inline constexpr const char* no_matching_platform = "no_matching_platform";
inline constexpr const char* no_wasm_layer = "no_wasm_layer";
inline constexpr const char* too_large = "too_large";
inline constexpr const char* size_mismatch = "size_mismatch";
inline constexpr const char* digest_mismatch = "digest_mismatch";
// A cached module that no longer hashes to its digest. Internal: the request is answered again
// from the registry, and its requester never sees this code.
inline constexpr const char* cache_corrupt = "cache_corrupt";
inline constexpr const char* publish_failed = "publish_failed";
// The proxy itself could not do its part (e.g. its spool directory is full or unwritable).
inline constexpr const char* proxy_error = "proxy_error";
inline constexpr const char* shutting_down = "shutting_down";
// Too many requests are waiting for a transfer slot (PROXY_QUEUE_LIMIT): ask again later.
inline constexpr const char* busy = "busy";
// The request names a registry outside PROXY_REGISTRY_ALLOW, or the registry redirected a download
// where the proxy does not follow (plain HTTP elsewhere, too many hops).
inline constexpr const char* not_allowed = "not_allowed";
// Refusals of the signature check in enforce mode (nodes/stages/signature.hpp): signatures were
// found, none valid for a trusted key and the module's digest...
inline constexpr const char* signature_invalid = "signature_invalid";
// ...or there is none at all (keyless bundles whose certificate key is not trusted count as none).
inline constexpr const char* unsigned_module = "unsigned";
}  // namespace errc

// A value or the Error that prevented it (std::expected arrives with C++23; GCC 12 is C++20).
template <class T>
class Expected {
 public:
  Expected(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Expected(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  const Error& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Error> v_;
};

// Runs `body`, a step of the stage `stage`; what escapes it (a bug, memory exhausted) comes back as
// a proxy_error naming the stage, for the caller to fail what the step was working on with.
template <class Body>
std::optional<Error> internal_error_in(std::string_view stage, Body&& body) noexcept {
  const char* what = "an exception that is not a std::exception";
  std::string text;
  try {
    body();
    return std::nullopt;
  } catch (const std::exception& e) {
    text = e.what();
    what = text.c_str();
  } catch (...) {
  }
  return Error{errc::proxy_error,
               "internal error in the " + std::string(stage) + " stage: " + std::string(what)};
}

// What a stage reports when it finds its transfer already failed (cancelled at shutdown, or
// failed by another stage, whose error is the one recorded): the reason it stops, not a new error.
inline Error cancelled_error() {
  return Error{errc::shutting_down, "transfer cancelled"};
}

}  // namespace pp
