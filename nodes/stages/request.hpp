#pragma once
// The request stage: an MQTT payload becomes a validated Request, or a precise refusal.

#include <cstddef>
#include <optional>
#include <string>
#include <variant>

#include "nodes/clients/oci/registry_allow.hpp"
#include "nodes/common/error.hpp"
#include "nodes/common/rate_limit.hpp"
#include "nodes/model/active_transfers.hpp"
#include "nodes/model/join_table.hpp"
#include "nodes/model/metrics.hpp"
#include "nodes/model/transfer.hpp"

namespace pp {

inline constexpr std::size_t kMaxAppNameBytes = 1024;

struct ParsedRequest {
  Request request;  // filled as far as parsing got (app_name, channel), even on error
  std::optional<Error> error;
};

// {"app_name": "<reference>"} on a request topic, optionally with "chunks": [indices] (resend only
// those) and "digest" (the module the requester expects); other fields are ignored. A payload over
// `max_bytes` is refused unread (PROXY_MAX_REQUEST_BYTES). Whether app_name is a reference the
// proxy may fetch is for the reference parser and the allow list to say.
ParsedRequest parse_request(const Incoming& incoming, std::size_t max_bytes);

// The request stage (serial, so that requests queue for a transfer slot in the order they
// arrived): a request message becomes a new transfer, joins the one under way for its app and
// channel, or is refused. Owns the per-channel rate limit.
class RequestStage {
 public:
  struct Options {
    std::size_t max_request_bytes;
    std::size_t queue_limit;  // accepted requests waiting for a transfer slot; more are "busy"
    double rate_limit;        // requests per second per channel; 0: no limit
    double rate_burst;
    oci::RegistryAllowList allow;
    std::string default_registry;  // for references that name none
  };
  RequestStage(Options options, JoinTable& joins, ActiveTransfers& active, Metrics& metrics)
      : options_(std::move(options)),
        joins_(joins),
        active_(active),
        metrics_(metrics),
        rate_limiter_(options_.rate_limit, options_.rate_burst) {}

  enum Port : std::size_t { accepted, refused };
  // Refusals go to track, which answers them; a request that joined a transfer goes nowhere.
  using Next = std::variant<TransferPtr, TrackEvent, std::monostate>;
  Next operator()(const Incoming& in);
  // The refusal of `in` with `error`, as far as the request can be read, so that its requester
  // hears (the stage's guard: `in` could not be handled).
  RequestRejected refusal(const Incoming& in, Error error) const;

  std::size_t rate_limit_buckets() const { return rate_limiter_.keys(); }

 private:
  // Joins `request` to the transfer under way for its app and channel, if there is one that takes
  // it; refuses it when it asks for chunks the module does not have. Nullopt when it did neither.
  std::optional<Next> join_running(const Request& request, const Incoming& in);

  const Options options_;
  JoinTable& joins_;
  ActiveTransfers& active_;
  Metrics& metrics_;
  RateLimiter rate_limiter_;
};

}  // namespace pp
