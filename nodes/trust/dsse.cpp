#include "nodes/trust/dsse.hpp"

#include <nlohmann/json.hpp>
#include <optional>

#include "nodes/clients/oci/base64.hpp"
#include "nodes/clients/oci/digest.hpp"

namespace pp::trust {
namespace {

using nlohmann::json;

Error invalid(const std::string& what) {
  return Error{errc::signature_invalid, what};
}

// Standard first, then URL-safe: each alphabet decodes strictly, so one text never has two
// decodings ("+" and "-" cannot both appear in a text either alphabet accepts).
std::optional<std::string> decode_either(std::string_view text) {
  if (auto bytes = oci::base64_decode(text, oci::Base64Alphabet::standard)) return bytes;
  return oci::base64_decode(text, oci::Base64Alphabet::url_safe);
}

const json* member(const json& object, const char* key, json::value_t type) {
  const auto it = object.find(key);
  if (it == object.end() || it->type() != type) return nullptr;
  return &*it;
}

}  // namespace

std::string dsse_pae(std::string_view payload_type, std::string_view payload) {
  std::string out = "DSSEv1 ";
  out += std::to_string(payload_type.size());
  out += ' ';
  out += payload_type;
  out += ' ';
  out += std::to_string(payload.size());
  out += ' ';
  out += payload;
  return out;
}

Expected<DsseEnvelope> parse_dsse_envelope(const json& envelope) {
  if (!envelope.is_object()) return invalid("DSSE envelope: not a JSON object");
  const json* payload = member(envelope, "payload", json::value_t::string);
  if (!payload) return invalid("DSSE envelope: no payload string");
  const json* type = member(envelope, "payloadType", json::value_t::string);
  if (!type) return invalid("DSSE envelope: no payloadType string");
  if (type->get_ref<const std::string&>().empty()) {
    return invalid("DSSE envelope: the payloadType is empty");
  }
  const json* signatures = member(envelope, "signatures", json::value_t::array);
  if (!signatures) return invalid("DSSE envelope: no signatures array");
  // envelope.proto: signatures is required and has at least one entry.
  if (signatures->empty()) return invalid("DSSE envelope: no signature");
  if (signatures->size() > max_dsse_signatures) {
    return invalid("DSSE envelope: " + std::to_string(signatures->size()) +
                   " signatures, over the " + std::to_string(max_dsse_signatures) + " accepted");
  }

  DsseEnvelope out;
  auto decoded = decode_either(payload->get_ref<const std::string&>());
  if (!decoded) return invalid("DSSE envelope: the payload is not base64");
  out.payload = std::move(*decoded);
  out.payload_type = type->get<std::string>();
  for (std::size_t i = 0; i < signatures->size(); ++i) {
    const json& entry = (*signatures)[i];
    const std::string where = "DSSE envelope: signature " + std::to_string(i);
    if (!entry.is_object()) return invalid(where + " is not an object");
    const json* sig = member(entry, "sig", json::value_t::string);
    if (!sig) return invalid(where + " has no sig string");
    auto bytes = decode_either(sig->get_ref<const std::string&>());
    if (!bytes) return invalid(where + " is not base64");
    if (bytes->empty()) return invalid(where + " is empty");
    DsseSignature s{std::move(*bytes), {}};
    if (const auto it = entry.find("keyid"); it != entry.end()) {
      if (!it->is_string()) return invalid(where + " has a keyid that is not a string");
      s.keyid = it->get<std::string>();
    }
    out.signatures.push_back(std::move(s));
  }
  return out;
}

Expected<std::vector<std::string>> in_toto_subject_digests(std::string_view statement) {
  if (statement.size() > max_in_toto_statement_size) {
    return invalid("in-toto statement: " + std::to_string(statement.size()) + " bytes, over the " +
                   std::to_string(max_in_toto_statement_size) + " accepted");
  }
  const json doc = json::parse(statement, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object())
    return invalid("in-toto statement: not a JSON object");
  const json* type = member(doc, "_type", json::value_t::string);
  if (!type) return invalid("in-toto statement: no _type string");
  const std::string& t = type->get_ref<const std::string&>();
  if (t != "https://in-toto.io/Statement/v1" && t != "https://in-toto.io/Statement/v0.1") {
    return invalid("in-toto statement: _type is not https://in-toto.io/Statement/v1 or v0.1");
  }
  const json* subjects = member(doc, "subject", json::value_t::array);
  if (!subjects) return invalid("in-toto statement: no subject array");

  std::vector<std::string> digests;
  for (std::size_t i = 0; i < subjects->size(); ++i) {
    const json& subject = (*subjects)[i];
    const std::string where = "in-toto statement: subject " + std::to_string(i);
    if (!subject.is_object()) return invalid(where + " is not an object");
    const json* digest = member(subject, "digest", json::value_t::object);
    if (!digest) return invalid(where + " has no digest object");
    const auto it = digest->find("sha256");
    if (it == digest->end()) continue;
    if (!it->is_string()) return invalid(where + " has a sha256 that is not a string");
    std::string named = "sha256:" + it->get<std::string>();
    if (!oci::is_digest(named))
      return invalid(where + " has a sha256 that is not 64 lowercase hex");
    digests.push_back(std::move(named));
  }
  if (digests.empty()) return invalid("in-toto statement: no subject has a sha256 digest");
  return digests;
}

}  // namespace pp::trust
