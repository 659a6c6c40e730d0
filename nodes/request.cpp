#include "nodes/request.hpp"

#include <nlohmann/json.hpp>

#include "nodes/mqtt/topics.hpp"

namespace pp {

namespace {
Error invalid(std::string message) {
  return Error{errc::invalid_request, std::move(message)};
}
}  // namespace

ParsedRequest parse_request(const Incoming& incoming) {
  ParsedRequest out;
  out.request.received = incoming.received;
  auto origin = mqtt::Topics::origin_of_request(incoming.topic);
  if (!origin) {
    out.error = invalid("topic \"" + incoming.topic + "\" is not a request topic");
    return out;
  }
  out.request.origin = std::move(*origin);
  if (incoming.payload.size() > kMaxRequestBytes) {
    out.error = invalid("request of " + std::to_string(incoming.payload.size()) +
                        " bytes exceeds the limit of " + std::to_string(kMaxRequestBytes));
    return out;
  }
  const auto doc = nlohmann::json::parse(incoming.payload, nullptr, false);
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
  return out;
}

}  // namespace pp
