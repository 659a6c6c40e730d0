#include "nodes/trust/simple_signing.hpp"

#include <nlohmann/json.hpp>

#include "nodes/clients/oci/digest.hpp"

namespace pp::trust {
namespace {

using nlohmann::json;

constexpr std::string_view cosign_type = "cosign container image signature";

Error invalid(const std::string& what) {
  return Error{errc::signature_invalid, "signature payload: " + what};
}

// The member `key` of `object` when it exists with the JSON type `type`; nullptr otherwise.
const json* member(const json& object, const char* key, json::value_t type) {
  const auto it = object.find(key);
  if (it == object.end() || it->type() != type) return nullptr;
  return &*it;
}

}  // namespace

Expected<SimpleSigningPayload> parse_simple_signing(std::string_view payload) {
  if (payload.size() > max_simple_signing_size) {
    return invalid(std::to_string(payload.size()) + " bytes, over the " +
                   std::to_string(max_simple_signing_size) + " a payload may have");
  }
  const json doc = json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return invalid("not JSON");
  if (!doc.is_object()) return invalid("not a JSON object");

  const json* critical = member(doc, "critical", json::value_t::object);
  if (!critical) return invalid("no \"critical\" object");
  const json* type = member(*critical, "type", json::value_t::string);
  if (!type) return invalid("no critical.type string");
  if (const std::string& t = type->get_ref<const std::string&>(); t != cosign_type) {
    // The signer's text, cut short: it goes into a log line.
    return invalid("critical.type is \"" + t.substr(0, 64) + (t.size() > 64 ? "…" : "") +
                   "\", not \"" + std::string(cosign_type) + "\"");
  }
  const json* identity = member(*critical, "identity", json::value_t::object);
  if (!identity) return invalid("no critical.identity object");
  const json* reference = member(*identity, "docker-reference", json::value_t::string);
  if (!reference) return invalid("no critical.identity.docker-reference string");
  const json* image = member(*critical, "image", json::value_t::object);
  if (!image) return invalid("no critical.image object");
  const json* digest = member(*image, "docker-manifest-digest", json::value_t::string);
  if (!digest) return invalid("no critical.image.docker-manifest-digest string");
  if (!oci::is_digest(digest->get_ref<const std::string&>())) {
    return invalid("critical.image.docker-manifest-digest is not a digest");
  }
  // cosign writes null when the signer gave no annotations; anything but an object or null is
  // not its format.
  if (const auto it = doc.find("optional"); it != doc.end() && !it->is_null() && !it->is_object()) {
    return invalid("\"optional\" is neither an object nor null");
  }
  return SimpleSigningPayload{reference->get<std::string>(), digest->get<std::string>()};
}

}  // namespace pp::trust
