// Signed modules, end to end through MQTT against the real docker-registry: only modules signed by
// the fleet's keys reach devices. Layout 1 (cosign simple signing) is made here with the openssl
// command from the format alone; layout 2 (Sigstore bundle v0.3) by Sigstore's own JavaScript
// libraries (the fixture), attached through the OCI 1.1 fallback index (docker-registry 2.8 has no
// referrers API). Keys are made by openssl; the proxy reads them as an operator gives them.
#define BOOST_TEST_MODULE signatures
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "nodes/trust/public_key.hpp"
#include "tests/integration/sigstore_fixture.hpp"
#include "tests/integration/stack.hpp"
#include "tests/support/fault_relay.hpp"
#include "tests/support/metrics.hpp"

using namespace pp::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view kSimpleSigning = "application/vnd.dev.cosign.simplesigning.v1+json";
constexpr std::string_view kIndex = "application/vnd.oci.image.index.v1+json";

// The keys of a test: made by openssl in `dir` (<name>.key, <name>.pub).
struct Keys {
  TempDir dir{"pp-sig-keys-"};
  explicit Keys(const std::vector<std::string>& names) {
    for (const auto& n : names)
      make_key(dir, n, kP256);
  }
  std::string pub(const std::string& name) const { return dir.file(name + ".pub"); }
  std::string key(const std::string& name) const { return dir.file(name + ".key"); }
  // A policy that leaves the stack's marker modules (Stack::drain) unchecked.
  std::string markers_unchecked() const {
    const std::string path = dir.file("markers.policy");
    write_file(path, "*/pp-marker off\n");
    return "PROXY_SIGNATURE_POLICY=" + path;
  }
  // The id the proxy gives the key (statuses, the start-up line).
  std::string id(const std::string& name) const {
    auto k = pp::trust::PublicKey::load(pub(name));
    BOOST_TEST_REQUIRE(k.ok(), (k.ok() ? "" : k.error().message));
    return k.value().id();
  }
};

std::string tag_of(const std::string& digest) {
  return "sha256-" + digest.substr(7);
}

// A cosign simple-signing payload naming `digest`, as cosign writes it.
std::string simple_signing_payload(const std::string& docker_reference, const std::string& digest) {
  return json{{"critical",
               {{"identity", {{"docker-reference", docker_reference}}},
                {"image", {{"docker-manifest-digest", digest}}},
                {"type", "cosign container image signature"}}},
              {"optional", nullptr}}
      .dump();
}

// Layout 1, with the openssl command: `payload` signed by `key` (SHA-256, DER), stored in `repo` as
// the simple-signing manifest of `digest` (tag sha256-<hex>.sig).
void attach_simple_signing(const Keys& keys, RegistryPusher& pusher, const std::string& repo,
                           const std::string& digest, const std::string& key,
                           const std::string& payload) {
  const std::string payload_file = keys.dir.file("payload-" + std::to_string(payload.size()));
  const std::string sig_file = payload_file + ".sig";
  write_file(payload_file, payload);
  const Run sign = run(keys.dir, {"openssl", "dgst", "-sha256", "-sign", keys.key(key), "-out",
                                  sig_file, payload_file});
  BOOST_TEST_REQUIRE(sign.code == 0, sign.output);
  const Desc config = pusher.push_blob(repo, "{}", "application/vnd.oci.image.config.v1+json");
  const Desc layer = pusher.push_blob(repo, payload, std::string(kSimpleSigning));
  const json manifest = {
      {"schemaVersion", 2},
      {"mediaType", kOciManifest},
      {"config",
       {{"mediaType", config.media_type}, {"digest", config.digest}, {"size", config.size}}},
      {"layers",
       {{{"mediaType", kSimpleSigning},
         {"digest", layer.digest},
         {"size", layer.size},
         {"annotations",
          {{"dev.cosignproject.cosign/signature", base64_encode(read_file(sig_file))}}}}}}};
  pusher.push_manifest(repo, tag_of(digest) + ".sig", manifest.dump(), kOciManifest);
}

void sign_simple(const Keys& keys, Stack& s, const std::string& repo, const std::string& digest,
                 const std::string& key) {
  attach_simple_signing(keys, s.pusher, repo, digest, key,
                        simple_signing_payload(s.registry.host() + "/" + repo, digest));
}

