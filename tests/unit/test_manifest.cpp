#define BOOST_TEST_MODULE manifest
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "nodes/clients/oci/manifest.hpp"
#include "nodes/common/error.hpp"

namespace bdata = boost::unit_test::data;
namespace media = pp::oci::media;
using pp::oci::Descriptor;
using pp::oci::Manifest;

namespace {

constexpr const char* oci_ct = "application/vnd.oci.image.manifest.v1+json";
constexpr const char* docker_ct = "application/vnd.docker.distribution.manifest.v2+json";

// A distinct, well-formed digest per character: "sha256:aaaa...".
std::string digest(char c) {
  return "sha256:" + std::string(64, c);
}

std::string descriptor(const std::string& media_type, const std::string& dgst,
                       const std::string& size_json) {
  return R"({"mediaType":")" + media_type + R"(","digest":")" + dgst + R"(","size":)" + size_json +
         "}";
}

std::string wasm_config() {
  return descriptor("application/vnd.wasm.config.v0+json", digest('c'), "2");
}

std::string wasm_layer(const std::string& size_json = "1024") {
  return descriptor("application/wasm", digest('1'), size_json);
}

// An OCI manifest with the given layers (a JSON array body without brackets).
std::string oci(const std::string& layers, const std::string& config = wasm_config()) {
  return R"({"schemaVersion":2,"mediaType":")" + std::string(oci_ct) + R"(","config":)" + config +
         R"(,"layers":[)" + layers + "]}";
}

std::string many_layers(std::size_t count) {
  std::string layers;
  for (std::size_t i = 0; i < count; ++i) {
    if (i != 0) layers += ',';
    layers += wasm_layer(std::to_string(i));
  }
  return oci(layers);
}

std::string padded_to(std::string body, std::size_t size) {
  body.append(size - body.size(), ' ');
  return body;
}

// oras 1.x: `oras push --config config.json:application/vnd.wasm.config.v0+json
// hello.wasm:application/wasm`
const char* oras_manifest = R"({
  "schemaVersion": 2,
  "mediaType": "application/vnd.oci.image.manifest.v1+json",
  "config": {
    "mediaType": "application/vnd.wasm.config.v0+json",
    "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
    "size": 2
  },
  "layers": [
    {
      "mediaType": "application/wasm",
      "digest": "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
      "size": 1624962,
      "annotations": {"org.opencontainers.image.title": "hello.wasm"}
    }
  ],
  "annotations": {"org.opencontainers.image.created": "2024-05-01T10:00:00Z"}
})";

// docker buildx --output type=registry,oci-mediatypes=false: Docker schema 2, gzip'd tar layers.
const char* buildx_docker_manifest = R"({
  "schemaVersion": 2,
  "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
  "config": {
    "mediaType": "application/vnd.docker.container.image.v1+json",
    "size": 1472,
    "digest": "sha256:c1aa6e1e0c4c0e8b0a9a3e1e2b7f0b7a4b4e8d1f6d3c1b2a39485766574839aa"
  },
  "layers": [
    {
      "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
      "size": 3401967,
      "digest": "sha256:1111111111111111111111111111111111111111111111111111111111111111"
    },
    {
      "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
      "size": 29123456,
      "digest": "sha256:2222222222222222222222222222222222222222222222222222222222222222"
    },
    {
      "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
      "size": 32,
      "digest": "sha256:3333333333333333333333333333333333333333333333333333333333333333"
    }
  ]
})";

// docker buildx default (OCI media types), one platform manifest of the index.
const char* buildx_oci_manifest = R"({
  "schemaVersion": 2,
  "mediaType": "application/vnd.oci.image.manifest.v1+json",
  "config": {
    "mediaType": "application/vnd.oci.image.config.v1+json",
    "digest": "sha256:4444444444444444444444444444444444444444444444444444444444444444",
    "size": 812
  },
  "layers": [
    {
      "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
      "digest": "sha256:5555555555555555555555555555555555555555555555555555555555555555",
      "size": 700
    },
    {
      "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
      "digest": "sha256:6666666666666666666666666666666666666666666666666666666666666666",
      "size": 700
    }
  ]
})";

