// A token server for docker-registry's `auth: token:` mode (the Docker registry v2 token
// protocol): an in-process cpp-httplib server on a free 127.0.0.1 port that answers
// GET /token?service=...&scope=... (HTTP Basic credentials) and the OAuth2 form POST /token with
// ES256 JWTs, signed by an EC P-256 key whose self-signed certificate the registry trusts through
// `rootcertbundle`. Wire it up with:
//   TokenServer ts({.username = "user", .password = "secret"});
//   Registry reg({.extra_yaml = ts.registry_yaml(),
//                 .files = {{"token.crt", ts.certificate_pem()}}});
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace pp::test {

// TokenServer::Options (at namespace scope: GCC rejects `Options options = {}` as a default
// argument while the enclosing class, and so the member initializers, are incomplete).
struct TokenServerOptions {
  std::string username{};  // empty: tokens for anyone (anonymous pulls)
  std::string password{};
  std::string service = "pp-test-registry";
  std::string issuer = "pp-test-issuer";
  int expires_in = 60;              // seconds, also the JWT exp
  bool access_token_field = false;  // answer {"access_token":...} instead of {"token":...}
};

class TokenServer {
 public:
  using Options = TokenServerOptions;

  // Generates the key and certificate and starts serving; throws std::runtime_error on failure.
  explicit TokenServer(Options options = {});
  ~TokenServer();  // stops the HTTP server thread
  TokenServer(const TokenServer&) = delete;
  TokenServer& operator=(const TokenServer&) = delete;

  int port() const;
  std::string realm() const;  // "http://127.0.0.1:<port>/token"
  const Options& options() const;
  // PEM of the self-signed signing certificate (CN=pp-test-token-issuer).
  const std::string& certificate_pem() const;
  // Fragment for RegistryOptions: extra_yaml = registry_yaml(),
  // files = {{"token.crt", certificate_pem()}}:
  //   auth:\n  token:\n    realm: ...\n    service: ...\n    issuer: ...\n
  //   rootcertbundle: {{dir}}/token.crt\n
  std::string registry_yaml() const;

  // Mints a token directly (no HTTP, not counted in tokens_issued): `scope` holds zero or more
  // space-separated scopes such as "repository:smoke/app:pull,push"; each grants exactly its
  // actions. `subject` becomes the "sub" claim (default: the configured username).
  std::string issue(std::string_view scope) const;
  std::string issue(std::string_view scope, const std::string& subject) const;
  // "Basic <base64(username:password)>" for the configured credentials.
  std::string basic_authorization() const;

  // From now on every request is answered 200 with `body` instead of a token (a broken token
  // endpoint); empty: tokens again.
  void answer_garbage(std::string body);

  // Tokens answered over HTTP (GET and POST).
  int tokens_issued() const;
  // Requests answered 401 (bad or missing credentials).
  int refusals() const;
  // The scope parameter values of all requests, in arrival order (a repeated parameter adds one
  // entry per value; a request without scope adds none).
  std::vector<std::string> scopes_seen() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace pp::test
