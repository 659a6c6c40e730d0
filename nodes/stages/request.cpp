#include "nodes/stages/request.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "nodes/clients/mqtt/topics.hpp"
#include "nodes/clients/oci/digest.hpp"
#include "nodes/clients/oci/reference.hpp"
#include "nodes/common/fault.hpp"
#include "nodes/common/log.hpp"
#include "nodes/model/next.hpp"
#include "nodes/stages/resolution.hpp"

namespace pp {

namespace {
Error invalid(std::string message) {
  return Error{errc::invalid_request, std::move(message)};
}

// "chunks": [3, 9]: which chunks to resend. Whether they exist is known once the module is.
std::optional<Error> parse_chunks(const nlohmann::json& doc, std::vector<std::uint64_t>& out) {
  const auto it = doc.find("chunks");
  if (it == doc.end() || it->is_null()) return std::nullopt;
  if (!it->is_array()) return invalid("\"chunks\" is not an array of chunk indices");
  if (it->empty())
    return invalid("\"chunks\" is empty: name the chunks to resend, or leave it out");
  for (const auto& idx : *it) {
    if (!idx.is_number_unsigned()) {
      // Quoted only when small and flat: dumping nested JSON recurses once per level, and a
      // request can nest tens of thousands deep.
      const bool show =
          idx.is_primitive() && !(idx.is_string() && idx.get_ref<const std::string&>().size() > 40);
      return invalid("\"chunks\" holds " + (show ? idx.dump() : std::string(idx.type_name())) +
                     ", not a chunk index (0, 1, 2, ...)");
    }
    out.push_back(idx.get<std::uint64_t>());
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return std::nullopt;
}

std::optional<Error> parse_digest(const nlohmann::json& doc, std::string& out) {
  const auto it = doc.find("digest");
  if (it == doc.end() || it->is_null()) return std::nullopt;
  if (!it->is_string() || !oci::is_digest(it->get_ref<const std::string&>())) {
    return invalid("\"digest\" is not a digest (sha256:<64 hex digits> or sha512:<128>)");
  }
  out = it->get<std::string>();
  return std::nullopt;
}
}  // namespace

ParsedRequest parse_request(const Incoming& incoming, std::size_t max_bytes) {
  ParsedRequest out;
  out.request.received = incoming.received;
  auto origin = mqtt::Topics::origin_of_request(incoming.topic);
  if (!origin) {
    out.error = invalid("topic \"" + incoming.topic + "\" is not a request topic");
    return out;
  }
  out.request.origin = std::move(*origin);
  if (incoming.payload.size() > max_bytes) {
    out.error = invalid("request of " + std::to_string(incoming.payload.size()) +
                        " bytes exceeds the limit of " + std::to_string(max_bytes) +
                        " (PROXY_MAX_REQUEST_BYTES)");
    return out;
  }
  const auto doc = nlohmann::json::parse(incoming.payload.view(), nullptr, false);
  if (doc.is_discarded()) {
    out.error = invalid("request is not valid JSON");
    return out;
  }
  if (!doc.is_object()) {
    out.error = invalid("request is not a JSON object");
    return out;
  }
  const auto app = doc.find("app_name");
  if (app == doc.end()) {
    out.error = invalid("request has no \"app_name\"");
    return out;
  }
  if (!app->is_string()) {
    out.error = invalid("\"app_name\" is not a string");
    return out;
  }
  const auto& name = app->get_ref<const std::string&>();
  if (name.empty()) {
    out.error = invalid("\"app_name\" is empty");
    return out;
  }
  if (name.size() > kMaxAppNameBytes) {
    out.error =
        invalid("\"app_name\" is longer than " + std::to_string(kMaxAppNameBytes) + " bytes");
    return out;
  }
  for (const char c : name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      out.error = invalid("\"app_name\" contains a control character");
      return out;
    }
  }
  out.request.app_name = name;
  if (auto error = parse_chunks(doc, out.request.chunks)) {
    out.error = std::move(error);
  } else if (auto bad = parse_digest(doc, out.request.digest)) {
    out.error = std::move(bad);
  }
  return out;
}

}  // namespace pp