// wasm-to-oci (old oras library): no mediaType in the body.
const char* wasm_to_oci_manifest = R"({
  "schemaVersion": 2,
  "config": {
    "mediaType": "application/vnd.wasm.config.v1+json",
    "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
    "size": 2
  },
  "layers": [
    {
      "mediaType": "application/vnd.wasm.content.layer.v1+wasm",
      "digest": "sha256:7777777777777777777777777777777777777777777777777777777777777777",
      "size": 1624962
    }
  ]
})";

const char* oci_index = R"({
  "schemaVersion": 2,
  "mediaType": "application/vnd.oci.image.index.v1+json",
  "manifests": [
    {
      "mediaType": "application/vnd.oci.image.manifest.v1+json",
      "digest": "sha256:8888888888888888888888888888888888888888888888888888888888888888",
      "size": 1024,
      "platform": {"architecture": "amd64", "os": "linux"}
    }
  ]
})";

const char* schema1_manifest = R"({
  "schemaVersion": 1,
  "name": "library/hello",
  "tag": "latest",
  "architecture": "amd64",
  "fsLayers": [{"blobSum": "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"}],
  "history": [{"v1Compatibility": "{}"}]
})";

struct ManifestCase {
  std::string name;
  std::string body;
  std::string content_type;
  // Success: the resolved type, layer count, config digest and the digest select_wasm_layer picks
  // (empty: errc::no_wasm_layer).
  std::string media_type = {};
  std::size_t layers = 0;
  std::string config_digest = {};
  std::string selected = {};
  // Failure: the error code and a fragment of the message.
  std::string code = {};
  std::string error = {};
};

std::ostream& operator<<(std::ostream& os, const ManifestCase& c) {
  return os << c.name;
}

ManifestCase parses(std::string name, std::string body, std::string content_type,
                    std::string media_type, std::size_t layers, std::string config_digest,
                    std::string selected) {
  return ManifestCase{std::move(name),
                      std::move(body),
                      std::move(content_type),
                      std::move(media_type),
                      layers,
                      std::move(config_digest),
                      std::move(selected),
                      {},
                      {}};
}

ManifestCase fails(std::string name, std::string body, std::string content_type, const char* code,
                   std::string error) {
  return ManifestCase{
      std::move(name), std::move(body), std::move(content_type), {}, 0, {}, {}, code,
      std::move(error)};
}

ManifestCase invalid(std::string name, std::string body, std::string error) {
  return fails(std::move(name), std::move(body), oci_ct, pp::errc::invalid_manifest,
               std::move(error));
}

