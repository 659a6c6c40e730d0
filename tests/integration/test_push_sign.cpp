// `propeller-proxy push --sign-key` against a real docker-registry (2.8: no referrers API, so the
// bundle is listed in the fallback index at tag sha256-<hex>): what it stores is read back with
// plain HTTP, verified by Sigstore's own JavaScript verifier (the fixture's `verify`) and by the
// proxy's signature search; pushing again lists each bundle once; keys it cannot sign with are
// refused before anything is uploaded. And against a registry with the referrers API, which
// docker-registry 2.8 cannot be: there the referrer is all that is stored.
#define BOOST_TEST_MODULE push_sign
#include <httplib.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "nodes/clients/oci/registry_client.hpp"
#include "nodes/trust/public_key.hpp"
#include "nodes/trust/signature_search.hpp"
#include "tests/integration/sigstore_fixture.hpp"
#include "tests/support/registry.hpp"
#include "tests/support/registry_push.hpp"

using namespace pp::test;
using json = nlohmann::json;

namespace {

constexpr std::string_view kBundleType = "application/vnd.dev.sigstore.bundle.v0.3+json";
const std::string kAccept =
    "Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// `propeller-proxy push FILE REF --sign-key KEY`, nothing of the runner's environment configuring
// it; `env` adds to that.
template <typename AnyRegistry>
Run push(const TempDir& dir, const AnyRegistry& registry, const std::string& file,
         const std::string& ref, const std::string& key, std::vector<std::string> env = {}) {
  for (const char* name : {"PROPLET_CHANNEL_ID", "PROXY_LOG_LEVEL", "SOURCE_DATE_EPOCH"}) {
    env.insert(env.begin(), std::string("-") + name);
  }
  env.push_back("PROXY_REGISTRY_URL=" + registry.url());
  return run(dir, {PP_PROXY_BINARY, "push", file, ref, "--sign-key", key}, env);
}

HttpResponse get(const Registry& registry, const std::string& repo, const std::string& path) {
  return http_get(registry.url() + "/v2/" + repo + "/" + path, {kAccept}, kTimeout);
}

// The digest of the manifest at `tag`.
std::string manifest_digest(const Registry& registry, const std::string& repo,
                            const std::string& tag) {
  const HttpResponse manifest = get(registry, repo, "manifests/" + tag);
  BOOST_TEST_REQUIRE(manifest.status == 200, manifest.body);
  return sha256_digest(manifest.body);
}

// The entries of the fallback index of `digest`.
json fallback_entries(const Registry& registry, const std::string& repo,
                      const std::string& digest) {
  const HttpResponse index = get(registry, repo, "manifests/sha256-" + digest.substr(7));
  BOOST_TEST_REQUIRE(index.status == 200, index.body);
  const json doc = json::parse(index.body);
  BOOST_TEST(doc.at("mediaType") == "application/vnd.oci.image.index.v1+json");
  return doc.at("manifests");
}

// The bundle a fallback index entry lists, through its referrer manifest, written to `path`.
void fetch_bundle(const Registry& registry, const std::string& repo, const json& entry,
                  const std::string& subject, const std::string& path) {
  BOOST_TEST(entry.at("artifactType") == kBundleType);
  const HttpResponse referrer =
      get(registry, repo, "manifests/" + entry.at("digest").get<std::string>());
  BOOST_TEST_REQUIRE(referrer.status == 200, referrer.body);
  const json manifest = json::parse(referrer.body);
  BOOST_TEST(manifest.at("subject").at("digest") == subject);
  BOOST_TEST(manifest.at("annotations").at("dev.sigstore.bundle.predicateType") ==
             "https://sigstore.dev/cosign/sign/v1");
  const json& layer = manifest.at("layers").at(0);
  BOOST_TEST(layer.at("mediaType") == kBundleType);
  const HttpResponse blob = get(registry, repo, "blobs/" + layer.at("digest").get<std::string>());
  BOOST_TEST_REQUIRE(blob.status == 200);
  BOOST_TEST(sha256_digest(blob.body) == layer.at("digest"));
  write_file(path, blob.body);
}

// What Sigstore's JavaScript verifier says of the bundle at `path`, with `pub` and `digest`.
Run sigstore_verify(const TempDir& dir, const std::string& path, const std::string& pub,
                    const std::string& digest) {
  return fixture(dir, {"verify", "--bundle", path, "--key", pub, "--digest", digest});
}

// The proxy's own signature search of `repo`'s `digest`, trusting the key in `pub`.
template <typename AnyRegistry>
pp::Expected<pp::trust::Verdict> proxy_verdict(const AnyRegistry& registry, const std::string& repo,
                                               const std::string& digest, const std::string& pub) {
  auto key = pp::trust::PublicKey::load(pub);
  BOOST_TEST_REQUIRE(key.ok());
  auto ref = pp::oci::parse_reference(registry.host() + "/" + repo + "@" + digest, "");
  BOOST_TEST_REQUIRE(ref.ok());
  pp::oci::HttpIo io;
  pp::oci::RegistryOptions options;
  options.url = {"http", registry.host()};
  pp::oci::RegistryClient client(io, options);
  std::promise<pp::Expected<pp::trust::Verdict>> answer;
  io.post([&] {
    pp::trust::search_signatures(
        client, *ref, {digest}, {*key},
        [&](pp::Expected<pp::trust::Verdict> v) { answer.set_value(std::move(v)); });
  });
  auto future = answer.get_future();
  BOOST_TEST_REQUIRE((future.wait_for(kTimeout) == std::future_status::ready));
  return future.get();
}

struct KeyCase {
  const char* name;
  const std::vector<std::string>& genpkey;
};

// A registry in memory with the OCI 1.1 referrers API: blob uploads (monolithic, as the proxy's
// client makes them), manifests by tag or digest, and GET /v2/<name>/referrers/<digest> listing
// the stored manifests whose subject is that digest (httplib answers HEAD with the GET route). One
// repository's worth; enough for push.
class ReferrersRegistry {
 public:
  ReferrersRegistry() {
    using Req = const httplib::Request&;
    using Res = httplib::Response&;
    server_.Get("/v2/", [](Req, Res res) { res.status = 200; });
    server_.Post(R"(/v2/(.+)/blobs/uploads/)", [](Req req, Res res) {
      res.status = 202;
      res.set_header("Location", "/v2/" + req.matches[1].str() + "/blobs/uploads/1");
    });
    server_.Put(R"(/v2/(.+)/blobs/uploads/1)", [this](Req req, Res res) {
      std::lock_guard lock(mutex_);
      blobs_[req.get_param_value("digest")] = req.body;
      res.status = 201;
    });
    server_.Get(R"(/v2/(.+)/blobs/(sha256:[0-9a-f]+))", [this](Req req, Res res) {
      std::lock_guard lock(mutex_);
      const auto it = blobs_.find(req.matches[2]);
      if (it == blobs_.end()) return void(res.status = 404);
      res.set_content(it->second, "application/octet-stream");
    });
    server_.Put(R"(/v2/(.+)/manifests/(.+))", [this](Req req, Res res) {
      std::lock_guard lock(mutex_);
      const Stored stored{req.body, req.get_header_value("Content-Type")};
      manifests_[req.matches[2]] = stored;
      manifests_[sha256_digest(req.body)] = stored;
      tags_pushed_.push_back(req.matches[2]);
      res.status = 201;
    });
    server_.Get(R"(/v2/(.+)/manifests/(.+))", [this](Req req, Res res) {
      std::lock_guard lock(mutex_);
      const auto it = manifests_.find(req.matches[2]);
      if (it == manifests_.end()) return void(res.status = 404);
      res.set_content(it->second.body, it->second.type);
    });
    server_.Get(R"(/v2/(.+)/referrers/(sha256:[0-9a-f]+))", [this](Req req, Res res) {
      std::lock_guard lock(mutex_);
      json index = {{"schemaVersion", 2},
                    {"mediaType", "application/vnd.oci.image.index.v1+json"},
                    {"manifests", json::array()}};
      for (const auto& [name, stored] : manifests_) {
        if (!name.starts_with("sha256:")) continue;
        const json m = json::parse(stored.body);
        if (m.contains("subject") && m["subject"]["digest"] == req.matches[2].str()) {
          index["manifests"].push_back({{"mediaType", m["mediaType"]},
                                        {"digest", name},
                                        {"size", stored.body.size()},
                                        {"artifactType", m.value("artifactType", "")}});
        }
      }
      res.set_content(index.dump(), "application/vnd.oci.image.index.v1+json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    BOOST_TEST_REQUIRE(port_ > 0);
    serving_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() does nothing before the accept loop runs.
    const auto deadline = std::chrono::steady_clock::now() + kTimeout;
    while (!server_.is_running() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    BOOST_TEST_REQUIRE(server_.is_running());
  }
  ~ReferrersRegistry() {
    server_.stop();
    serving_.join();
  }

  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string url() const { return "http://" + host(); }
  // The tags and digests manifests were pushed to, in order.
  std::vector<std::string> manifests_pushed() {
    std::lock_guard lock(mutex_);
    return tags_pushed_;
  }

 private:
  struct Stored {
    std::string body;
    std::string type;
  };
  httplib::Server server_;
  std::thread serving_;
  int port_ = 0;
  std::mutex mutex_;
  std::map<std::string, std::string> blobs_;
  std::map<std::string, Stored> manifests_;
  std::vector<std::string> tags_pushed_;
};

}  // namespace

BOOST_AUTO_TEST_CASE(a_signed_push_verifies_with_sigstore_and_the_proxy) {
  require_node_modules();
  TempDir dir("pp-push-sign-");
  Registry registry;
  write_file(dir.file("app.wasm"), random_wasm(20'000, 3));
  make_key(dir, "stranger", kP256);
  for (const KeyCase& c :
       {KeyCase{"p256", kP256}, KeyCase{"ed25519", kEd25519}, KeyCase{"rsa", kRsa2048}}) {
    BOOST_TEST_CONTEXT(c.name) {
      make_key(dir, c.name, c.genpkey);
      const std::string repo = std::string("signed/") + c.name;
      const Run pushed = push(dir, registry, dir.file("app.wasm"), registry.host() + "/" + repo,
                              dir.file(std::string(c.name) + ".key"));
      BOOST_TEST_REQUIRE(pushed.code == 0, pushed.output);
      const std::string digest = manifest_digest(registry, repo, "latest");
      BOOST_TEST(contains(pushed.output, "signed " + digest + " with key "), pushed.output);
      BOOST_TEST(contains(pushed.output, "listed in sha256-" + digest.substr(7)), pushed.output);
      BOOST_TEST(get(registry, repo, "referrers/" + digest).status == 404);

      const json entries = fallback_entries(registry, repo, digest);
      BOOST_TEST_REQUIRE(entries.size() == 1u);
      const std::string bundle = dir.file(std::string(c.name) + ".bundle.json");
      fetch_bundle(registry, repo, entries.at(0), digest, bundle);

      const std::string pub = dir.file(std::string(c.name) + ".pub");
      const Run verified = sigstore_verify(dir, bundle, pub, digest);
      BOOST_TEST(verified.code == 0, verified.output);
      const Run other_digest = sigstore_verify(dir, bundle, pub, sha256_digest("other"));
      BOOST_TEST(other_digest.code == 1, other_digest.output);
      const Run other_key = sigstore_verify(dir, bundle, dir.file("stranger.pub"), digest);
      BOOST_TEST(other_key.code == 1, other_key.output);

      const auto verdict = proxy_verdict(registry, repo, digest, pub);
      BOOST_TEST_REQUIRE(verdict.ok(), (verdict.ok() ? "" : verdict.error().message));
      BOOST_TEST((verdict->result == pp::trust::Verdict::Result::verified), verdict->reason);
      BOOST_TEST(verdict->format == "bundle");
      BOOST_TEST(verdict->key_id == pp::trust::PublicKey::load(pub)->id());
      const auto refused = proxy_verdict(registry, repo, digest, dir.file("stranger.pub"));
      BOOST_TEST_REQUIRE(refused.ok());
      BOOST_TEST((refused->result == pp::trust::Verdict::Result::invalid), refused->reason);
    }
  }
}

// SOURCE_DATE_EPOCH makes the second push the same manifest. ECDSA signatures are randomised, so
// it makes a second bundle, listed beside the first; Ed25519's are not, so it is the same bundle
// and the same referrer, which is listed once.
BOOST_AUTO_TEST_CASE(pushing_again_lists_each_bundle_once) {
  require_node_modules();
  TempDir dir("pp-push-sign-");
  Registry registry;
  write_file(dir.file("app.wasm"), random_wasm(5'000, 4));
  const std::vector<std::string> epoch = {"SOURCE_DATE_EPOCH=1700000000"};
  struct Case {
    const char* name;
    const std::vector<std::string>& genpkey;
    std::size_t entries;
    const char* second_says;
  };
  for (const Case& c : {Case{"p256", kP256, 2, "listed in sha256-"},
                        Case{"ed25519", kEd25519, 1, "already listed in sha256-"}}) {
    BOOST_TEST_CONTEXT(c.name) {
      make_key(dir, c.name, c.genpkey);
      const std::string repo = std::string("twice/") + c.name;
      const std::string ref = registry.host() + "/" + repo + ":v1";
      const std::string key = dir.file(std::string(c.name) + ".key");
      const Run first = push(dir, registry, dir.file("app.wasm"), ref, key, epoch);
      BOOST_TEST_REQUIRE(first.code == 0, first.output);
      const std::string digest = manifest_digest(registry, repo, "v1");
      const Run second = push(dir, registry, dir.file("app.wasm"), ref, key, epoch);
      BOOST_TEST_REQUIRE(second.code == 0, second.output);
      BOOST_TEST(manifest_digest(registry, repo, "v1") == digest);
      BOOST_TEST(contains(second.output, c.second_says), second.output);

      const json entries = fallback_entries(registry, repo, digest);
      BOOST_TEST_REQUIRE(entries.size() == c.entries);
      std::set<std::string> digests;
      for (std::size_t i = 0; i < entries.size(); ++i) {
        digests.insert(entries.at(i).at("digest").get<std::string>());
        const std::string bundle = dir.file(std::string(c.name) + std::to_string(i) + ".json");
        fetch_bundle(registry, repo, entries.at(i), digest, bundle);
        const Run verified =
            sigstore_verify(dir, bundle, dir.file(std::string(c.name) + ".pub"), digest);
        BOOST_TEST(verified.code == 0, verified.output);
      }
      BOOST_TEST(digests.size() == c.entries);  // no referrer listed twice
    }
  }
}

BOOST_AUTO_TEST_CASE(a_key_it_cannot_sign_with_exits_2_naming_the_file_and_pushes_nothing) {
  TempDir dir("pp-push-sign-");
  Registry registry;
  write_file(dir.file("app.wasm"), random_wasm(1'000, 5));
  make_key(dir, "p256", kP256);
  make_key(dir, "p384", kP384);
  struct Case {
    std::string key;
    std::string says;
  };
  const Case cases[] = {
      {dir.file("absent.key"), "is unreadable"},
      {dir.file("p256.pub"), "found a PUBLIC KEY block"},
      {dir.file("p384.key"), "ECDSA P-384"},
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.key) {
      const Run pushed =
          push(dir, registry, dir.file("app.wasm"), registry.host() + "/refused/app", c.key);
      BOOST_TEST(pushed.code == 2, pushed.output);
      BOOST_TEST(contains(pushed.output, "--sign-key: private key " + c.key), pushed.output);
      BOOST_TEST(contains(pushed.output, c.says), pushed.output);
    }
  }
  BOOST_TEST(get(registry, "refused/app", "manifests/latest").status == 404);
  BOOST_TEST(registry.count_requests("POST", "/blobs/uploads/") == 0);
}

BOOST_AUTO_TEST_CASE(a_registry_with_the_referrers_api_needs_no_fallback_index) {
  TempDir dir("pp-push-sign-");
  ReferrersRegistry registry;
  write_file(dir.file("app.wasm"), random_wasm(2'000, 6));
  make_key(dir, "p256", kP256);
  const Run pushed = push(dir, registry, dir.file("app.wasm"), registry.host() + "/api/app:v1",
                          dir.file("p256.key"));
  BOOST_TEST_REQUIRE(pushed.code == 0, pushed.output);
  BOOST_TEST(contains(pushed.output, "(referrers API)"), pushed.output);
  // The module by its tag, then the referrer by its digest; no sha256-<hex> tag.
  const std::vector<std::string> manifests = registry.manifests_pushed();
  BOOST_TEST_REQUIRE(manifests.size() == 2u);
  BOOST_TEST(manifests.at(0) == "v1");
  BOOST_TEST(manifests.at(1).starts_with("sha256:"));

  const HttpResponse module = http_get(registry.url() + "/v2/api/app/manifests/v1", {}, kTimeout);
  BOOST_TEST_REQUIRE(module.status == 200);
  const auto verdict =
      proxy_verdict(registry, "api/app", sha256_digest(module.body), dir.file("p256.pub"));
  BOOST_TEST_REQUIRE(verdict.ok(), (verdict.ok() ? "" : verdict.error().message));
  BOOST_TEST((verdict->result == pp::trust::Verdict::Result::verified), verdict->reason);
}