namespace pp {

RequestRejected RequestStage::refusal(const Incoming& in, Error error) const {
  const ParsedRequest parsed = parse_request(in, options_.max_request_bytes);
  return RequestRejected{in.topic, parsed.request.app_name, parsed.request.origin,
                         std::move(error)};
}

RequestStage::Next RequestStage::operator()(const Incoming& in) {
  ParsedRequest parsed = parse_request(in, options_.max_request_bytes);
  fault_point("request", parsed.request.app_name);
  const auto refuse = [&](Error error) {
    return by<refused, Next>(TrackEvent{RequestRejected{in.topic, parsed.request.app_name,
                                                        parsed.request.origin, std::move(error)}});
  };
  // Before the reference is parsed or any shared state touched: a flood costs one bounded JSON
  // parse per message, kept so that each refusal names the app it refuses (devices match statuses
  // by app_name).
  if (!parsed.request.origin.channel.empty()) {
    const auto verdict =
        rate_limiter_.admit(parsed.request.origin.tenant + '/' + parsed.request.origin.channel,
                            RateLimiter::Clock::now());
    if (!verdict.admitted) {
      return refuse(
          Error{errc::busy, "channel is over its request rate of " +
                                std::to_string(static_cast<long long>(options_.rate_limit)) +
                                "/s (PROXY_RATE_LIMIT, burst PROXY_RATE_BURST)"});
    }
  }
  if (parsed.error) return refuse(std::move(*parsed.error));
  auto ref = oci::parse_reference(parsed.request.app_name, options_.default_registry);
  if (!ref) return refuse(ref.error());
  if (!options_.allow.allows(ref->registry)) {
    return refuse(Error{errc::not_allowed, "registry " + ref->registry +
                                               " is not one this proxy fetches from (allowed: " +
                                               options_.allow.describe() +
                                               "; PROXY_REGISTRY_ALLOW adds registries)"});
  }
  if (auto joined = join_running(parsed.request, in)) return std::move(*joined);
  // A bounded wait: past the limit the requester hears "busy" now, rather than nothing ever.
  auto t = active_.admit(std::move(parsed.request), std::move(ref).value(), options_.queue_limit);
  if (!t) {
    return refuse(Error{errc::busy, std::to_string(options_.queue_limit) +
                                        " requests are already waiting for a transfer slot "
                                        "(PROXY_QUEUE_LIMIT); ask again later"});
  }
  joins_.open(t);
  log::debug("request accepted", {{"app_name", t->request.app_name},
                                  log::if_set("tenant", t->request.origin.tenant),
                                  {"channel", t->request.origin.channel},
                                  {"transfer", t->id}});
  return by<accepted, Next>(std::move(t));
}

std::optional<RequestStage::Next> RequestStage::join_running(const Request& request,
                                                             const Incoming& in) {
  const TransferPtr running = joins_.find(request);
  if (!running || running->failed.load()) return std::nullopt;
  switch (running->schedule.join(request.chunks, request.digest)) {
    case ChunkSchedule::Join::refused:
      return std::nullopt;
    case ChunkSchedule::Join::out_of_range:
      return by<refused, Next>(TrackEvent{
          RequestRejected{in.topic, request.app_name, request.origin,
                          Error{errc::invalid_request,
                                chunks_out_of_range(request, running->schedule.total_chunks())}}});
    case ChunkSchedule::Join::joined:
      break;
  }
  metrics_.requests_joined.fetch_add(1, std::memory_order_relaxed);
  log::debug("request joined a transfer under way", {{"app_name", request.app_name},
                                                     log::if_set("tenant", request.origin.tenant),
                                                     {"channel", request.origin.channel},
                                                     {"transfer", running->id}});
  return Next{std::in_place_index<2>};
}

}  // namespace pp