std::vector<ManifestCase> manifest_cases() {
  const std::string oras_config =
      "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
  const std::uint64_t two_53 = pp::oci::max_json_integer;
  return {
      // Real-world shapes.
      parses("oras wasm artifact", oras_manifest, oci_ct, media::oci_manifest, 1, oras_config,
             "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
      parses("buildx docker schema 2 picks the largest layer", buildx_docker_manifest, docker_ct,
             media::docker_manifest, 3,
             "sha256:c1aa6e1e0c4c0e8b0a9a3e1e2b7f0b7a4b4e8d1f6d3c1b2a39485766574839aa",
             "sha256:2222222222222222222222222222222222222222222222222222222222222222"),
      parses("buildx oci equal sizes pick the first", buildx_oci_manifest, oci_ct,
             media::oci_manifest, 2, digest('4'), digest('5')),
      parses("wasm-to-oci served with oci content type", wasm_to_oci_manifest, oci_ct,
             media::oci_manifest, 1, oras_config, digest('7')),
      parses("wasm-to-oci without any media type is inferred", wasm_to_oci_manifest, "",
             media::oci_manifest, 1, oras_config, digest('7')),
      // Content-Type handling.
      parses("content type parameters stripped", oras_manifest,
             "application/vnd.oci.image.manifest.v1+json; charset=utf-8", media::oci_manifest, 1,
             oras_config,
             "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
      parses("content type case and whitespace", oras_manifest,
             "  Application/VND.OCI.Image.Manifest.v1+JSON ", media::oci_manifest, 1, oras_config,
             "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
      parses("application/json defers to body", buildx_docker_manifest, "application/json",
             media::docker_manifest, 3,
             "sha256:c1aa6e1e0c4c0e8b0a9a3e1e2b7f0b7a4b4e8d1f6d3c1b2a39485766574839aa",
             "sha256:2222222222222222222222222222222222222222222222222222222222222222"),
      parses("text/plain with charset defers to body", oci(wasm_layer()),
             "text/plain; charset=utf-8", media::oci_manifest, 1, digest('c'), digest('1')),
      parses("octet-stream and no mediaType infers oci", wasm_to_oci_manifest,
             "application/octet-stream", media::oci_manifest, 1, oras_config, digest('7')),
      // Layer selection.
      parses(
          "wasm layer preferred over a larger one",
          oci(descriptor("application/octet-stream", digest('2'), "99999") + "," +
              descriptor("application/vnd.module.wasm.content.layer.v1+wasm", digest('3'), "10")),
          oci_ct, media::oci_manifest, 2, digest('c'), digest('3')),
      parses("first of several wasm layers",
             oci(descriptor("text/plain", digest('2'), "5") + "," +
                 descriptor("application/vnd.wasm.content.layer.v1+wasm", digest('3'), "10") + "," +
                 descriptor("application/wasm", digest('4'), "10")),
             oci_ct, media::oci_manifest, 3, digest('c'), digest('3')),
      parses("wasm layer type with parameters and case",
             oci(descriptor("text/plain", digest('2'), "5000") + "," +
                 descriptor("Application/Wasm; version=1", digest('3'), "10")),
             oci_ct, media::oci_manifest, 2, digest('c'), digest('3')),
      parses("layer without mediaType is a candidate",
             oci(R"({"digest":")" + digest('2') + R"(","size":7})"), oci_ct, media::oci_manifest, 1,
             digest('c'), digest('2')),
      parses("empty layers parse but have no wasm layer", oci(""), oci_ct, media::oci_manifest, 0,
             digest('c'), ""),
      // Size boundaries.
      parses("size zero", oci(wasm_layer("0")), oci_ct, media::oci_manifest, 1, digest('c'),
             digest('1')),
      parses("negative zero is zero", oci(wasm_layer("-0")), oci_ct, media::oci_manifest, 1,
             digest('c'), digest('1')),
      parses("size 2^53", oci(wasm_layer(std::to_string(two_53))), oci_ct, media::oci_manifest, 1,
             digest('c'), digest('1')),
      parses("1000 layers", many_layers(1000), oci_ct, media::oci_manifest, 1000, digest('c'),
             digest('1')),
      parses("exactly 4 MiB", padded_to(oci(wasm_layer()), std::size_t{4} << 20), oci_ct,
             media::oci_manifest, 1, digest('c'), digest('1')),

      // Not a manifest at all.
      invalid("over 4 MiB", padded_to(oci(wasm_layer()), (std::size_t{4} << 20) + 1), "4 MiB"),
      invalid("empty body", "", "not valid JSON"),
      invalid("truncated JSON", "{\"schemaVersion\": 2,", "not valid JSON"),
      invalid("trailing garbage", oci(wasm_layer()) + " x", "not valid JSON"),
      invalid("html error page", "<html>502 Bad Gateway</html>", "not valid JSON"),
      invalid("deeply nested", std::string(100000, '[') + std::string(100000, ']'),
              "not a JSON object"),
      invalid("array body", "[]", "not a JSON object"),
      invalid("string body", "\"manifest\"", "not a JSON object"),
      // Top-level fields.
      invalid("mediaType not a string", R"({"schemaVersion":2,"mediaType":7,"layers":[]})",
              "mediaType is not a string"),
      invalid("schemaVersion a string", R"({"schemaVersion":"2","layers":[]})",
              "schemaVersion is not an unsigned integer"),
      invalid("layers missing", R"({"schemaVersion":2,"config":)" + wasm_config() + "}",
              "layers is missing"),
      invalid("layers an object",
              R"({"schemaVersion":2,"config":)" + wasm_config() + R"(,"layers":{}})",
              "layers is not an array"),
      invalid("1001 layers", many_layers(1001), "1001 layers, more than 1000"),
      // Config descriptor.
      invalid("config missing",
              R"({"schemaVersion":2,"mediaType":")" + std::string(oci_ct) + R"(","layers":[]})",
              "config is missing"),
      invalid("config not an object", oci(wasm_layer(), "[]"), "config is not an object"),
      invalid(
          "config digest malformed",
          oci(wasm_layer(), descriptor("application/vnd.wasm.config.v0+json", "sha256:12", "2")),
          "config.digest \"sha256:12\""),
      invalid("config size missing",
              oci(wasm_layer(), R"({"mediaType":"x","digest":")" + digest('c') + "\"}"),
              "config.size is missing"),
      // Layer descriptors.
      invalid("layer not an object", oci("1"), "layers[0] is not an object"),
      invalid(
          "layer mediaType not a string",
          oci(R"({"mediaType":["application/wasm"],"digest":")" + digest('1') + R"(","size":1})"),
          "layers[0].mediaType is not a string"),
      invalid("layer digest missing", oci(R"({"mediaType":"application/wasm","size":1})"),
              "layers[0].digest is missing"),
      invalid("layer digest not a string",
              oci(wasm_layer() + "," + R"({"mediaType":"application/wasm","digest":1,"size":1})"),
              "layers[1].digest is not a string"),
      invalid("layer digest sha512 of 64 hex digits",
              oci(descriptor("application/wasm", "sha512:" + std::string(64, 'a'), "1")),
              "layers[0].digest \"sha512:"),
      invalid("layer digest upper hex",
              oci(descriptor("application/wasm", "sha256:" + std::string(64, 'A'), "1")),
              "\"sha256:\" + 64 or \"sha512:\" + 128 lowercase hex digits"),
      invalid("layer digest control char escaped",
              oci(descriptor("application/wasm", "sha256:\\n", "1")),
              "layers[0].digest \"sha256:?\""),
      invalid("layer size missing",
              oci(R"({"mediaType":"application/wasm","digest":")" + digest('1') + "\"}"),
              "layers[0].size is missing"),
      invalid("third layer size negative",
              oci(wasm_layer() + "," + wasm_layer() + "," + wasm_layer("-1")),
              "layers[2].size is negative"),
      invalid("layer size fractional", oci(wasm_layer("1.5")),
              "layers[0].size is not an unsigned integer"),
      invalid("layer size exponent", oci(wasm_layer("1e3")),
              "layers[0].size is not an unsigned integer"),
      invalid("layer size string", oci(wasm_layer("\"10\"")),
              "layers[0].size is not an unsigned integer"),
      invalid("layer size null", oci(wasm_layer("null")),
              "layers[0].size is not an unsigned integer"),
      invalid("layer size 2^53+1", oci(wasm_layer(std::to_string(two_53 + 1))),
              "layers[0].size is larger than 2^53"),
      invalid("layer size 2^64", oci(wasm_layer("18446744073709551616")),
              "layers[0].size is not an unsigned integer"),

      // Indexes need platform selection first.
      fails("oci index by content type", oci_index, media::oci_index,
            pp::errc::unsupported_manifest, "image index needs platform selection"),
      fails("oci index by body mediaType", oci_index, "application/json",
            pp::errc::unsupported_manifest, "image index needs platform selection"),
      fails("docker manifest list", R"({"schemaVersion":2,"manifests":[]})",
            media::docker_manifest_list, pp::errc::unsupported_manifest,
            "image index needs platform selection"),
      fails("index without any media type", R"({"schemaVersion":2,"manifests":[]})", "",
            pp::errc::unsupported_manifest, "image index needs platform selection"),
      // Docker schema 1.
      fails("schema 1 content type", schema1_manifest,
            "application/vnd.docker.distribution.manifest.v1+json", pp::errc::unsupported_manifest,
            "Docker schema 1 manifests are not supported"),
      fails("schema 1 signed", schema1_manifest,
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
            pp::errc::unsupported_manifest, "Docker schema 1"),
      fails("schema 1 by schemaVersion only", schema1_manifest, "", pp::errc::unsupported_manifest,
            "Docker schema 1"),
      fails("schemaVersion 1 beats a schema 2 content type", schema1_manifest, docker_ct,
            pp::errc::unsupported_manifest, "Docker schema 1"),
      // Anything else.
      fails("helm chart", oci(wasm_layer()), "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
            pp::errc::unsupported_manifest,
            "\"application/vnd.cncf.helm.chart.content.v1.tar+gzip\""),
      fails("unknown body mediaType", R"({"schemaVersion":2,"mediaType":"application/x-foo"})", "",
            pp::errc::unsupported_manifest,
            "unsupported manifest media type \"application/x-foo\""),
      fails("no media type at all", "{}", "", pp::errc::unsupported_manifest, "no media type"),
      fails("schemaVersion 3", R"({"schemaVersion":3,"layers":[]})", oci_ct,
            pp::errc::unsupported_manifest, "schemaVersion 3"),
  };
}

}  // namespace