// Layout 2, by Sigstore's JavaScript libraries: a DSSE bundle for `digest`, attached as an OCI 1.1
// referrer through the fallback index.
void sign_bundle(const Keys& keys, Stack& s, const std::string& repo, const std::string& digest,
                 const std::string& key) {
  require_node_modules();
  const std::string bundle = keys.dir.file("bundle-" + digest.substr(7, 12) + ".json");
  const Run sign = fixture(keys.dir, {"sign", "--key", keys.key(key), "--digest", digest, "--name",
                                      s.registry.host() + "/" + repo, "--out", bundle});
  BOOST_TEST_REQUIRE(sign.code == 0, sign.output);
  const Run attach = fixture(keys.dir, {"attach", "--bundle", bundle, "--image",
                                        s.registry.host() + "/" + repo + "@" + digest});
  BOOST_TEST_REQUIRE(attach.code == 0, attach.output);
}

// Asks for `app` afresh; the final status, which must be `failed` with `code` and no chunk sent.
json refused(PropletClient& client, const std::string& app, const std::string& code) {
  client.forget(app);
  client.request(app);
  const auto status = client.wait_status(app, kTimeout);
  BOOST_TEST_REQUIRE(status.has_value(), "no final status for " << app);
  BOOST_TEST(status->value("state", "") == "failed", status->dump());
  BOOST_TEST(status->at("error").value("code", "") == code, status->dump());
  return *status;
}

