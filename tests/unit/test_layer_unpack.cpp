// Finding the module in a layer by its bytes: raw wasm under any label, the single *.wasm of a
// tar / tar+gzip / tar+zstd layer, and a named reason for every layer that holds no module.
#define BOOST_TEST_MODULE layer_unpack
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include "nodes/clients/oci/digest.hpp"
#include "nodes/store/layer_unpack.hpp"
#include "tests/support/registry_push.hpp"
#include "tests/support/tar_layer.hpp"

namespace bdata = boost::unit_test::data;
using pp::test::Compression;
using pp::test::make_tar;
using pp::test::TarEntry;

namespace {

const std::string kWasm = pp::test::random_wasm(70'000, 7);
constexpr std::uint64_t kMax = 1'000'000;

std::string digest_of(std::string_view bytes, std::string_view algorithm = "sha256:") {
  auto h = pp::oci::Hasher::for_digest(algorithm);
  h.update(bytes);
  return h.finish_digest();
}

struct UnpackCase {
  std::string name;
  std::string layer;
  std::string packaging = {};  // success: the packaging and the module's path in the archive
  std::string path = {};
  std::string code = {};  // failure: the error code and a fragment of its message
  std::string error = {};
  std::string digest_algorithm = "sha256:";
};

std::ostream& operator<<(std::ostream& os, const UnpackCase& c) {
  return os << c.name;
}

UnpackCase found(std::string name, std::string layer, std::string packaging, std::string path) {
  return {std::move(name), std::move(layer), std::move(packaging), std::move(path)};
}

UnpackCase refused(std::string name, std::string layer, std::string code, std::string error) {
  return {std::move(name), std::move(layer), {}, {}, std::move(code), std::move(error)};
}

std::vector<UnpackCase> cases() {
  const std::string no_magic = "not wasm at all, but named like it";
  std::string zeros(3 * kMax, '\0');
  std::string big_wasm = std::string("\0asm\1\0\0\0", 8) + std::string(kMax, '\0');
  auto sha512_raw = found("raw wasm with a sha512 descriptor", kWasm, "wasm", "");
  sha512_raw.digest_algorithm = "sha512:";
  std::string gz = make_tar({{"app.wasm", kWasm}}, Compression::gzip);
  return {
      found("raw wasm under any label", kWasm, "wasm", ""),
      sha512_raw,
      found("plain tar", make_tar({{"app.wasm", kWasm}}, Compression::none), "tar", "app.wasm"),
      found("buildx layout, tar+gzip",
            make_tar({{"./", "", true}, {"./app.wasm", kWasm}}, Compression::gzip), "tar+gzip",
            "./app.wasm"),
      found("tar+zstd in a subdirectory",
            make_tar({{"usr/", "", true}, {"usr/lib/", "", true}, {"usr/lib/app.wasm", kWasm}},
                     Compression::zstd),
            "tar+zstd", "usr/lib/app.wasm"),
      found("other files around the module",
            make_tar({{"etc/config.toml", "x = 1\n"}, {"app.wasm", kWasm}, {"README", "hi"}},
                     Compression::gzip),
            "tar+gzip", "app.wasm"),
      found("a whiteout is not a module",
            make_tar({{".wh.old.wasm", ""}, {"app.wasm", kWasm}}, Compression::none), "tar",
            "app.wasm"),
      refused("no .wasm file names what is there",
              make_tar({{"README", "hi"}, {"bin/tool", "x"}}, Compression::gzip),
              pp::errc::no_wasm_layer, "(tar+gzip) has no .wasm file (it has README, bin/tool)"),
      refused("an empty archive", make_tar({}, Compression::zstd), pp::errc::no_wasm_layer,
              "has no .wasm file"),
      refused("two .wasm files are ambiguous",
              make_tar({{"a.wasm", kWasm}, {"b/c.wasm", kWasm}}, Compression::none),
              pp::errc::no_wasm_layer,
              "has 2 .wasm files, which one is the module is ambiguous: a.wasm, b/c.wasm"),
      refused("a .wasm without the magic", make_tar({{"app.wasm", no_magic}}, Compression::gzip),
              pp::errc::no_wasm_layer, "app.wasm is not a wasm module (no \\0asm magic)"),
      refused("an empty .wasm", make_tar({{"app.wasm", ""}}, Compression::none),
              pp::errc::no_wasm_layer, "no \\0asm magic"),
      refused("neither wasm nor tar", std::string(5000, 'j'), pp::errc::no_wasm_layer,
              "is neither a wasm module (no \\0asm magic) nor a readable tar archive"),
      refused("an empty layer", "", pp::errc::no_wasm_layer, "is neither a wasm module"),
      refused("a truncated tar+gzip", gz.substr(0, gz.size() / 2), pp::errc::no_wasm_layer,
              "nor a readable tar archive (truncated gzip input)"),
      refused("a tar cut inside the module",
              make_tar({{"app.wasm", kWasm}}, Compression::none).substr(0, 30'000),
              pp::errc::no_wasm_layer, "(tar) is a damaged archive"),
      refused("a module over the limit", make_tar({{"app.wasm", big_wasm}}, Compression::zstd),
              pp::errc::too_large, "app.wasm in layer"),
      refused("a decompression bomb around a small module",
              make_tar({{"app.wasm", kWasm}, {"junk", zeros}}, Compression::gzip),
              pp::errc::too_large, "unpacks to more than 2000000 bytes"),
  };
}

std::shared_ptr<pp::SpoolFile> spool(std::string_view bytes) {
  auto file = pp::SpoolFile::create("/tmp");
  BOOST_TEST_REQUIRE(file.ok());
  BOOST_TEST_REQUIRE(!file.value()->append(bytes.data(), bytes.size()).has_value());
  return file.value();
}

std::string read_all(const pp::SpoolFile& file) {
  std::string out(file.size(), '\0');
  BOOST_TEST_REQUIRE(file.read_at(0, out.data(), out.size()) == static_cast<ssize_t>(out.size()));
  return out;
}

}  // namespace

BOOST_DATA_TEST_CASE(unpack_layer_table, bdata::make(cases()), c) {
  const pp::oci::Descriptor layer{"application/vnd.oci.image.layer.v1.tar",
                                  digest_of(c.layer, c.digest_algorithm), c.layer.size()};
  const auto result = pp::unpack_layer(spool(c.layer), layer, "/tmp", kMax);
  if (!c.code.empty()) {
    BOOST_TEST_REQUIRE(!result.ok());
    BOOST_TEST(result.error().code == c.code);
    BOOST_TEST(result.error().message.find(c.error) != std::string::npos, result.error().message);
    return;
  }
  BOOST_TEST_REQUIRE(result.ok(), (result.ok() ? "" : result.error().message));
  BOOST_TEST(result->packaging == c.packaging);
  BOOST_TEST(result->path == c.path);
  BOOST_TEST(result->module.media_type == "application/wasm");
  BOOST_TEST(result->module.size == kWasm.size());
  BOOST_TEST(result->module.digest == digest_of(kWasm, c.digest_algorithm));
  BOOST_TEST(read_all(*result->file) == kWasm);
}

BOOST_AUTO_TEST_CASE(a_layer_that_does_not_match_its_digest_is_not_unpacked) {
  const std::string tar = make_tar({{"app.wasm", kWasm}}, Compression::gzip);
  const pp::oci::Descriptor layer{"application/vnd.oci.image.layer.v1.tar+gzip",
                                  digest_of("something else"), tar.size()};
  const auto result = pp::unpack_layer(spool(tar), layer, "/tmp", kMax);
  BOOST_TEST_REQUIRE(!result.ok());
  BOOST_TEST(result.error().code == pp::errc::digest_mismatch);
  BOOST_TEST(result.error().message.find(digest_of(tar)) != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_missing_spool_directory_is_a_proxy_error) {
  const auto file = pp::SpoolFile::create("/nonexistent/spool");
  BOOST_TEST_REQUIRE(!file.ok());
  BOOST_TEST(file.error().code == pp::errc::proxy_error);
  BOOST_TEST(file.error().message.find("/nonexistent/spool") != std::string::npos);
}
