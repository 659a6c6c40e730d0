// Registry authentication against a real docker-registry: htpasswd (Basic challenges), token auth
// (Bearer challenges answered by a token server of the tests, anonymous or with credentials, from
// the configuration or from an auth file), token caching, and push through the same client.
#define BOOST_TEST_MODULE registry_auth
#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/integration/stack.hpp"
#include "tests/support/metrics.hpp"
#include "tests/support/token_server.hpp"

using namespace pp::test;
using namespace std::chrono_literals;

namespace {

constexpr auto kTimeout = 30s;
const std::string kUser = "fleet";
const std::string kPassword = "pw-4-fleet";

RegistryOptions token_registry(const TokenServer& ts) {
  return RegistryOptions{.extra_yaml = ts.registry_yaml(),
                         .files = {{"token.crt", ts.certificate_pem()}}};
}

// Requests `app` and returns its status message (completed or failed).
nlohmann::json request_status(Stack& s, const std::string& app) {
  PropletClient client(s.broker.url(), s.channel);
  client.request(app);
  const auto status = client.wait_status(app, kTimeout);
  BOOST_TEST_REQUIRE(status.has_value(), "no status for " << app);
  return *status;
}

std::string error_code(const nlohmann::json& status) {
  return status.contains("error") ? status["error"].value("code", "") : "";
}

}  // namespace