void expect_verified(const json& status, const std::string& key_id, const std::string& format) {
  BOOST_TEST_REQUIRE(status.contains("signature"), status.dump());
  BOOST_TEST(status["signature"].value("verified", false) == true, status.dump());
  BOOST_TEST(status["signature"].value("key", "") == key_id, status.dump());
  BOOST_TEST(status["signature"].value("format", "") == format, status.dump());
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

// One proxy trusting two keys, in enforce mode (the default with keys), and a registry holding
// modules signed every way that must be delivered and every way that must not.
BOOST_AUTO_TEST_CASE(enforce_delivers_only_what_a_trusted_key_signed_for_that_digest) {
  Keys keys({"release", "ci", "stranger"});
  Stack s;
  const std::string w1 = random_wasm(40'000, 1601), w2 = random_wasm(9'000, 1602),
                    w3 = random_wasm(5'000, 1603), w4 = random_wasm(5'000, 1604),
                    w5 = random_wasm(5'000, 1605), w6 = random_wasm(5'000, 1606),
                    w7 = random_wasm(5'000, 1607);
  // Layout 1 by the first key, layout 2 by the second: either key is enough.
  const std::string d1 = push_app(s.pusher, "simple", "v1", w1);
  sign_simple(keys, s, "simple", d1, "release");
  const std::string d2 = push_app(s.pusher, "bundled", "v1", w2);
  sign_bundle(keys, s, "bundled", d2, "ci");
  // Unsigned; signed by a key the fleet does not trust (both layouts).
  push_app(s.pusher, "unsigned", "v1", w3);
  const std::string d4 = push_app(s.pusher, "stranger", "v1", w4);
  sign_simple(keys, s, "stranger", d4, "stranger");
  sign_bundle(keys, s, "stranger", d4, "stranger");
  // A valid signature copied from another image: it names that image's digest.
  const std::string d5 = push_app(s.pusher, "copied", "v1", w5);
  attach_simple_signing(keys, s.pusher, "copied", d5, "release",
                        simple_signing_payload(s.registry.host() + "/simple", d1));
  // Signed, then the tag moved to another module.
  const std::string d6 = push_app(s.pusher, "moved", "v1", w6);
  sign_simple(keys, s, "moved", d6, "release");
  push_app(s.pusher, "moved", "v1", w7);
  // An image index signed at the index's digest (what `cosign sign` does given its tag); the
  // platform manifest the proxy follows is not signed itself.
  const std::string platform_manifest = push_app(s.pusher, "indexed", "platform", w2);
  const json index = {{"schemaVersion", 2},
                      {"mediaType", kIndex},
                      {"manifests",
                       {{{"mediaType", kOciManifest},
                         {"digest", platform_manifest},
                         {"size", http_get(s.registry.url() + "/v2/indexed/manifests/platform",
                                           {"Accept: " + std::string(kOciManifest)}, kTimeout)
                                      .body.size()},
                         {"platform", {{"os", "wasi"}, {"architecture", "wasm"}}}}}}};
  const std::string index_digest = s.pusher.push_manifest("indexed", "v1", index.dump(), kIndex);
  sign_simple(keys, s, "indexed", index_digest, "release");

  s.start_proxy({"PROXY_SIGNATURE_KEYS=" + keys.pub("release") + "," + keys.pub("ci"),
                 keys.markers_unchecked()});
  for (const char* k : {"release", "ci"}) {
    BOOST_TEST(s.proxy->wait_log("trusted key key=" + keys.id(k), kTimeout), s.proxy->log());
  }
  BOOST_TEST(s.proxy->wait_log("signatures checked mode=enforce", kTimeout));
  PropletClient client(s.broker.url(), s.channel);

  expect_verified(fetch(client, s.ref("simple", "v1"), w1), keys.id("release"), "simplesigning");
  expect_verified(fetch(client, s.ref("bundled", "v1"), w2), keys.id("ci"), "bundle");
  expect_verified(fetch(client, s.ref("indexed", "v1"), w2), keys.id("release"), "simplesigning");

  const json none = refused(client, s.ref("unsigned", "v1"), "unsigned");
  BOOST_TEST(contains(none["error"].value("message", ""), "no signature found"), none.dump());
  const json other = refused(client, s.ref("stranger", "v1"), "signature_invalid");
  BOOST_TEST(contains(other["error"].value("message", ""), "2 signatures, none valid"),
             other.dump());
  BOOST_TEST(contains(other["error"].value("message", ""), keys.id("release")), other.dump());
  const json copied = refused(client, s.ref("copied", "v1"), "signature_invalid");
  BOOST_TEST(contains(copied["error"].value("message", ""), "for another module (" + d1),
             copied.dump());
  refused(client, s.ref("moved", "v1"), "unsigned");
  // Pinned to the digest that was signed, the moved tag's old module is still delivered.
  expect_verified(fetch(client, s.registry.host() + "/moved@" + d6, w6), keys.id("release"),
                  "simplesigning");

  // A refused module publishes nothing: everything the proxy will send has arrived by now.
  s.drain(client);
  for (const char* repo : {"unsigned", "stranger", "copied", "moved"}) {
    BOOST_TEST(client.snapshot(s.ref(repo, "v1")).received == 0u, repo);
  }
  BOOST_TEST(metric(*s.proxy, R"(propeller_proxy_signature_checks_total{result="verified"})") >= 4);
  BOOST_TEST(metric(*s.proxy, R"(propeller_proxy_signature_checks_total{result="unsigned"})") == 2);
  BOOST_TEST(metric(*s.proxy, R"(propeller_proxy_signature_checks_total{result="invalid"})") == 2);
  BOOST_TEST(metric(*s.proxy, R"(propeller_proxy_errors_total{code="unsigned"})") == 2);
  // Refused requests are refused again within the TTL without searching the registry again.
  const int sig_gets = s.registry.count_requests("GET", "/manifests/" + tag_of(d4) + ".sig");
  refused(client, s.ref("stranger", "v1"), "signature_invalid");
  BOOST_TEST(s.registry.count_requests("GET", "/manifests/" + tag_of(d4) + ".sig") == sig_gets);
}

// Audit mode checks, reports and logs, and delivers anyway.
BOOST_AUTO_TEST_CASE(audit_delivers_and_reports) {
  Keys keys({"release", "stranger"});
  Stack s;
  const std::string w1 = random_wasm(7'000, 1611), w2 = random_wasm(7'000, 1612);
  push_app(s.pusher, "unsigned", "v1", w1);
  const std::string d2 = push_app(s.pusher, "stranger", "v1", w2);
  sign_simple(keys, s, "stranger", d2, "stranger");
  s.start_proxy({"PROXY_SIGNATURE_KEYS=" + keys.pub("release"), "PROXY_SIGNATURE_MODE=audit"});
  PropletClient client(s.broker.url(), s.channel);

  const json none = fetch(client, s.ref("unsigned", "v1"), w1);
  BOOST_TEST_REQUIRE(none.contains("signature"), none.dump());
  BOOST_TEST(none["signature"].value("verified", true) == false, none.dump());
  BOOST_TEST(none["signature"].value("result", "") == "unsigned", none.dump());
  BOOST_TEST(contains(none["signature"].value("reason", ""), "no signature found"), none.dump());
  const json other = fetch(client, s.ref("stranger", "v1"), w2);
  BOOST_TEST(other["signature"].value("result", "") == "invalid", other.dump());
  BOOST_TEST(s.proxy->wait_log("module delivered without a verified signature", kTimeout));
}

// The verdict is kept in the cache with the resolution: a verified module is served with the
// registry stopped, with its verdict; one the cache never verified is not.
BOOST_AUTO_TEST_CASE(a_cached_verified_module_is_served_with_the_registry_stopped) {
  Keys keys({"release"});
  Stack s;
  TempDir cache("pp-sig-cache-");
  const std::string w1 = random_wasm(20'000, 1621), w2 = random_wasm(3'000, 1622);
  const std::string d1 = push_app(s.pusher, "app", "v1", w1);
  sign_simple(keys, s, "app", d1, "release");
  push_app(s.pusher, "plain", "v1", w2);
  // Cached while signatures were not checked: no verdict in its record.
  s.start_proxy({"PROXY_CACHE_DIR=" + cache.path()});
  PropletClient client(s.broker.url(), s.channel);
  BOOST_TEST(!fetch(client, s.ref("plain", "v1"), w2).contains("signature"));

  s.start_proxy({"PROXY_CACHE_DIR=" + cache.path(), "PROXY_HTTP_RETRIES=0",
                 "PROXY_SIGNATURE_KEYS=" + keys.pub("release")});
  expect_verified(fetch(client, s.ref("app", "v1"), w1), keys.id("release"), "simplesigning");
  s.registry.stop();
  const json cached = fetch(client, s.ref("app", "v1"), w1);
  BOOST_TEST(cached.value("cached", false) == true, cached.dump());
  expect_verified(cached, keys.id("release"), "simplesigning");
  const json pinned = fetch(client, s.registry.host() + "/app@" + d1, w1);
  expect_verified(pinned, keys.id("release"), "simplesigning");
  // The module is in the cache, but nothing says a trusted key signed it.
  const json unverified = refused(client, s.ref("plain", "v1"), "registry_unavailable");
  BOOST_TEST(contains(unverified["error"].value("message", ""), "no signature verdict"),
             unverified.dump());
  BOOST_TEST(client.snapshot(s.ref("plain", "v1")).received == 0u);
}

// `propeller-proxy verify REF` prints the verdict the proxy would reach, and a key that does not
// load stops serve with exit status 2 naming the setting and the file.
BOOST_AUTO_TEST_CASE(verify_prints_the_verdict_and_bad_keys_stop_the_proxy) {
  Keys keys({"release"});
  Stack s;
  const std::string d1 = push_app(s.pusher, "app", "v1", random_wasm(2'000, 1631));
  sign_bundle(keys, s, "app", d1, "release");
  push_app(s.pusher, "unsigned", "v1", random_wasm(2'000, 1632));
  const std::vector<std::string> env = {"-PROPLET_CHANNEL_ID", "-PROXY_LOG_LEVEL",
                                        "PROXY_REGISTRY_URL=" + s.registry.url(),
                                        "PROXY_SIGNATURE_KEYS=" + keys.pub("release")};
  const Run good = run(keys.dir, {PP_PROXY_BINARY, "verify", s.ref("app", "v1")}, env);
  BOOST_TEST(good.code == 0, good.output);
  BOOST_TEST(contains(good.output, "verified: bundle signature by key " + keys.id("release")),
             good.output);
  const Run bad = run(keys.dir, {PP_PROXY_BINARY, "verify", s.ref("unsigned", "v1")}, env);
  BOOST_TEST(bad.code == 1, bad.output);
  BOOST_TEST(contains(bad.output, "unsigned: no signature found"), bad.output);
  BOOST_TEST(contains(bad.output, "would refuse it"), bad.output);

  const std::string not_a_key = keys.dir.file("not-a-key.pub");
  write_file(not_a_key, "hello\n");
  for (const auto& [setting, file] : std::vector<std::pair<std::string, std::string>>{
           {"PROXY_SIGNATURE_KEYS=" + not_a_key, not_a_key},
           {"PROXY_SIGNATURE_KEYS=" + keys.dir.file("missing.pub"), keys.dir.file("missing.pub")},
           {"PROXY_SIGNATURE_MODE=strict", "strict"}}) {
    const Run serve =
        run(keys.dir, {PP_PROXY_BINARY, "serve"},
            {"PROPLET_CHANNEL_ID=c", "PROXY_HTTP_PORT=0", setting,
             "PROPLET_MQTT_ADDRESS=" + s.broker.url(), "PROXY_REGISTRY_URL=" + s.registry.url()});
    BOOST_TEST(serve.code == 2, serve.output);
    BOOST_TEST(contains(serve.output, setting.substr(0, setting.find('='))), serve.output);
    BOOST_TEST(contains(serve.output, file), serve.output);
  }
}

// A refusal holds for PROXY_MANIFEST_TTL, then the registry is searched again: a signature pushed
// after the image is found. A verdict holds for the keys it was reached with: a proxy trusting
// other keys checks a cached module again.
BOOST_AUTO_TEST_CASE(refusals_expire_and_verdicts_hold_for_their_keys_only) {
  Keys keys({"release", "next"});
  Stack s;
  TempDir cache("pp-sig-cache-");
  const std::string wasm = random_wasm(6'000, 1641);
  const std::string digest = push_app(s.pusher, "late", "v1", wasm);
  s.start_proxy({"PROXY_CACHE_DIR=" + cache.path(), "PROXY_MANIFEST_TTL=1s",
                 "PROXY_SIGNATURE_KEYS=" + keys.pub("release")});
  PropletClient client(s.broker.url(), s.channel);
  const std::string app = s.ref("late", "v1");
  refused(client, app, "unsigned");
  sign_simple(keys, s, "late", digest, "release");
  std::optional<json> status;
  for (const auto deadline = std::chrono::steady_clock::now() + 30s;
       std::chrono::steady_clock::now() < deadline;) {
    client.forget(app);
    client.request(app);
    status = client.wait_status(app, kTimeout);
    BOOST_TEST_REQUIRE(status.has_value(), "no final status for " << app);
    if (status->value("state", "") == "completed") break;
    BOOST_TEST(status->at("error").value("code", "") == "unsigned", status->dump());
    std::this_thread::sleep_for(200ms);
  }
  BOOST_TEST_REQUIRE(status->value("state", "") == "completed", status->dump());
  expect_verified(*status, keys.id("release"), "simplesigning");

  // The digest's record says "verified" for the release key, which this proxy does not trust.
  s.start_proxy({"PROXY_CACHE_DIR=" + cache.path(), "PROXY_SIGNATURE_KEYS=" + keys.pub("next")});
  const json other = refused(client, s.registry.host() + "/late@" + digest, "signature_invalid");
  BOOST_TEST(contains(other["error"].value("message", ""), keys.id("next")), other.dump());
}

// A request that joins a transfer under way shares its verdict: the relay holds the download back
// until the second request has joined, and both requesters are told who signed what they got.
BOOST_AUTO_TEST_CASE(a_request_that_joins_shares_the_verdict) {
  constexpr std::size_t kChunk = 16384;
  Keys keys({"release"});
  Stack s;
  const std::string wasm = random_wasm(1u << 20, 1651);
  const std::string digest = push_app(s.pusher, "shared", "v1", wasm);
  sign_simple(keys, s, "shared", digest, "release");
  // The manifest and the signature artifacts are a few KiB: room for them and a few chunks.
  FaultRelay relay({.target_port = s.registry.port(), .budget = 4 * kChunk + 64 * 1024});
  s.start_proxy({"PROXY_REGISTRY_URL=http://" + relay.host(),
                 "PROXY_CHUNK_SIZE=" + std::to_string(kChunk),
                 "PROXY_SIGNATURE_KEYS=" + keys.pub("release")});
  const std::string app = relay.host() + "/shared:v1";
  auto clients = PropletClient::connect_many(s.broker.url(), {s.channel, s.channel});
  clients[0]->request(app);
  BOOST_TEST_REQUIRE(clients[0]->wait_message_count(2, kTimeout));
  clients[1]->forget(app);
  clients[1]->request(app);
  BOOST_TEST_REQUIRE(s.proxy->wait_log("request joined a transfer under way", kTimeout));
  relay.open();
  for (auto& client : clients) {
    BOOST_TEST((client->wait_complete(app, kTimeout) == std::optional<std::string>(wasm)));
    const auto status = client->wait_status(app, kTimeout);
    BOOST_TEST_REQUIRE(status.has_value());
    expect_verified(*status, keys.id("release"), "simplesigning");
  }
  // One search, for both.
  BOOST_TEST(metric(*s.proxy, R"(propeller_proxy_signature_checks_total{result="verified"})") == 1);
}
