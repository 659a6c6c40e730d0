// Smoke test of the token server against the real docker-registry in `auth: token:` mode: the
// registry must accept its ES256 tokens, enforce their scopes, expiry and signer, and the token
// endpoint must implement the GET (Basic) and OAuth2 POST flows.
#define BOOST_TEST_MODULE token_server_smoke
#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "tests/support/print_optional.hpp"
#include "tests/support/registry.hpp"
#include "tests/support/registry_push.hpp"
#include "tests/support/token_server.hpp"

using namespace pp::test;

namespace {

constexpr std::string_view kScope = "repository:smoke/app:pull,push";

RegistryOptions registry_options(const TokenServer& ts) {
  return {.extra_yaml = ts.registry_yaml(), .files = {{"token.crt", ts.certificate_pem()}}};
}

std::string token_url(const TokenServer& ts, std::string_view scope) {
  std::string url = ts.realm() + "?service=pp-test-registry";
  if (!scope.empty()) url += "&scope=" + std::string(scope);
  return url;
}

// GETs a token from the realm; checks the 200 answer and returns the token.
std::string fetch_token(const TokenServer& ts, std::string_view scope,
                        const std::vector<std::string>& headers, std::string_view field = "token") {
  const HttpResponse r = http_get(token_url(ts, scope), headers);
  BOOST_TEST_REQUIRE(r.status == 200, r.body);
  const auto body = nlohmann::json::parse(r.body);
  BOOST_TEST_REQUIRE(body.contains(std::string(field)), r.body);
  BOOST_TEST(body.at("expires_in") == ts.options().expires_in);
  BOOST_TEST(body.at("issued_at").get<std::string>().size() == 20U);  // 2024-01-02T03:04:05Z
  return body.at(std::string(field)).get<std::string>();
}

std::string bearer(const std::string& token) {
  return "Authorization: Bearer " + token;
}

HttpResponse get_manifest(const Registry& reg, const std::string& repo, const std::string& token) {
  std::vector<std::string> headers{"Accept: " + std::string(kOciManifest)};
  if (!token.empty()) headers.push_back(bearer(token));
  return http_get(reg.url() + "/v2/" + repo + "/manifests/v1", headers);
}

HttpResponse post_form(const TokenServer& ts, const std::string& form) {
  return http_request("POST", ts.realm(), {"Content-Type: application/x-www-form-urlencoded"},
                      form);
}

}  // namespace

