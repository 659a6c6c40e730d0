#pragma once
// The request stage: an MQTT payload becomes a validated Request, or a precise refusal.

#include <cstddef>
#include <optional>

#include "nodes/error.hpp"
#include "pipeline/transfer.hpp"

namespace pp {

inline constexpr std::size_t kDefaultMaxRequestBytes = 64 * 1024;  // PROXY_MAX_REQUEST_BYTES
inline constexpr std::size_t kMaxAppNameBytes = 1024;

struct ParsedRequest {
  Request request;  // filled as far as parsing got (app_name, channel), even on error
  std::optional<Error> error;
};

// {"app_name": "<reference>"} on a request topic, optionally with "chunks": [indices] (resend only
// those) and "digest" (the module the requester expects); other fields are ignored. A payload over
// `max_bytes` is refused unread (PROXY_MAX_REQUEST_BYTES). Whether app_name is a reference the
// proxy may fetch is for the reference parser and the allow list to say.
ParsedRequest parse_request(const Incoming& incoming,
                            std::size_t max_bytes = kDefaultMaxRequestBytes);

}  // namespace pp