BOOST_DATA_TEST_CASE(parse_manifest_table, bdata::make(manifest_cases()), c) {
  const auto result = pp::oci::parse_manifest(c.body, c.content_type);
  if (!c.code.empty()) {
    BOOST_TEST_REQUIRE(!result.ok());
    BOOST_TEST(result.error().code == c.code);
    BOOST_TEST(result.error().message.find(c.error) != std::string::npos,
               "message \"" << result.error().message << "\" lacks \"" << c.error << "\"");
    return;
  }
  BOOST_TEST_REQUIRE(result.ok(), (result.ok() ? std::string() : result.error().message));
  BOOST_TEST(result->media_type == c.media_type);
  BOOST_TEST(result->layers.size() == c.layers);
  BOOST_TEST(result->config.digest == c.config_digest);
  const auto choice = pp::oci::select_wasm_layer(result.value());
  if (c.selected.empty()) {
    BOOST_TEST_REQUIRE(!choice.ok());
    BOOST_TEST(choice.error().code == pp::errc::no_wasm_layer);
  } else {
    BOOST_TEST_REQUIRE(choice.ok());
    const auto& first = choice->labelled ? *choice->labelled : choice->by_content.front();
    BOOST_TEST(first.digest == c.selected);
  }
}

// Field values of the oras manifest, beyond the digests the table checks.
BOOST_AUTO_TEST_CASE(oras_manifest_fields) {
  const auto result = pp::oci::parse_manifest(oras_manifest, oci_ct);
  BOOST_TEST_REQUIRE(result.ok());
  BOOST_TEST(result->config.media_type == "application/vnd.wasm.config.v0+json");
  BOOST_TEST(result->config.size == 2u);
  BOOST_TEST_REQUIRE(result->layers.size() == 1u);
  BOOST_TEST(result->layers[0].media_type == "application/wasm");
  BOOST_TEST(result->layers[0].size == 1624962u);
}