BOOST_AUTO_TEST_CASE(basic_challenge_is_met_with_configured_credentials) {
  Stack s(htpasswd_registry(kUser, kPassword));
  s.pusher.set_authorization("Basic " + base64_encode(kUser + ":" + kPassword));
  const std::string wasm = random_wasm(4000, 1);
  s.pusher.push_wasm("private", "v1", wasm);

  // No PROXY_AUTHENTICATE: the registry's Basic challenge asks for the credentials.
  s.start_proxy({"PROXY_REGISTRY_USERNAME=" + kUser, "PROXY_REGISTRY_PASSWORD=" + kPassword});
  BOOST_TEST(request_status(s, s.ref("private", "v1")).value("state", "") == "completed");

  s.start_proxy({"PROXY_REGISTRY_USERNAME=" + kUser, "PROXY_REGISTRY_PASSWORD=wrong"});
  const auto wrong = request_status(s, s.ref("private", "v1"));
  BOOST_TEST(error_code(wrong) == "unauthorized");

  s.start_proxy();
  const auto none = request_status(s, s.ref("private", "v1"));
  BOOST_TEST(error_code(none) == "unauthorized");
  BOOST_TEST(none["error"].value("message", "").find("PROXY_REGISTRY_USERNAME") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(anonymous_token_flow_and_token_cache) {
  TokenServer ts;  // issues tokens to anyone, as Docker Hub does for public images
  Stack s(token_registry(ts));
  s.pusher.set_authorization("Bearer " + ts.issue("repository:public/app:pull,push"));
  const std::string wasm = random_wasm(300'000, 2);
  s.pusher.push_wasm("public/app", "v1", wasm);
  s.start_proxy({"PROXY_CHUNK_SIZE=100000"});
  PropletClient client(s.broker.url(), s.channel);
  client.request(s.ref("public/app", "v1"));
  BOOST_TEST((client.wait_complete(s.ref("public/app", "v1"), kTimeout) ==
              std::optional<std::string>(wasm)));
  const int after_first = ts.tokens_issued();
  BOOST_TEST(after_first == 1);
  BOOST_TEST(ts.scopes_seen().at(0) == "repository:public/app:pull");
  client.forget(s.ref("public/app", "v1"));
  client.request(s.ref("public/app", "v1"));
  BOOST_TEST((client.wait_complete(s.ref("public/app", "v1"), kTimeout) ==
              std::optional<std::string>(wasm)));
  BOOST_TEST(ts.tokens_issued() == after_first);  // the cached token served the second pull
}

// Requests choose the repositories, and so the token scopes: each scope's token is kept until it
// expires, then dropped, and /metrics counts what is held.
BOOST_AUTO_TEST_CASE(expired_tokens_are_dropped_from_the_cache) {
  TokenServer ts({.expires_in = 6});  // kept for 90 % of that: 5.4 s
  Stack s(token_registry(ts));
  s.pusher.set_authorization("Bearer " + ts.issue("repository:public/app:pull,push"));
  s.pusher.push_wasm("public/app", "v1", random_wasm(2000, 5));
  s.start_proxy();
  const std::string url = "http://127.0.0.1:" + std::to_string(s.proxy->http_port()) + "/metrics";
  const auto tokens = [&] {
    return series(http_get(url, {}, 5s).body, "propeller_proxy_token_cache_entries");
  };
  BOOST_TEST(tokens() == 0);
  BOOST_TEST(request_status(s, s.ref("public/app", "v1")).value("state", "") == "completed");
  // Repositories that do not exist get tokens too (the registry answers 404 only to a token).
  BOOST_TEST(error_code(request_status(s, s.ref("made/up1", "v1"))) == "not_found");
  BOOST_TEST(error_code(request_status(s, s.ref("made/up2", "v1"))) == "not_found");
  BOOST_TEST(ts.tokens_issued() == 3);
  BOOST_TEST(tokens() == 3);
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (tokens() != 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(100ms);
  BOOST_TEST(tokens() == 0);
}

// A token endpoint answering garbage fails the request that needed the token, by name, and the
// proxy goes on: the next request, once the endpoint is sane again, is served.
BOOST_AUTO_TEST_CASE(a_token_endpoint_answering_garbage_is_an_error) {
  TokenServer ts;
  Stack s(token_registry(ts));
  s.pusher.set_authorization("Bearer " + ts.issue("repository:public/app:pull,push"));
  const std::string wasm = random_wasm(3000, 12);
  s.pusher.push_wasm("public/app", "v1", wasm);
  s.start_proxy();
  PropletClient client(s.broker.url(), s.channel);
  const std::string app = s.ref("public/app", "v1");
  struct Case {
    std::string body, code, message;
  };
  const Case cases[] = {
      {"not json", "unauthorized", "the answer holds no token"},
      {"[1,2]", "unauthorized", "the answer holds no token"},
      {"{}", "unauthorized", "the answer holds no token"},
      {R"({"token":5,"access_token":null})", "unauthorized", "the answer holds no token"},
      {R"({"token":""})", "unauthorized", "the answer holds no token"},
      {std::string(200 * 1024, '{'), "registry_unavailable", "token for repository:public/app"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.body.substr(0, 40)) {
      ts.answer_garbage(c.body);
      client.forget(app);
      client.request(app);
      expect_failed(client, app, c.code, c.message, kTimeout);
    }
  }
  ts.answer_garbage("");
  client.forget(app);
  client.request(app);
  BOOST_TEST((client.wait_complete(app, kTimeout) == std::optional<std::string>(wasm)));
}

BOOST_AUTO_TEST_CASE(token_flow_with_credentials_from_config_or_auth_file) {
  for (const bool access_token_field : {false, true}) {
    BOOST_TEST_CONTEXT("access_token field: " << access_token_field) {
      TokenServer ts(
          {.username = kUser, .password = kPassword, .access_token_field = access_token_field});
      Stack s(token_registry(ts));
      s.pusher.set_authorization("Bearer " + ts.issue("repository:team/app:pull,push"));
      const std::string wasm = random_wasm(5000, 3);
      s.pusher.push_wasm("team/app", "v1", wasm);

      s.start_proxy({"PROXY_REGISTRY_USERNAME=" + kUser, "PROXY_REGISTRY_PASSWORD=" + kPassword});
      BOOST_TEST(request_status(s, s.ref("team/app", "v1")).value("state", "") == "completed");

      // The same credentials from an auth file, as podman and docker write it.
      TempDir home("pp-authfile-");
      write_file(home.file("auth.json"), R"({"auths":{")" + s.registry.host() + R"(":{"auth":")" +
                                             base64_encode(kUser + ":" + kPassword) + R"("}}})");
      s.start_proxy({"REGISTRY_AUTH_FILE=" + home.file("auth.json")});
      BOOST_TEST(request_status(s, s.ref("team/app", "v1")).value("state", "") == "completed");

      s.start_proxy();  // no credentials: the token endpoint refuses
      const auto refused = request_status(s, s.ref("team/app", "v1"));
      BOOST_TEST(error_code(refused) == "unauthorized");
      BOOST_TEST(ts.refusals() >= 1);
    }
  }
}

BOOST_AUTO_TEST_CASE(push_uses_the_same_authorisation) {
  TokenServer ts({.username = kUser, .password = kPassword});
  Stack s(token_registry(ts));
  TempDir tmp("pp-push-");
  const std::string wasm = random_wasm(7000, 4);
  write_file(tmp.file("app.wasm"), wasm);
  ChildProcess push(
      {PP_PROXY_BINARY, "push", tmp.file("app.wasm"), s.ref("pushed/app", "v1"), "--registry-url",
       s.registry.url(), "--registry-username", kUser, "--registry-password", kPassword},
      {"HOME=/nonexistent", "-REGISTRY_AUTH_FILE"}, tmp.file("push.log"));
  BOOST_TEST_REQUIRE(push.wait_exit(30s).value_or(-1) == 0, push.log());
  s.start_proxy({"PROXY_REGISTRY_USERNAME=" + kUser, "PROXY_REGISTRY_PASSWORD=" + kPassword});
  PropletClient client(s.broker.url(), s.channel);
  client.request(s.ref("pushed/app", "v1"));
  BOOST_TEST((client.wait_complete(s.ref("pushed/app", "v1"), kTimeout) ==
              std::optional<std::string>(wasm)));
}
