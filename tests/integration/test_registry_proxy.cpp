// Registry traffic through an HTTP forward proxy named by the standard environment variables
// (HTTPS_PROXY, http_proxy/HTTP_PROXY, NO_PROXY). The product takes them from its environment at
// start and hands them to libcurl explicitly, so that Paho (which reads http_proxy and https_proxy
// too, ignores no_proxy and misparses an "http://" https_proxy) connects to the broker directly.
//
// libcurl 7.88 (Debian 12) does not exempt loopback on its own: without NO_PROXY it sends requests
// for 127.0.0.1 and localhost to the proxy too (checked with the curl command line against a
// listening socket). So the registry can stay on 127.0.0.1 here and still be proxied.
#define BOOST_TEST_MODULE registry_proxy
#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include "tests/integration/stack.hpp"
#include "tests/support/certs.hpp"
#include "tests/support/http_proxy.hpp"

using namespace pp::test;
using namespace std::chrono_literals;

namespace {

constexpr auto kTimeout = 30s;

// Whatever the machine running the tests has set must not decide where requests go.
const std::vector<std::string> kNoInheritedProxy = {"-http_proxy",  "-HTTP_PROXY", "-https_proxy",
                                                    "-HTTPS_PROXY", "-all_proxy",  "-ALL_PROXY",
                                                    "-no_proxy",    "-NO_PROXY"};

std::vector<std::string> env_with(std::vector<std::string> settings) {
  std::vector<std::string> env = kNoInheritedProxy;
  env.insert(env.end(), settings.begin(), settings.end());
  return env;
}

// With the product's push command (it speaks TLS like the proxy), directly: only the proxy under
// test is given the forward proxy, so its counters count the proxy's requests alone.
void push_tls(const Certs& certs, const std::string& registry_url, const std::string& ref,
              const std::string& wasm) {
  TempDir tmp("pp-proxy-push-");
  write_file(tmp.file("app.wasm"), wasm);
  ChildProcess p({PP_PROXY_BINARY, "push", tmp.file("app.wasm"), ref, "--registry-url",
                  registry_url, "--registry-ca-file", certs.file("ca.crt")},
                 env_with({"HOME=/nonexistent"}), tmp.file("push.log"));
  BOOST_TEST_REQUIRE(p.wait_exit(30s).value_or(-1) == 0, p.log());
}

// Requests `app` and checks the reassembled module is `wasm`, byte for byte.
void expect_delivered(Stack& s, const std::string& app, const std::string& wasm) {
  PropletClient client(s.broker.url(), s.channel);
  client.request(app);
  const auto got = client.wait_complete(app, kTimeout);
  BOOST_TEST_REQUIRE(got.has_value(), "no complete module for " << app << ":\n" << s.proxy->log());
  BOOST_TEST((*got == wasm), "reassembled bytes differ for " << app);
  const auto a = client.snapshot(app);
  BOOST_TEST(a.digest == sha256_digest(wasm));
  BOOST_TEST(a.size == wasm.size());
  BOOST_TEST(a.rejected == 0u);
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items)
    out += item + "\n";
  return out;
}

// An HTTPS registry holding `wasm` as `repo`:v1, and the proxy's settings to reach it.
struct TlsRegistry {
  TlsRegistry(const std::string& repo, const std::string& wasm_)
      : s(tls_registry(certs)), app(s.ref(repo, "v1")), wasm(wasm_) {
    push_tls(certs, url(), app, wasm);
  }
  std::string url() const { return "https://" + s.registry.host(); }
  std::vector<std::string> env(std::vector<std::string> extra) const {
    extra.push_back("PROXY_REGISTRY_URL=" + url());
    extra.push_back("PROXY_REGISTRY_CA_FILE=" + certs.file("ca.crt"));
    return env_with(std::move(extra));
  }

  Certs certs;
  Stack s;
  const std::string app;
  const std::string wasm;
};

}  // namespace