BOOST_AUTO_TEST_CASE(registry_accepts_tokens_and_enforces_scopes) {
  TokenServer ts({.username = "alice", .password = "s3cret"});
  Registry reg(registry_options(ts));

  const HttpResponse anonymous = http_get(reg.url() + "/v2/");
  BOOST_TEST(anonymous.status == 401);
  BOOST_TEST(anonymous.header("WWW-Authenticate") ==
             std::optional<std::string>("Bearer realm=\"" + ts.realm() +
                                        "\",service=\"pp-test-registry\""));

  const std::string token = fetch_token(ts, kScope, {"Authorization: " + ts.basic_authorization()});
  BOOST_TEST(ts.tokens_issued() == 1);
  BOOST_TEST(ts.refusals() == 0);
  BOOST_TEST(ts.scopes_seen() == std::vector<std::string>{std::string(kScope)});

  BOOST_TEST(http_get(reg.url() + "/v2/", {bearer(token)}).status == 200);

  RegistryPusher pusher(reg.url());
  BOOST_CHECK_THROW(pusher.push_blob("smoke/app", "x"), std::runtime_error);  // no token yet
  pusher.set_authorization("Bearer " + token);
  const std::string wasm = random_wasm(4096, 7);
  const Desc layer = pusher.push_wasm("smoke/app", "v1", wasm);

  const HttpResponse manifest = get_manifest(reg, "smoke/app", token);
  BOOST_TEST(manifest.status == 200, manifest.body);
  BOOST_TEST(manifest.body.find(layer.digest) != std::string::npos);
  const HttpResponse blob =
      http_get(reg.url() + "/v2/smoke/app/blobs/" + layer.digest, {bearer(token)});
  BOOST_TEST(blob.status == 200);
  BOOST_TEST((blob.body == wasm));

  // Without a token the registry challenges with the scope it needs.
  const HttpResponse challenged = get_manifest(reg, "smoke/app", "");
  BOOST_TEST(challenged.status == 401);
  BOOST_TEST(challenged.header("WWW-Authenticate")
                 .value_or("")
                 .find("scope=\"repository:smoke/app:pull\"") != std::string::npos);

  // A token for another repository does not open this one.
  const std::string other =
      fetch_token(ts, "repository:other/app:pull", {"Authorization: " + ts.basic_authorization()});
  const int other_status = get_manifest(reg, "smoke/app", other).status;
  BOOST_TEST((other_status == 401 || other_status == 403), other_status);

  // Exactly the requested actions: a pull-only token pulls but cannot push.
  const std::string pull_only = ts.issue("repository:smoke/app:pull");
  BOOST_TEST(get_manifest(reg, "smoke/app", pull_only).status == 200);
  RegistryPusher pull_pusher(reg.url());
  pull_pusher.set_authorization("Bearer " + pull_only);
  BOOST_CHECK_THROW(pull_pusher.push_blob("smoke/app", "y"), std::runtime_error);

  // Several scopes in one request (repeated parameter) are all granted.
  const std::string both =
      fetch_token(ts, "repository:smoke/app:pull&scope=repository:other/app:pull",
                  {"Authorization: " + ts.basic_authorization()});
  BOOST_TEST(get_manifest(reg, "smoke/app", both).status == 200);
  BOOST_TEST(ts.scopes_seen().size() == 4U);
  BOOST_TEST(ts.tokens_issued() == 3);
}

BOOST_AUTO_TEST_CASE(registry_rejects_expired_foreign_and_misaddressed_tokens) {
  TokenServer ts;
  Registry reg(registry_options(ts));
  BOOST_TEST(http_get(reg.url() + "/v2/", {bearer(ts.issue(""))}).status == 200);

  // Signed by a key whose certificate the registry does not trust.
  TokenServer stranger;
  BOOST_TEST(http_get(reg.url() + "/v2/", {bearer(stranger.issue(""))}).status == 401);

  // Expired beyond the registry's 60 s leeway.
  TokenServer expired({.expires_in = -120});
  Registry expired_reg(registry_options(expired));
  BOOST_TEST(http_get(expired_reg.url() + "/v2/", {bearer(expired.issue(""))}).status == 401);

  // Trusted signer, but an issuer or audience (service) the registry does not expect.
  for (const auto& [from, to] : {std::pair{"issuer: pp-test-issuer", "issuer: another-issuer"},
                                 std::pair{"service: pp-test-registry", "service: another"}}) {
    RegistryOptions options = registry_options(ts);
    options.extra_yaml.replace(options.extra_yaml.find(from), std::string_view(from).size(), to);
    Registry other(options);
    BOOST_TEST(http_get(other.url() + "/v2/", {bearer(ts.issue(""))}).status == 401, to);
  }
}