namespace {

struct SelectCase {
  std::string name;
  std::vector<Descriptor> layers;
  std::string labelled = {};                 // the digest streamed by label, or empty
  std::vector<std::string> by_content = {};  // otherwise the digests to examine, in order
  bool fails = false;                        // errc::no_wasm_layer
};

std::ostream& operator<<(std::ostream& os, const SelectCase& c) {
  return os << c.name;
}

std::vector<SelectCase> select_cases() {
  return {
      {"no layers", {}, "", {}, true},
      {"single non-wasm layer", {{"text/plain", digest('1'), 3}}, "", {digest('1')}},
      {"largest first without wasm",
       {{"a", digest('1'), 3}, {"b", digest('2'), 9}, {"c", digest('3'), 4}},
       "",
       {digest('2'), digest('3'), digest('1')}},
      {"equal sizes keep manifest order",
       {{"a", digest('1'), 9}, {"b", digest('2'), 1}, {"c", digest('3'), 9}},
       "",
       {digest('1'), digest('3'), digest('2')}},
      {"all zero sizes keep manifest order",
       {{"a", digest('1'), 0}, {"b", digest('2'), 0}},
       "",
       {digest('1'), digest('2')}},
      {"a tar label is decided by content",
       {{"application/vnd.oci.image.layer.v1.tar", digest('1'), 5}},
       "",
       {digest('1')}},
      {"wasm beats larger",
       {{"a", digest('1'), 900}, {"application/wasm", digest('2'), 1}},
       digest('2')},
      {"first wasm layer of two",
       {{"application/wasm", digest('1'), 1}, {"application/wasm", digest('2'), 9}},
       digest('1')},
      {"each wasm type recognised: content layer",
       {{"a", digest('1'), 900}, {"application/vnd.wasm.content.layer.v1+wasm", digest('2'), 1}},
       digest('2')},
      {"each wasm type recognised: module layer",
       {{"a", digest('1'), 900},
        {"application/vnd.module.wasm.content.layer.v1+wasm", digest('2'), 1}},
       digest('2')},
      {"wasm type case-insensitive with parameters",
       {{"a", digest('1'), 900}, {"APPLICATION/WASM ; x=y", digest('2'), 1}},
       digest('2')},
      {"wasm-like but different type is not wasm",
       {{"application/wasm+gzip", digest('1'), 1}, {"b", digest('2'), 5}},
       "",
       {digest('2'), digest('1')}},
  };
}

}  // namespace

