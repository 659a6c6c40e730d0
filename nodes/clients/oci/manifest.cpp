#include "nodes/clients/oci/manifest.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "nodes/clients/oci/ascii.hpp"

namespace pp::oci {
namespace {

using nlohmann::json;

// Registries cap manifests at 4 MiB (distribution's default); anything bigger is not a manifest we
// want to hold in memory, let alone parse.
constexpr std::size_t max_manifest_bytes = std::size_t{4} << 20;
// A wasm artifact has one layer; this only bounds the work a hostile manifest can cause.
constexpr std::size_t max_layers = 1000;

constexpr std::string_view docker_schema1 = "application/vnd.docker.distribution.manifest.v1+json";
constexpr std::string_view docker_schema1_signed =
    "application/vnd.docker.distribution.manifest.v1+prettyjws";

Error invalid(std::string message) {
  return Error{errc::invalid_manifest, std::move(message)};
}
Error unsupported(std::string message) {
  return Error{errc::unsupported_manifest, std::move(message)};
}

// Media types compare case-insensitively and without parameters ("; charset=utf-8").
std::string normalize_media_type(std::string_view value) {
  return ascii::lower(ascii::trim(value.substr(0, value.find(';'))));
}

// Registries that do not know the type (or static file servers) answer with these; they say nothing
// about the manifest, so the body's own mediaType decides.
bool is_generic_content_type(std::string_view type) {
  return type.empty() || type == "application/json" || type == "text/plain" ||
         type == "application/octet-stream";
}

// Values from the body go into log lines and MQTT status messages: keep them short and printable.
std::string shown(std::string_view value) {
  constexpr std::size_t max_shown = 100;
  std::string out = "\"";
  for (std::size_t i = 0; i < value.size() && i < max_shown; ++i) {
    const auto u = static_cast<unsigned char>(value[i]);
    out += (u < 0x20 || u >= 0x7f || value[i] == '"') ? '?' : value[i];
  }
  out += value.size() > max_shown ? "...\"" : "\"";
  return out;
}

// Reads an optional string field; an error when present with another JSON type.
Expected<std::string> optional_string(const json& object, const char* key,
                                      const std::string& path) {
  const auto it = object.find(key);
  if (it == object.end()) return std::string{};
  if (!it->is_string()) return invalid(path + " is not a string");
  return it->get<std::string>();
}

Expected<std::uint64_t> parse_size(const json& descriptor, const std::string& path) {
  const auto it = descriptor.find("size");
  if (it == descriptor.end()) return invalid(path + ".size is missing");
  // The parser stores non-negative integers as unsigned and negative ones (including "-0") as
  // signed.
  if (it->is_number_unsigned()) {
    const auto size = it->get<std::uint64_t>();
    if (size > max_json_integer) return invalid(path + ".size is larger than 2^53");
    return size;
  }
  if (it->is_number_integer()) {
    const auto size = it->get<std::int64_t>();
    if (size < 0) return invalid(path + ".size is negative");
    return static_cast<std::uint64_t>(size);
  }
  return invalid(path + ".size is not an unsigned integer");
}

Expected<std::string> parse_digest(const json& descriptor, const std::string& path) {
  const auto it = descriptor.find("digest");
  if (it == descriptor.end()) return invalid(path + ".digest is missing");
  if (!it->is_string()) return invalid(path + ".digest is not a string");
  auto digest = it->get<std::string>();
  if (!is_digest(digest)) {
    return invalid(path + ".digest " + shown(digest) +
                   " is not \"sha256:\" + 64 or \"sha512:\" + 128 lowercase hex digits");
  }
  return digest;
}

Expected<std::vector<Descriptor>> parse_layers(const json& root) {
  const auto it = root.find("layers");
  if (it == root.end()) return invalid("layers is missing");
  if (!it->is_array()) return invalid("layers is not an array");
  if (it->size() > max_layers) {
    return invalid("manifest has " + std::to_string(it->size()) + " layers, more than " +
                   std::to_string(max_layers));
  }
  std::vector<Descriptor> layers;
  layers.reserve(it->size());
  for (std::size_t i = 0; i < it->size(); ++i) {
    auto layer = parse_descriptor((*it)[i], "layers[" + std::to_string(i) + "]");
    if (!layer) return layer.error();
    layers.push_back(std::move(layer).value());
  }
  return layers;
}

// schemaVersion is required by both schema 2 formats, but older oras pushes get away without
// mediaType, so only its type and value are checked when it is present.
Expected<std::optional<std::uint64_t>> parse_schema_version(const json& root) {
  const auto it = root.find("schemaVersion");
  if (it == root.end()) return std::optional<std::uint64_t>{};
  if (!it->is_number_unsigned()) return invalid("schemaVersion is not an unsigned integer");
  return std::optional<std::uint64_t>{it->get<std::uint64_t>()};
}

// The media type the manifest claims: a specific Content-Type wins, then the body's mediaType, then
// the shape of the body.
Expected<std::string> resolve_media_type(const json& root, std::string_view content_type,
                                         std::optional<std::uint64_t> schema_version) {
  std::string type = normalize_media_type(content_type);
  auto body_type = optional_string(root, "mediaType", "mediaType");
  if (!body_type) return body_type.error();
  if (is_generic_content_type(type)) type = normalize_media_type(body_type.value());
  if (!type.empty()) return type;
  if (schema_version == 2u && root.contains("layers")) return std::string(media::oci_manifest);
  if (schema_version == 2u && root.contains("manifests")) return std::string(media::oci_index);
  if (schema_version == 1u) return std::string(docker_schema1);
  return unsupported("manifest has no media type (no Content-Type, no mediaType field)");
}

std::optional<Error> check_media_type(const std::string& type,
                                      std::optional<std::uint64_t> schema_version) {
  if (is_index_media_type(type)) {
    return unsupported("manifest is an image index (" + shown(type) +
                       "); an image index needs platform selection before its layers can be read");
  }
  if (type == docker_schema1 || type == docker_schema1_signed || schema_version == 1u) {
    return unsupported("Docker schema 1 manifests are not supported");
  }
  if (type != media::oci_manifest && type != media::docker_manifest) {
    return unsupported("unsupported manifest media type " + shown(type));
  }
  if (schema_version && *schema_version != 2) {
    return unsupported("unsupported manifest schemaVersion " + std::to_string(*schema_version));
  }
  return std::nullopt;
}

// What manifests and indexes share: a JSON object of bounded size, its schemaVersion and the media
// type it claims. `what` ("manifest", "index") names it in errors.
struct Document {
  json root;
  std::optional<std::uint64_t> schema_version;
  std::string media_type;
};

Expected<Document> parse_document(std::string_view body, std::string_view content_type,
                                  const std::string& what) {
  if (body.size() > max_manifest_bytes) {
    return invalid(what + " is " + std::to_string(body.size()) + " bytes, over the 4 MiB limit");
  }
  Document doc;
  doc.root = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.root.is_discarded()) return invalid(what + " is not valid JSON");
  if (!doc.root.is_object()) return invalid(what + " is not a JSON object");
  auto schema_version = parse_schema_version(doc.root);
  if (!schema_version) return schema_version.error();
  doc.schema_version = schema_version.value();
  auto type = resolve_media_type(doc.root, content_type, doc.schema_version);
  if (!type) return type.error();
  doc.media_type = std::move(type).value();
  return doc;
}

}  // namespace