BOOST_AUTO_TEST_CASE(token_endpoint_refuses_bad_credentials) {
  TokenServer ts({.username = "alice", .password = "s3cret"});
  const HttpResponse wrong =
      http_get(token_url(ts, kScope), {"Authorization: Basic YWxpY2U6d3Jvbmc="});  // alice:wrong
  BOOST_TEST(wrong.status == 401);
  BOOST_TEST(nlohmann::json::parse(wrong.body).contains("errors"));
  BOOST_TEST(ts.refusals() == 1);
  BOOST_TEST(http_get(token_url(ts, kScope)).status == 401);  // no credentials at all
  BOOST_TEST(ts.refusals() == 2);
  BOOST_TEST(ts.tokens_issued() == 0);
  BOOST_TEST(ts.scopes_seen().size() == 2U);

  // OAuth2 form POST: password grant, then the refresh token it hands out.
  const HttpResponse password = post_form(
      ts, "grant_type=password&username=alice&password=s3cret&service=pp-test-registry&scope=" +
              std::string(kScope) + "+repository%3Aother%2Fapp%3Apull&client_id=pp");
  BOOST_TEST_REQUIRE(password.status == 200, password.body);
  const auto body = nlohmann::json::parse(password.body);
  BOOST_TEST(body.at("refresh_token") == "refresh-alice");
  BOOST_TEST(body.contains("token"));
  BOOST_TEST(ts.scopes_seen().back() == std::string(kScope) + " repository:other/app:pull");

  const HttpResponse refresh =
      post_form(ts, "grant_type=refresh_token&refresh_token=refresh-alice&service=x&scope=" +
                        std::string(kScope));
  BOOST_TEST(refresh.status == 200, refresh.body);
  BOOST_TEST(post_form(ts, "grant_type=password&username=alice&password=nope").status == 401);
  BOOST_TEST(post_form(ts, "grant_type=refresh_token&refresh_token=refresh-bob").status == 401);
  BOOST_TEST(post_form(ts, "grant_type=client_credentials").status == 400);
  BOOST_TEST(ts.refusals() == 4);
  BOOST_TEST(ts.tokens_issued() == 2);

  // The POSTed token works against the registry.
  Registry reg(registry_options(ts));
  RegistryPusher pusher(reg.url());
  pusher.set_authorization("Bearer " + body.at("token").get<std::string>());
  pusher.push_wasm("smoke/app", "v1", random_wasm(100, 2));
  BOOST_TEST(get_manifest(reg, "smoke/app", body.at("token").get<std::string>()).status == 200);
}

BOOST_AUTO_TEST_CASE(access_token_field_mode) {
  TokenServer ts({.username = "alice", .password = "s3cret", .access_token_field = true});
  Registry reg(registry_options(ts));
  const HttpResponse r =
      http_get(token_url(ts, kScope), {"Authorization: " + ts.basic_authorization()});
  BOOST_TEST_REQUIRE(r.status == 200);
  const auto body = nlohmann::json::parse(r.body);
  BOOST_TEST(!body.contains("token"));
  const std::string token =
      fetch_token(ts, kScope, {"Authorization: " + ts.basic_authorization()}, "access_token");
  BOOST_TEST(http_get(reg.url() + "/v2/", {bearer(token)}).status == 200);
  RegistryPusher pusher(reg.url());
  pusher.set_authorization("Bearer " + token);
  pusher.push_wasm("smoke/app", "v1", random_wasm(100, 3));
  BOOST_TEST(get_manifest(reg, "smoke/app", token).status == 200);
}

BOOST_AUTO_TEST_CASE(anonymous_token_server) {
  TokenServer ts;
  Registry reg(registry_options(ts));
  RegistryPusher pusher(reg.url());
  pusher.set_authorization("Bearer " + ts.issue(kScope));
  pusher.push_wasm("smoke/app", "v1", random_wasm(100, 4));

  const std::string token = fetch_token(ts, "repository:smoke/app:pull", {});
  BOOST_TEST(get_manifest(reg, "smoke/app", token).status == 200);
  BOOST_TEST(ts.refusals() == 0);
  BOOST_TEST(ts.tokens_issued() == 1);
  // No scope: a token that opens only the base endpoint.
  const std::string bare = fetch_token(ts, "", {});
  BOOST_TEST(http_get(reg.url() + "/v2/", {bearer(bare)}).status == 200);
  BOOST_TEST(get_manifest(reg, "smoke/app", bare).status == 401);
}