BOOST_DATA_TEST_CASE(select_wasm_layer_table, bdata::make(select_cases()), c) {
  Manifest manifest;
  manifest.media_type = media::oci_manifest;
  manifest.layers = c.layers;
  const auto choice = pp::oci::select_wasm_layer(manifest);
  if (c.fails) {
    BOOST_TEST_REQUIRE(!choice.ok());
    BOOST_TEST(choice.error().code == pp::errc::no_wasm_layer);
    return;
  }
  BOOST_TEST_REQUIRE(choice.ok());
  BOOST_TEST(choice->labelled.value_or(Descriptor{}).digest == c.labelled);
  std::vector<std::string> order;
  for (const auto& layer : choice->by_content)
    order.push_back(layer.digest);
  BOOST_TEST(order == c.by_content, boost::test_tools::per_element());
}

namespace {

struct PredicateCase {
  std::string input;
  bool expected;
};

std::ostream& operator<<(std::ostream& os, const PredicateCase& c) {
  return os << '"' << c.input << '"';
}

std::vector<PredicateCase> index_cases() {
  return {
      {media::oci_index, true},
      {media::docker_manifest_list, true},
      {"application/vnd.oci.image.index.v1+json; charset=utf-8", true},
      {"Application/VND.Docker.Distribution.Manifest.List.v2+JSON", true},
      {media::oci_manifest, false},
      {media::docker_manifest, false},
      {"", false},
      {"application/json", false},
  };
}

std::vector<PredicateCase> digest_cases() {
  const std::string hex64 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  return {
      {"sha256:" + hex64, true},
      {digest('0'), true},
      {"sha256:" + hex64.substr(1), false},
      {"sha256:" + hex64 + "0", false},
      {"sha256:" + std::string(64, 'A'), false},
      {"sha256:" + std::string(64, 'g'), false},
      {"SHA256:" + hex64, false},
      {"sha512:" + hex64, false},
      {"sha512:" + hex64 + hex64, true},
      {"sha512:" + hex64 + hex64 + "0", false},
      {"sha384:" + hex64, false},
      {hex64, false},
      {"sha256:", false},
      {"", false},
      {" sha256:" + hex64.substr(1), false},
  };
}

}  // namespace

