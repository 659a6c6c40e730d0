// libFuzzer target: a registry's manifest response through is_index_document, parse_index,
// parse_manifest, then select_platform / select_wasm_layer on what parsed. The first input byte
// picks the response's Content-Type ('0'..'9' name the entries of kContentTypes below, any other
// byte wraps around); the rest is the body.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "nodes/clients/oci/digest.hpp"
#include "nodes/clients/oci/manifest.hpp"

namespace {

namespace media = pp::oci::media;

constexpr std::array<std::string_view, 10> kContentTypes = {
    media::oci_manifest,                                          // '0'
    media::oci_index,                                             // '1'
    media::docker_manifest,                                       // '2'
    media::docker_manifest_list,                                  // '3'
    "application/vnd.docker.distribution.manifest.v1+json",       // '4' schema 1
    "application/vnd.docker.distribution.manifest.v1+prettyjws",  // '5' signed schema 1
    "",                  // '6' no Content-Type: body decides
    "application/json",  // '7' generic: body decides
    "Application/VND.OCI.Image.Manifest.v1+JSON ; charset=utf-8",  // '8' case and parameters
    "text/html",                                                   // '9' unsupported
};

void check(bool condition) {
  if (!condition) __builtin_trap();
}

void check_descriptor(const pp::oci::Descriptor& d) {
  check(pp::oci::is_digest(d.digest));
  check(d.size <= pp::oci::max_json_integer);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view content_type =
      kContentTypes[static_cast<unsigned char>(data[0] - '0') % kContentTypes.size()];
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);

  const bool is_index = pp::oci::is_index_document(body, content_type);

  const auto index = pp::oci::parse_index(body, content_type);
  if (index) {
    check(is_index);
    check(pp::oci::is_index_media_type(index->media_type));
    for (const auto& entry : index->manifests)
      check_descriptor(entry.descriptor);
    for (const std::string_view wanted : {"wasi/wasm", "linux/amd64/v8"}) {
      const auto platform = pp::oci::parse_platform(wanted);
      check(platform.ok());
      const auto chosen = pp::oci::select_platform(*index, *platform);
      if (chosen) {
        check(std::any_of(
            index->manifests.begin(), index->manifests.end(),
            [&](const pp::oci::IndexEntry& e) { return e.descriptor.digest == chosen->digest; }));
      } else {
        check(chosen.error().code == pp::errc::no_matching_platform);
      }
    }
  }

  const auto manifest = pp::oci::parse_manifest(body, content_type);
  if (!manifest) {
    const auto& code = manifest.error().code;
    check(code == pp::errc::invalid_manifest || code == pp::errc::unsupported_manifest);
    return 0;
  }
  check(!is_index && !index);
  check(manifest->media_type == media::oci_manifest ||
        manifest->media_type == media::docker_manifest);
  check_descriptor(manifest->config);
  for (const auto& layer : manifest->layers)
    check_descriptor(layer);

  const auto choice = pp::oci::select_wasm_layer(*manifest);
  if (!choice) {
    check(manifest->layers.empty() && choice.error().code == pp::errc::no_wasm_layer);
    return 0;
  }
  if (choice->labelled) {
    check(choice->by_content.empty());
  } else {
    check(choice->by_content.size() == manifest->layers.size());
    check(std::is_sorted(choice->by_content.begin(), choice->by_content.end(),
                         [](const auto& a, const auto& b) { return a.size > b.size; }));
  }
  return 0;
}