BOOST_AUTO_TEST_CASE(https_registry_through_https_proxy) {
  TlsRegistry r("proxied/app", random_wasm(300'000, 21));
  Stack& s = r.s;
  const std::string& app = r.app;
  const std::string& wasm = r.wasm;

  HttpProxy forward;
  s.start_proxy(r.env({"HTTPS_PROXY=" + forward.url()}));
  expect_delivered(s, app, wasm);

  // Only tunnels to the registry: TLS runs end to end through them, so the certificate checked
  // is the registry's own, and nothing was sent to the proxy in the clear.
  const auto targets = forward.targets();
  BOOST_TEST(forward.tunnels() >= 1);
  BOOST_TEST(forward.forwarded() == 0);
  BOOST_TEST(forward.refused() == 0);
  BOOST_TEST(static_cast<int>(targets.size()) == forward.tunnels());
  for (const auto& target : targets)
    BOOST_TEST(target == s.registry.host());

  // A proxy that cannot be reached is an error: curl does not quietly fall back to a direct
  // connection, so the variable really decides the route.
  const ReservedPort nobody;  // a port that refuses connections, whoever else runs beside us
  s.start_proxy(r.env(
      {"HTTPS_PROXY=http://127.0.0.1:" + std::to_string(nobody.port()), "PROXY_HTTP_RETRIES=0"}));
  PropletClient client(s.broker.url(), s.channel);
  client.request(app);
  const auto status = client.wait_status(app, kTimeout);
  BOOST_TEST_REQUIRE(status.has_value());
  BOOST_TEST((*status)["error"].value("code", "") == "registry_unavailable", status->dump());
  BOOST_TEST(client.snapshot(app).received == 0u);
}

BOOST_AUTO_TEST_CASE(no_proxy_bypasses_the_proxy) {
  TlsRegistry r("direct/app", random_wasm(200'000, 22));
  Stack& s = r.s;

  HttpProxy forward;
  // A list, as operators write it: curl matches the host without its port.
  s.start_proxy(r.env({"HTTPS_PROXY=" + forward.url(), "NO_PROXY=registry.example,127.0.0.1"}));
  expect_delivered(s, r.app, r.wasm);

  BOOST_TEST(forward.tunnels() == 0);
  BOOST_TEST(forward.forwarded() == 0);
  BOOST_TEST(forward.targets().empty(), joined(forward.targets()));
  // The requests did reach the registry, directly.
  BOOST_TEST(s.registry.count_requests("GET", "/v2/direct/app/manifests/v1") >= 1);
}

BOOST_AUTO_TEST_CASE(plain_http_registry_through_http_proxy) {
  Stack s;
  const std::string wasm = random_wasm(250'000, 23);
  const Desc layer = s.pusher.push_wasm("plain/app", "v1", wasm);
  const std::string app = s.ref("plain/app", "v1");

  HttpProxy forward;
  s.start_proxy(env_with({"http_proxy=" + forward.url()}));
  expect_delivered(s, app, wasm);

  // Forwarded as absolute URIs (never tunnelled), the manifest and the layer among them.
  const auto targets = forward.targets();
  const std::string base = "http://" + s.registry.host() + "/v2/plain/app/";
  // No tunnel at all: the broker connection does not go through the proxy (Paho would tunnel it,
  // had the product left http_proxy in its environment).
  BOOST_TEST(forward.refused() == 0);
  BOOST_TEST(forward.tunnels() == 0, joined(targets));
  BOOST_TEST(forward.forwarded() == static_cast<int>(targets.size()));
  BOOST_TEST(forward.forwarded() >= 2);
  for (const auto& target : targets)
    BOOST_TEST(target.starts_with(base), target);
  const auto seen = [&](const std::string& target) {
    return std::find(targets.begin(), targets.end(), target) != targets.end();
  };
  BOOST_TEST(seen(base + "manifests/v1"), joined(targets));
  BOOST_TEST(seen(base + "blobs/" + layer.digest), joined(targets));
  // And the origin answered them: the registry logged the proxied blob download.
  BOOST_TEST(s.registry.count_requests("GET", "/v2/plain/app/blobs/" + layer.digest) >= 1);

  // The upper-case name works too, as in Go programs (the proxy this one replaces).
  const int before = forward.forwarded();
  s.start_proxy(env_with({"HTTP_PROXY=" + forward.url()}));
  expect_delivered(s, app, wasm);
  BOOST_TEST(forward.forwarded() >= before + 2);
  BOOST_TEST(forward.tunnels() == 0);
}

// Paho 1.3.12 reads the lowercase https_proxy for an ssl:// broker but strips only an "https://"
// prefix, so the conventional "http://host:port" value would leave it connecting to a host named
// "http" forever. The product hides the variable from it: the broker is reached directly.
BOOST_AUTO_TEST_CASE(tls_broker_with_lowercase_https_proxy) {
  Certs certs;
  Stack s(RegistryOptions{}, "listener {{port:tls}} 127.0.0.1\ncafile " + certs.file("ca.crt") +
                                 "\ncertfile " + certs.file("server.crt") + "\nkeyfile " +
                                 certs.file("server.key") + "\n");
  const int tls_port = s.broker.listener_port("tls");
  const std::string wasm = random_wasm(100'000, 24);
  s.pusher.push_wasm("tls-broker/app", "v1", wasm);

  HttpProxy forward;
  s.start_proxy(
      env_with({"PROPLET_MQTT_ADDRESS=ssl://127.0.0.1:" + std::to_string(tls_port),
                "PROXY_MQTT_CA_FILE=" + certs.file("ca.crt"), "https_proxy=" + forward.url()}));
  expect_delivered(s, s.ref("tls-broker/app", "v1"), wasm);
  BOOST_TEST(forward.refused() == 0);
  BOOST_TEST(forward.targets().empty(), joined(forward.targets()));
}
