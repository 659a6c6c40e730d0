// RegistryClient::fetch_document, what signature searches read: against a real docker-registry
// (manifests by tag, blobs by digest, absence, the size limit, and its 404 for the referrers API
// it lacks), and against a small server with a referrers API, which docker-registry 2.8 cannot be:
// a referrers answer is named by its subject's digest, not its own, and is served as it is, while a
// blob whose bytes are not its digest's is refused.
#define BOOST_TEST_MODULE registry_documents
#include <httplib.h>

#include <boost/test/unit_test.hpp>
#include <future>
#include <memory>
#include <mutex>
#include <thread>

#include "nodes/clients/oci/registry_client.hpp"
#include "tests/support/registry.hpp"
#include "tests/support/registry_push.hpp"

using namespace pp::test;
using pp::oci::DocumentKind;
using namespace std::chrono_literals;

namespace {

// Asks on the I/O thread, as the pipeline does, and waits for the answer (with a deadline).
pp::Expected<pp::oci::Document> fetch(pp::oci::HttpIo& io, pp::oci::RegistryClient& client,
                                      const std::string& host, DocumentKind kind,
                                      const std::string& name, std::size_t max_bytes = 64 * 1024) {
  auto ref = pp::oci::parse_reference(host + "/app:v1", "");
  BOOST_TEST_REQUIRE(static_cast<bool>(ref));
  std::promise<pp::Expected<pp::oci::Document>> answer;
  io.post([&] {
    client.fetch_document(*ref, kind, name, max_bytes, [&](pp::Expected<pp::oci::Document> d) {
      answer.set_value(std::move(d));
    });
  });
  auto future = answer.get_future();
  BOOST_TEST_REQUIRE((future.wait_for(30s) == std::future_status::ready));
  return future.get();
}

// Why `d` failed, for a check's message ("" when it did not).
std::string why(const pp::Expected<pp::oci::Document>& d) {
  return d ? std::string() : d.error().message;
}

pp::oci::RegistryOptions plain_http(const std::string& host) {
  pp::oci::RegistryOptions options;
  options.url = {"http", host};
  return options;
}

}  // namespace

BOOST_AUTO_TEST_CASE(documents_of_a_real_registry) {
  Registry registry;
  RegistryPusher pusher(registry.url());
  const std::string wasm = random_wasm(3000, 41);
  const Desc layer = pusher.push_wasm("app", "v1", wasm);
  pp::oci::HttpIo io;
  pp::oci::RegistryClient client(io, plain_http(registry.host()));

  const auto manifest = fetch(io, client, registry.host(), DocumentKind::manifest, "v1");
  BOOST_TEST_REQUIRE(static_cast<bool>(manifest), why(manifest));
  BOOST_TEST(manifest->body.find(layer.digest) != std::string::npos);
  BOOST_TEST(manifest->digest == sha256_digest(manifest->body));

  const auto blob = fetch(io, client, registry.host(), DocumentKind::blob, layer.digest);
  BOOST_TEST_REQUIRE(static_cast<bool>(blob), why(blob));
  BOOST_TEST(blob->body == wasm);

  const auto absent = fetch(io, client, registry.host(), DocumentKind::manifest, "sha256-ab.sig");
  BOOST_TEST_REQUIRE(!absent);
  BOOST_TEST(absent.error().code == pp::errc::not_found);

  const auto large = fetch(io, client, registry.host(), DocumentKind::blob, layer.digest, 1024);
  BOOST_TEST_REQUIRE(!large);
  BOOST_TEST(large.error().code == pp::errc::too_large);
  BOOST_TEST(large.error().message.find("larger than 1 KiB") != std::string::npos,
             large.error().message);

  // docker-registry 2.8 has no referrers API: the search then reads the fallback tag.
  const auto referrers =
      fetch(io, client, registry.host(), DocumentKind::referrers, manifest->digest);
  BOOST_TEST_REQUIRE(!referrers);
  BOOST_TEST(referrers.error().code == pp::errc::not_found);
}

BOOST_AUTO_TEST_CASE(referrers_api_and_a_blob_with_other_bytes) {
  const std::string subject = sha256_digest("the subject manifest");
  const std::string index =
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]})";
  const std::string blob_digest = sha256_digest("what the blob should be");
  httplib::Server server;
  server.Get("/v2/", [](const httplib::Request&, httplib::Response& res) { res.status = 200; });
  std::mutex mutex;
  std::string accepted;  // by the referrers request: Boost.Test checks stay on the test's thread
  server.Get("/v2/app/referrers/" + subject,
             [&](const httplib::Request& req, httplib::Response& res) {
               std::lock_guard lock(mutex);
               accepted = req.get_header_value("Accept");
               res.set_content(index, "application/vnd.oci.image.index.v1+json");
             });
  server.Get("/v2/app/blobs/" + blob_digest, [](const httplib::Request&, httplib::Response& res) {
    res.set_content("something else", "application/octet-stream");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  BOOST_TEST_REQUIRE(port > 0);
  std::thread serving([&] { server.listen_after_bind(); });
  // stop() does nothing before the accept loop runs.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!server.is_running() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  // Stopped and joined however the test ends (a failed requirement throws).
  const std::shared_ptr<void> stop(nullptr, [&](void*) {
    server.stop();
    serving.join();
  });
  const std::string host = "127.0.0.1:" + std::to_string(port);
  {
    pp::oci::HttpIo io;
    pp::oci::RegistryClient client(io, plain_http(host));

    const auto referrers = fetch(io, client, host, DocumentKind::referrers, subject);
    BOOST_TEST_REQUIRE(static_cast<bool>(referrers), why(referrers));
    BOOST_TEST(referrers->body == index);
    {
      std::lock_guard lock(mutex);
      BOOST_TEST(accepted == "application/vnd.oci.image.index.v1+json");
    }

    const auto blob = fetch(io, client, host, DocumentKind::blob, blob_digest);
    BOOST_TEST_REQUIRE(!blob);
    BOOST_TEST(blob.error().code == pp::errc::digest_mismatch);
  }
}