Expected<Descriptor> parse_descriptor(const json& value, const std::string& path) {
  if (!value.is_object()) return invalid(path + " is not an object");
  auto media_type = optional_string(value, "mediaType", path + ".mediaType");
  if (!media_type) return media_type.error();
  auto digest = parse_digest(value, path);
  if (!digest) return digest.error();
  auto size = parse_size(value, path);
  if (!size) return size.error();
  return Descriptor{std::move(media_type).value(), std::move(digest).value(), size.value()};
}

bool is_index_media_type(std::string_view media_type) {
  const std::string type = normalize_media_type(media_type);
  return type == media::oci_index || type == media::docker_manifest_list;
}

Expected<Manifest> parse_manifest(std::string_view body, std::string_view content_type) {
  auto doc = parse_document(body, content_type, "manifest");
  if (!doc) return doc.error();
  if (auto error = check_media_type(doc->media_type, doc->schema_version)) return *error;
  const json& root = doc->root;

  Manifest manifest;
  manifest.media_type = std::move(doc->media_type);
  const auto config = root.find("config");
  if (config == root.end()) return invalid("config is missing");
  auto config_descriptor = parse_descriptor(*config, "config");
  if (!config_descriptor) return config_descriptor.error();
  manifest.config = std::move(config_descriptor).value();
  auto layers = parse_layers(root);
  if (!layers) return layers.error();
  manifest.layers = std::move(layers).value();
  return manifest;
}