BOOST_DATA_TEST_CASE(is_index_media_type_table, bdata::make(index_cases()), c) {
  BOOST_TEST(pp::oci::is_index_media_type(c.input) == c.expected);
}

BOOST_DATA_TEST_CASE(is_sha256_digest_table, bdata::make(digest_cases()), c) {
  BOOST_TEST(pp::oci::is_digest(c.input) == c.expected);
}

// ---- image indexes and platform selection ----

namespace {

std::string index_json(const std::vector<std::pair<std::string, std::string>>& entries,
                       const std::string& media_type = pp::oci::media::oci_index) {
  std::string out = R"({"schemaVersion":2,"mediaType":")" + media_type + R"(","manifests":[)";
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const std::string digest = "sha256:" + std::string(63, 'a') + std::to_string(i % 10);
    out += (i ? "," : "") +
           std::string(R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")") +
           digest + R"(","size":100)" +
           (entries[i].first.empty() ? std::string()
                                     : R"(,"platform":{"os":")" + entries[i].first +
                                           R"(","architecture":")" + entries[i].second + R"("})") +
           "}";
  }
  return out + "]}";
}

std::string entry_digest(std::size_t i) {
  return "sha256:" + std::string(63, 'a') + std::to_string(i);
}

}  // namespace

BOOST_AUTO_TEST_CASE(index_documents_are_told_apart_from_manifests) {
  struct Case {
    std::string body, content_type;
    bool index;
  };
  const Case cases[] = {
      {index_json({{"wasi", "wasm"}}), "", true},
      {index_json({{"wasi", "wasm"}}, pp::oci::media::docker_manifest_list), "", true},
      {R"({"schemaVersion":2,"manifests":[]})", "", true},  // shape alone
      {R"({"schemaVersion":2,"layers":[]})", "", false},
      {R"({"schemaVersion":2,"manifests":[]})", pp::oci::media::oci_manifest, false},
      {"not json", "", false},
      {"[]", "", false},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.body.substr(0, 80)) {
      BOOST_TEST(pp::oci::is_index_document(c.body, c.content_type) == c.index);
    }
  }
}

BOOST_AUTO_TEST_CASE(index_parsing_errors) {
  struct Case {
    std::string body;
    std::string code, message;
  };
  const Case cases[] = {
      {"{", pp::errc::invalid_manifest, "not valid JSON"},
      {R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json"})",
       pp::errc::invalid_manifest, "manifests is missing"},
      {R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"digest":"md5:x","size":1}]})",
       pp::errc::invalid_manifest, "manifests[0]"},
      {R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"digest":"sha256:)" +
           std::string(64, 'b') + R"(","size":1,"platform":"linux"}]})",
       pp::errc::invalid_manifest, "manifests[0].platform is not an object"},
      {R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]})",
       pp::errc::unsupported_manifest, "not an index"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.body.substr(0, 100)) {
      const auto r = pp::oci::parse_index(c.body, "");
      BOOST_TEST_REQUIRE(!r.ok());
      BOOST_TEST(r.error().code == c.code);
      BOOST_TEST(r.error().message.find(c.message) != std::string::npos, r.error().message);
    }
  }
}

