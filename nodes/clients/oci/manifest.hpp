#pragma once
// Manifest parsing and wasm layer selection (OCI image manifest, Docker schema 2 manifest).

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nodes/clients/oci/digest.hpp"
#include "nodes/common/error.hpp"

namespace pp::oci {

namespace media {
inline constexpr const char* oci_manifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr const char* oci_index = "application/vnd.oci.image.index.v1+json";
inline constexpr const char* docker_manifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr const char* docker_manifest_list =
    "application/vnd.docker.distribution.manifest.list.v2+json";
// docker-registry answers 404 to */* for OCI types and downgrades schema 2 to schema 1 unless the
// exact types are named, so every manifest request sends all four.
inline constexpr const char* manifest_accept =
    "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json";
}  // namespace media

// The layer media types that mark a layer as the wasm module itself, in no particular order.
inline constexpr const char* wasm_layer_media_types[] = {
    "application/wasm",
    "application/vnd.wasm.content.layer.v1+wasm",
    "application/vnd.module.wasm.content.layer.v1+wasm",
};

inline constexpr std::uint64_t max_json_integer = (std::uint64_t{1} << 53);

struct Descriptor {
  std::string media_type;
  std::string digest;  // is_digest(): sha256 or sha512 (validated)
  std::uint64_t size = 0;
};

struct Manifest {
  std::string media_type;  // one of media::oci_manifest, media::docker_manifest
  Descriptor config;
  std::vector<Descriptor> layers;
};

// A descriptor object ({"mediaType", "digest", "size"}); errc::invalid_manifest naming `path`
// (as "layers[0]") and what is wrong with it.
Expected<Descriptor> parse_descriptor(const nlohmann::json& value, const std::string& path);

// True when `media_type` names an index / manifest list.
bool is_index_media_type(std::string_view media_type);

struct Platform {
  std::string os;
  std::string architecture;
  std::string variant;
  std::string str() const {
    return os + "/" + architecture + (variant.empty() ? "" : "/" + variant);
  }
};

struct IndexEntry {
  Descriptor descriptor;
  std::optional<Platform> platform;
};

// An OCI image index or a Docker manifest list.
struct Index {
  std::string media_type;
  std::vector<IndexEntry> manifests;
};

// True when the document (with its Content-Type) is an index rather than a manifest.
bool is_index_document(std::string_view body, std::string_view content_type);

// Errors as parse_manifest's (invalid_manifest for bad JSON or descriptors, at most 1000 entries).
Expected<Index> parse_index(std::string_view body, std::string_view content_type);

inline constexpr const char* default_platform = "wasi/wasm";

// "os/architecture[/variant]": errc::invalid_reference naming what is wrong otherwise.
Expected<Platform> parse_platform(std::string_view text);

// The entry to follow: the only one, whatever its platform; else the first whose platform matches
// `wanted` (os "wasi" also accepts "wasip1" and "wasip2"; a variant only when `wanted` names one).
// errc::no_matching_platform, listing the platforms the index has, when none matches.
Expected<Descriptor> select_platform(const Index& index, const Platform& wanted);

// `content_type` is the response's Content-Type (parameters allowed); the body's "mediaType" is
// used when the header is missing or generic. Errors: errc::invalid_manifest (not JSON, wrong field
// types, bad digest or size), errc::unsupported_manifest (schema 1, an index, anything else
// unknown).
Expected<Manifest> parse_manifest(std::string_view body, std::string_view content_type);

struct LayerChoice {
  // The first layer whose media type says it is the module: streamed as it is.
  std::optional<Descriptor> labelled;
  // Otherwise every layer, largest first (the module is the bulk of an artifact; the first of
  // equals first), for their bytes to decide: a label such as "…layer.v1.tar" says nothing sure.
  std::vector<Descriptor> by_content;
};

// errc::no_wasm_layer when the manifest has no layers.
Expected<LayerChoice> select_wasm_layer(const Manifest& manifest);

}  // namespace pp::oci
