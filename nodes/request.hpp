#pragma once
// The request stage: an MQTT payload becomes a validated Request, or a precise refusal.

#include <cstddef>
#include <optional>

#include "nodes/error.hpp"
#include "pipeline/transfer.hpp"

namespace pp {

inline constexpr std::size_t kMaxRequestBytes = 64 * 1024;
inline constexpr std::size_t kMaxAppNameBytes = 1024;

struct ParsedRequest {
  Request request;  // filled as far as parsing got (app_name, channel), even on error
  std::optional<Error> error;
};

// {"app_name": "<reference>"} on a request topic, optionally with "chunks": [indices] (resend only
// those) and "digest" (the module the requester expects); other fields are ignored.
ParsedRequest parse_request(const Incoming& incoming);

}  // namespace pp
