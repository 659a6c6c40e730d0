#include "nodes/request.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "nodes/mqtt/topics.hpp"
#include "nodes/oci/digest.hpp"

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
