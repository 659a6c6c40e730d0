// Registries over HTTPS: a private CA (PROXY_REGISTRY_CA_FILE), an untrusted certificate (refused,
// unless PROXY_REGISTRY_INSECURE, which is warned about), and mutual TLS with a client certificate
// (PROXY_REGISTRY_CERT_FILE/KEY_FILE), against docker-registry serving TLS.
#define BOOST_TEST_MODULE registry_tls
#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include "tests/integration/stack.hpp"
#include "tests/support/certs.hpp"

using namespace pp::test;
using namespace std::chrono_literals;

namespace {

constexpr auto kTimeout = 30s;

// Pushes with the product's own push command, which speaks TLS like the proxy.
void push(const std::string& registry_url, const std::string& ref, const std::string& wasm,
          std::vector<std::string> tls_flags) {
  TempDir tmp("pp-tls-push-");
  write_file(tmp.file("app.wasm"), wasm);
  std::vector<std::string> argv = {PP_PROXY_BINARY,  "push",      tmp.file("app.wasm"), ref,
                                   "--registry-url", registry_url};
  argv.insert(argv.end(), tls_flags.begin(), tls_flags.end());
  ChildProcess p(argv, {"HOME=/nonexistent"}, tmp.file("push.log"));
  BOOST_TEST_REQUIRE(p.wait_exit(30s).value_or(-1) == 0, p.log());
}

nlohmann::json status_of(Stack& s, const std::string& app) {
  PropletClient client(s.broker.url(), s.channel);
  client.request(app);
  const auto status = client.wait_status(app, kTimeout);
  BOOST_TEST_REQUIRE(status.has_value());
  return *status;
}

}  // namespace

BOOST_AUTO_TEST_CASE(https_registry_with_a_private_ca) {
  Certs certs;
  Stack s(tls_registry(certs, false));
  const std::string url = "https://" + s.registry.host();
  const std::string app = s.ref("tls/app", "v1");
  push(url, app, random_wasm(8000, 1), {"--registry-ca-file", certs.file("ca.crt")});

  s.start_proxy({"PROXY_REGISTRY_URL=" + url, "PROXY_REGISTRY_CA_FILE=" + certs.file("ca.crt")});
  BOOST_TEST(status_of(s, app).value("state", "") == "completed");

  s.start_proxy({"PROXY_REGISTRY_URL=" + url});  // the system's CAs do not know this one
  const auto refused = status_of(s, app);
  BOOST_TEST(refused["error"].value("code", "") == "registry_unavailable");
  BOOST_TEST(refused["error"].value("message", "").find("certificate") != std::string::npos,
             refused.dump());

  s.start_proxy({"PROXY_REGISTRY_URL=" + url, "PROXY_REGISTRY_INSECURE=true"});
  BOOST_TEST(status_of(s, app).value("state", "") == "completed");
  BOOST_TEST(s.proxy->log().find("NOT verified") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(mutual_tls_with_the_registry) {
  Certs certs;
  Stack s(tls_registry(certs, true));
  const std::string url = "https://" + s.registry.host();
  const std::string app = s.ref("mtls/app", "v1");
  const std::vector<std::string> client_cert = {"--registry-ca-file",   certs.file("ca.crt"),
                                                "--registry-cert-file", certs.file("client.crt"),
                                                "--registry-key-file",  certs.file("client.key")};
  push(url, app, random_wasm(6000, 2), client_cert);

  s.start_proxy({"PROXY_REGISTRY_URL=" + url, "PROXY_REGISTRY_CA_FILE=" + certs.file("ca.crt"),
                 "PROXY_REGISTRY_CERT_FILE=" + certs.file("client.crt"),
                 "PROXY_REGISTRY_KEY_FILE=" + certs.file("client.key")});
  BOOST_TEST(status_of(s, app).value("state", "") == "completed");

  s.start_proxy({"PROXY_REGISTRY_URL=" + url, "PROXY_REGISTRY_CA_FILE=" + certs.file("ca.crt"),
                 "PROXY_HTTP_RETRIES=0"});  // no client certificate: refused in the handshake
  BOOST_TEST(status_of(s, app)["error"].value("code", "") == "registry_unavailable");
}