Expected<LayerChoice> select_wasm_layer(const Manifest& manifest) {
  if (manifest.layers.empty()) return Error{errc::no_wasm_layer, "manifest has no layers"};
  for (const auto& layer : manifest.layers) {
    const std::string type = normalize_media_type(layer.media_type);
    for (const char* wasm_type : wasm_layer_media_types) {
      if (type == wasm_type) return LayerChoice{layer, {}};
    }
  }
  LayerChoice choice{std::nullopt, manifest.layers};
  std::stable_sort(choice.by_content.begin(), choice.by_content.end(),
                   [](const Descriptor& a, const Descriptor& b) { return a.size > b.size; });
  return choice;
}

bool is_index_document(std::string_view body, std::string_view content_type) {
  const auto doc = parse_document(body, content_type, "manifest");
  return doc && is_index_media_type(doc->media_type);
}

namespace {

Expected<std::optional<Platform>> parse_entry_platform(const json& entry, const std::string& path) {
  const auto it = entry.find("platform");
  if (it == entry.end() || it->is_null()) return std::optional<Platform>{};
  if (!it->is_object()) return invalid(path + ".platform is not an object");
  Platform p;
  for (auto [field, key] : {std::pair{&p.os, "os"}, std::pair{&p.architecture, "architecture"},
                            std::pair{&p.variant, "variant"}}) {
    auto value = optional_string(*it, key, path + ".platform." + key);
    if (!value) return value.error();
    *field = std::move(value).value();
  }
  return std::optional<Platform>{std::move(p)};
}

}  // namespace

Expected<Index> parse_index(std::string_view body, std::string_view content_type) {
  auto doc = parse_document(body, content_type, "index");
  if (!doc) return doc.error();
  if (!is_index_media_type(doc->media_type)) {
    return unsupported("not an index: " + shown(doc->media_type));
  }
  const json& root = doc->root;
  const auto manifests = root.find("manifests");
  if (manifests == root.end() || !manifests->is_array()) {
    return invalid("manifests is missing or not an array");
  }
  if (manifests->size() > max_layers) {
    return invalid("index lists " + std::to_string(manifests->size()) + " manifests, over " +
                   std::to_string(max_layers));
  }
  Index index;
  index.media_type = std::move(doc->media_type);
  for (std::size_t i = 0; i < manifests->size(); ++i) {
    const std::string path = "manifests[" + std::to_string(i) + "]";
    auto descriptor = parse_descriptor((*manifests)[i], path);
    if (!descriptor) return descriptor.error();
    auto platform = parse_entry_platform((*manifests)[i], path);
    if (!platform) return platform.error();
    index.manifests.push_back({std::move(descriptor).value(), std::move(platform).value()});
  }
  return index;
}

Expected<Platform> parse_platform(std::string_view text) {
  Platform p;
  std::string_view rest = text;
  std::string* fields[] = {&p.os, &p.architecture, &p.variant};
  for (std::size_t i = 0; i < 3 && !rest.empty(); ++i) {
    const auto slash = rest.find('/');
    *fields[i] = std::string(rest.substr(0, slash));
    rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
    if (fields[i]->empty() && (i < 2 || slash != std::string_view::npos)) break;
  }
  const bool ok = !p.os.empty() && !p.architecture.empty() && rest.empty() &&
                  std::string(text).find_first_of(" \t,") == std::string::npos &&
                  !text.ends_with("/");
  if (!ok) {
    return Error{errc::invalid_reference,
                 "platform \"" + std::string(text) + "\" is not os/architecture[/variant]"};
  }
  return p;
}

Expected<Descriptor> select_platform(const Index& index, const Platform& wanted) {
  if (index.manifests.empty()) {
    return Error{errc::no_matching_platform, "the image index lists no manifests"};
  }
  if (index.manifests.size() == 1) return index.manifests.front().descriptor;
  const auto os_matches = [&wanted](const std::string& os) {
    return os == wanted.os || (wanted.os == "wasi" && (os == "wasip1" || os == "wasip2"));
  };
  std::string seen;
  for (const IndexEntry& entry : index.manifests) {
    if (!entry.platform) {
      seen += seen.empty() ? "(none)" : ", (none)";
      continue;
    }
    const Platform& p = *entry.platform;
    if (os_matches(p.os) && p.architecture == wanted.architecture &&
        (wanted.variant.empty() || p.variant == wanted.variant)) {
      return entry.descriptor;
    }
    seen += (seen.empty() ? "" : ", ") + p.str();
  }
  return Error{errc::no_matching_platform, "the image index has no manifest for platform " +
                                               wanted.str() + " (PROXY_PLATFORM); it has " + seen};
}

}  // namespace pp::oci
