// The blob is never held whole: a 200 MB module streams through the proxy at default settings while
// its peak resident memory stays under 100 MB (the in-flight window bounds it, whatever the size),
// and so does a 200 MB module packed in a tar+zstd layer (spooled to disk, unpacked, then
// streamed).
#define BOOST_TEST_MODULE memory_bound
#include <boost/test/unit_test.hpp>

#include "tests/integration/stack.hpp"
#include "tests/support/tar_layer.hpp"

using namespace pp::test;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_CASE(a_200_mb_blob_streams_within_100_mb_of_memory) {
  Stack s;
  std::string digest;
  std::size_t size = 200u << 20;
  {
    const std::string wasm = random_wasm(size, 2024);
    digest = s.pusher.push_wasm("big", "v1", wasm).digest;
  }
  // Default chunk size and window; the blob limit (100 MiB, a proplet's) raised for this blob.
  s.start_proxy({"PROXY_MAX_BLOB_SIZE=" + std::to_string(size)});
  PropletClient client(s.broker.url(), s.channel, 1, /*keep_bytes=*/false);
  const std::string app = s.ref("big", "v1");
  client.request(app);
  BOOST_TEST_REQUIRE(client.wait_complete(app, 300s).has_value());
  const auto a = client.snapshot(app);
  BOOST_TEST(a.in_order);
  BOOST_TEST(a.streamed_bytes == size);
  BOOST_TEST(a.streamed_sha256 == digest);
  BOOST_TEST(a.total_chunks == (size + 511999) / 512000);
  BOOST_TEST(s.proxy->wait_log("transfer completed app_name=" + app, 30s));
  const long peak_kib = s.proxy->peak_rss_kib();
  BOOST_TEST_MESSAGE("proxy peak RSS: " << peak_kib / 1024 << " MiB for a 200 MiB blob");
  BOOST_TEST(peak_kib < 100 * 1024);
}

BOOST_AUTO_TEST_CASE(a_200_mb_module_in_a_tar_zstd_layer_unpacks_within_100_mb_of_memory) {
  Stack s;
  std::string digest;
  std::size_t size = 200u << 20;
  {
    const std::string wasm = random_wasm(size, 2025);
    digest = sha256_digest(wasm);
    const Desc config =
        s.pusher.push_blob("packed", "{}", "application/vnd.oci.image.config.v1+json");
    const Desc layer =
        s.pusher.push_blob("packed", make_tar({{"app.wasm", wasm}}, Compression::zstd),
                           "application/vnd.oci.image.layer.v1.tar+zstd");
    s.pusher.push_manifest(
        "packed", "v1", RegistryPusher::manifest_json(config, {layer}, kOciManifest), kOciManifest);
  }
  // The layer is a little larger than the module (tar headers, incompressible content).
  s.start_proxy({"PROXY_MAX_BLOB_SIZE=" + std::to_string(size + (1u << 20))});
  PropletClient client(s.broker.url(), s.channel, 1, /*keep_bytes=*/false);
  const std::string app = s.ref("packed", "v1");
  client.request(app);
  BOOST_TEST_REQUIRE(client.wait_complete(app, 300s).has_value());
  const auto a = client.snapshot(app);
  BOOST_TEST(a.streamed_bytes == size);
  BOOST_TEST(a.streamed_sha256 == digest);
  BOOST_TEST(a.digest == digest);
  BOOST_TEST(s.proxy->wait_log("transfer completed app_name=" + app, 30s));
  const long peak_kib = s.proxy->peak_rss_kib();
  BOOST_TEST_MESSAGE("proxy peak RSS: " << peak_kib / 1024 << " MiB for a 200 MiB packed module");
  BOOST_TEST(peak_kib < 100 * 1024);
}