BOOST_AUTO_TEST_CASE(platform_selection_table) {
  struct Case {
    std::string name;
    std::vector<std::pair<std::string, std::string>> entries;  // os, architecture ("" = none)
    std::string wanted;
    int expected;  // entry index, or -1 for no_matching_platform
  };
  const Case cases[] = {
      {"wasi/wasm among linux",
       {{"linux", "amd64"}, {"wasi", "wasm"}, {"linux", "arm64"}},
       "wasi/wasm",
       1},
      {"wasip1 counts as wasi", {{"linux", "amd64"}, {"wasip1", "wasm"}}, "wasi/wasm", 1},
      {"wasip2 counts as wasi", {{"wasip2", "wasm"}, {"linux", "amd64"}}, "wasi/wasm", 0},
      {"first of two matches", {{"wasi", "wasm"}, {"wasip1", "wasm"}}, "wasi/wasm", 0},
      {"single entry whatever its platform", {{"linux", "arm64"}}, "wasi/wasm", 0},
      {"single entry without platform", {{"", ""}}, "wasi/wasm", 0},
      {"configured platform", {{"wasi", "wasm"}, {"linux", "amd64"}}, "linux/amd64", 1},
      {"architecture must match", {{"wasi", "amd64"}, {"linux", "wasm"}}, "wasi/wasm", -1},
      {"attestations and linux only",
       {{"linux", "amd64"}, {"unknown", "unknown"}},
       "wasi/wasm",
       -1},
      {"entries without platform skipped", {{"", ""}, {"wasi", "wasm"}}, "wasi/wasm", 1},
      {"wasip1 wanted exactly", {{"wasi", "wasm"}, {"wasip1", "wasm"}}, "wasip1/wasm", 1},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.name) {
      const auto index = pp::oci::parse_index(index_json(c.entries), "");
      BOOST_TEST_REQUIRE(index.ok());
      const auto wanted = pp::oci::parse_platform(c.wanted);
      BOOST_TEST_REQUIRE(wanted.ok());
      const auto chosen = pp::oci::select_platform(*index, *wanted);
      if (c.expected < 0) {
        BOOST_TEST_REQUIRE(!chosen.ok());
        BOOST_TEST(chosen.error().code == pp::errc::no_matching_platform);
        const std::string& m = chosen.error().message;
        const bool lists =
            m.find("linux/amd64") != std::string::npos || m.find("wasi/amd64") != std::string::npos;
        BOOST_TEST(lists, m);
      } else {
        BOOST_TEST_REQUIRE(chosen.ok(), (chosen.ok() ? "" : chosen.error().message));
        BOOST_TEST(chosen->digest == entry_digest(static_cast<std::size_t>(c.expected)));
      }
    }
  }
  const auto empty = pp::oci::parse_index(index_json({}), "");
  BOOST_TEST_REQUIRE(empty.ok());
  BOOST_TEST(pp::oci::select_platform(*empty, {"wasi", "wasm", ""}).error().code ==
             pp::errc::no_matching_platform);
}

BOOST_AUTO_TEST_CASE(platform_strings) {
  struct Case {
    std::string text;
    bool ok;
    std::string os, arch, variant;
  };
  const Case cases[] = {
      {"wasi/wasm", true, "wasi", "wasm", ""},
      {"linux/arm64/v8", true, "linux", "arm64", "v8"},
      {"wasi", false, "", "", ""},
      {"/wasm", false, "", "", ""},
      {"wasi/", false, "", "", ""},
      {"a/b/c/d", false, "", "", ""},
      {"wasi /wasm", false, "", "", ""},
      {"", false, "", "", ""},
      {"linux/arm64/", false, "", "", ""},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT("\"" << c.text << "\"") {
      const auto p = pp::oci::parse_platform(c.text);
      BOOST_TEST(p.ok() == c.ok);
      if (p.ok() && c.ok) {
        BOOST_TEST(p->os == c.os);
        BOOST_TEST(p->architecture == c.arch);
        BOOST_TEST(p->variant == c.variant);
      }
    }
  }
}
