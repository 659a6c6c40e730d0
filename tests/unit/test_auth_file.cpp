#define BOOST_TEST_MODULE auth_file
#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nodes/clients/oci/auth_file.hpp"
#include "tests/support/temp_dir.hpp"

namespace fs = std::filesystem;
using pp::oci::auth_file_candidates;
using pp::oci::Credentials;
using pp::oci::credentials_from_json;
using pp::oci::EnvGet;
using pp::oci::find_credentials;
using pp::test::TempDir;

namespace {

using Env = std::map<std::string, std::string>;

// An EnvGet over a fixed map (an entry with an empty value counts as set-but-empty).
EnvGet fake_env(Env vars) {
  return [vars = std::move(vars)](const char* name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::string render(const std::optional<Credentials>& c) {
  if (!c) return "none";
  return "user=[" + c->username + "] password=[" + c->password + "] token=[" + c->identity_token +
         "]";
}

std::optional<Credentials> creds(std::string user, std::string password, std::string token = {}) {
  return Credentials{std::move(user), std::move(password), std::move(token)};
}

// base64 of the user:password pairs used below.
const std::string user_pass = "dXNlcjpwYXNz";       // user:pass
const std::string alice = "YWxpY2U6czNjcjN0";       // alice:s3cr3t
const std::string hub = "aHViOmh1YnB3";             // hub:hubpw
const std::string legacy = "bGVnYWN5OmxlZ2FjeXB3";  // legacy:legacypw

std::string auths(const std::string& key, const std::string& auth) {
  return R"({"auths":{")" + key + R"(":{"auth":")" + auth + R"("}}})";
}

struct JsonCase {
  std::string name;
  std::string json;
  std::string registry;
  std::optional<Credentials> expected;
};

std::vector<JsonCase> json_cases() {
  const std::string ghcr = "ghcr.io";
  const std::string hub_host = "registry-1.docker.io";
  return {
      // Key forms.
      {"exact host", auths("ghcr.io", user_pass), ghcr, creds("user", "pass")},
      {"exact host and port", auths("localhost:5000", user_pass), "localhost:5000",
       creds("user", "pass")},
      {"https scheme", auths("https://ghcr.io", user_pass), ghcr, creds("user", "pass")},
      {"http scheme", auths("http://localhost:5000", user_pass), "localhost:5000",
       creds("user", "pass")},
      {"path", auths("ghcr.io/v2/", user_pass), ghcr, creds("user", "pass")},
      {"scheme and path", auths("https://ghcr.io/v1/", user_pass), ghcr, creds("user", "pass")},
      {"host letter case", auths("GHCR.io", user_pass), ghcr, creds("user", "pass")},
      {"other host", auths("quay.io", user_pass), ghcr, std::nullopt},
      {"port must match", auths("localhost:5001", user_pass), "localhost:5000", std::nullopt},
      {"host without port is another registry", auths("localhost", user_pass), "localhost:5000",
       std::nullopt},
      {"suffix is not a match", auths("evil-ghcr.io", user_pass), ghcr, std::nullopt},
      // Docker Hub and its legacy names.
      {"hub docker.io", auths("docker.io", hub), hub_host, creds("hub", "hubpw")},
      {"hub index.docker.io", auths("index.docker.io", hub), hub_host, creds("hub", "hubpw")},
      {"hub legacy v1 url", auths("https://index.docker.io/v1/", hub), hub_host,
       creds("hub", "hubpw")},
      {"hub registry-1", auths("registry-1.docker.io", hub), hub_host, creds("hub", "hubpw")},
      {"hub names are not other registries' names", auths("docker.io", hub), ghcr, std::nullopt},
      {"exact key preferred over legacy hub key",
       R"({"auths":{"https://index.docker.io/v1/":{"auth":")" + legacy +
           R"("},"registry-1.docker.io":{"auth":")" + hub + R"("}}})",
       hub_host, creds("hub", "hubpw")},
      {"exact key preferred over scheme form",
       R"({"auths":{"https://ghcr.io":{"auth":")" + legacy + R"("},"ghcr.io":{"auth":")" + alice +
           R"("}}})",
       ghcr, creds("alice", "s3cr3t")},
      {"unusable exact entry gives way to another match",
       R"({"auths":{"ghcr.io":{},"https://ghcr.io/v2/":{"auth":")" + alice + R"("}}})", ghcr,
       creds("alice", "s3cr3t")},
      // Entries.
      {"password with colons", auths("ghcr.io", "dXNlcjpwYTpzcw=="), ghcr, creds("user", "pa:ss")},
      {"unpadded base64", auths("ghcr.io", "dXNlcjpwYTpzcw"), ghcr, creds("user", "pa:ss")},
      {"empty password", auths("ghcr.io", "Ym9iOg=="), ghcr, creds("bob", "")},
      {"identity token",
       R"({"auths":{"ghcr.io":{"auth":"PHRva2VuPjo=","identitytoken":"refresh-123"}}})", ghcr,
       creds("<token>", "", "refresh-123")},
      {"identity token alone", R"({"auths":{"ghcr.io":{"identitytoken":"refresh-123"}}})", ghcr,
       creds("", "", "refresh-123")},
      {"separate username and password",
       R"({"auths":{"ghcr.io":{"username":"carol","password":"pw:1"}}})", ghcr,
       creds("carol", "pw:1")},
      {"auth wins over separate fields",
       R"({"auths":{"ghcr.io":{"auth":")" + alice + R"(","username":"carol","password":"x"}}})",
       ghcr, creds("alice", "s3cr3t")},
      {"other top-level members ignored",
       R"({"credsStore":"desktop","auths":{"ghcr.io":{"auth":")" + alice +
           R"(","email":"a@b"}},"HttpHeaders":{}})",
       ghcr, creds("alice", "s3cr3t")},
      // Unusable: nullopt, never an exception.
      {"invalid json", R"({"auths":{"ghcr.io":{"auth":")", ghcr, std::nullopt},
      {"empty text", "", ghcr, std::nullopt},
      {"top level array", R"([{"auths":{}}])", ghcr, std::nullopt},
      {"no auths", R"({"credHelpers":{"ghcr.io":"gh"}})", ghcr, std::nullopt},
      {"auths not an object", R"({"auths":["ghcr.io"]})", ghcr, std::nullopt},
      {"entry not an object", R"({"auths":{"ghcr.io":"dXNlcjpwYXNz"}})", ghcr, std::nullopt},
      {"auth not a string", R"({"auths":{"ghcr.io":{"auth":42}}})", ghcr, std::nullopt},
      {"identitytoken not a string",
       R"({"auths":{"ghcr.io":{"auth":")" + user_pass + R"(","identitytoken":true}}})", ghcr,
       std::nullopt},
      {"username not a string", R"({"auths":{"ghcr.io":{"username":["u"],"password":"p"}}})", ghcr,
       std::nullopt},
      {"empty entry (credential helper)", R"({"auths":{"ghcr.io":{}}})", ghcr, std::nullopt},
      {"empty auth string", auths("ghcr.io", ""), ghcr, std::nullopt},
      {"no colon", auths("ghcr.io", "bm9jb2xvbg=="), ghcr, std::nullopt},
      {"empty username", auths("ghcr.io", "OnNlY3JldA=="), ghcr, std::nullopt},
      {"base64 bad character", auths("ghcr.io", "dXNlcjpw*XNz"), ghcr, std::nullopt},
      {"base64 url alphabet", auths("ghcr.io", "dXNlcjpw-XNz"), ghcr, std::nullopt},
      {"base64 whitespace", auths("ghcr.io", "dXNlcjpw YXNz"), ghcr, std::nullopt},
      {"base64 padding inside", auths("ghcr.io", "dXNl=cjpwYXNz"), ghcr, std::nullopt},
      {"base64 padding wrong length", auths("ghcr.io", "dXNlcjpwYTpzcw="), ghcr, std::nullopt},
      {"base64 three padding", auths("ghcr.io", "dXNlcjpwYXNzQ==="), ghcr, std::nullopt},
      {"base64 impossible length", auths("ghcr.io", "dXNlcjpwYXNzQ"), ghcr, std::nullopt},
      {"base64 stray bits", auths("ghcr.io", "dXNlcjpwYTpzcx=="), ghcr, std::nullopt},
      {"empty registry", auths("", user_pass), "", std::nullopt},
  };
}

void write_file(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << text;
  BOOST_TEST_REQUIRE(out.good());
}

}  // namespace

BOOST_AUTO_TEST_CASE(credentials_from_json_table) {
  for (const JsonCase& c : json_cases()) {
    BOOST_TEST_CONTEXT(c.name << " (" << c.registry << "): " << c.json) {
      BOOST_TEST(render(credentials_from_json(c.json, c.registry)) == render(c.expected));
    }
  }
}

BOOST_AUTO_TEST_CASE(auth_file_candidates_table) {
  struct Case {
    std::string name;
    Env env;
    std::vector<std::string> expected;
  };
  const std::vector<Case> cases = {
      {"all three in order",
       {{"REGISTRY_AUTH_FILE", "/etc/auth.json"},
        {"XDG_RUNTIME_DIR", "/run/user/1000"},
        {"HOME", "/home/u"}},
       {"/etc/auth.json", "/run/user/1000/containers/auth.json", "/home/u/.docker/config.json"}},
      {"home only", {{"HOME", "/root"}}, {"/root/.docker/config.json"}},
      {"xdg only", {{"XDG_RUNTIME_DIR", "/run/user/0"}}, {"/run/user/0/containers/auth.json"}},
      {"auth file and home",
       {{"REGISTRY_AUTH_FILE", "auth.json"}, {"HOME", "/home/u"}},
       {"auth.json", "/home/u/.docker/config.json"}},
      {"nothing set", {}, {}},
      {"empty values count as unset",
       {{"REGISTRY_AUTH_FILE", ""}, {"XDG_RUNTIME_DIR", ""}, {"HOME", "/h"}},
       {"/h/.docker/config.json"}},
      {"trailing slashes not doubled",
       {{"XDG_RUNTIME_DIR", "/run/user/1000/"}, {"HOME", "/"}},
       {"/run/user/1000/containers/auth.json", "/.docker/config.json"}},
      {"unrelated variables ignored",
       {{"DOCKER_CONFIG", "/d"}, {"PATH", "/bin"}, {"HOME", "/h"}},
       {"/h/.docker/config.json"}},
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.name) {
      const auto got = auth_file_candidates(fake_env(c.env));
      BOOST_TEST(got == c.expected, boost::test_tools::per_element());
    }
  }
}

BOOST_AUTO_TEST_CASE(find_credentials_order) {
  // Each case lays out some of the three files (nullopt: absent) and sets some variables.
  struct Case {
    std::string name;
    std::optional<std::string> registry_auth_file;
    std::optional<std::string> xdg_auth;
    std::optional<std::string> docker_config;
    std::optional<Credentials> expected;
    bool set_registry_auth_file = true;
    bool set_xdg = true;
  };
  const std::string ghcr_alice = auths("ghcr.io", alice);
  const std::string ghcr_user = auths("https://ghcr.io", user_pass);
  const std::string ghcr_hub = auths("ghcr.io/v2/", hub);
  const std::string quay_only = auths("quay.io", alice);
  const std::vector<Case> cases = {
      {"registry auth file first", ghcr_alice, ghcr_user, ghcr_hub, creds("alice", "s3cr3t")},
      {"xdg when no registry auth file", std::nullopt, ghcr_user, ghcr_hub, creds("user", "pass")},
      {"docker config last", std::nullopt, std::nullopt, ghcr_hub, creds("hub", "hubpw")},
      {"file without the registry is skipped", quay_only, ghcr_user, ghcr_hub,
       creds("user", "pass")},
      {"files without the registry all skipped", quay_only, quay_only, ghcr_hub,
       creds("hub", "hubpw")},
      {"invalid json is skipped", "{not json", "[]", ghcr_hub, creds("hub", "hubpw")},
      {"unusable entry is skipped", R"({"auths":{"ghcr.io":{}}})", ghcr_user, ghcr_hub,
       creds("user", "pass")},
      {"nothing anywhere", quay_only, std::nullopt, quay_only, std::nullopt},
      {"no files", std::nullopt, std::nullopt, std::nullopt, std::nullopt},
      {"unset variables are not consulted", ghcr_alice, ghcr_user, ghcr_hub, creds("hub", "hubpw"),
       false, false},
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.name) {
      TempDir dir("pp-auth-file-");
      const fs::path auth_file = fs::path(dir.path()) / "auth.json";
      const fs::path xdg = fs::path(dir.path()) / "xdg";
      const fs::path home = fs::path(dir.path()) / "home";
      if (c.registry_auth_file) write_file(auth_file, *c.registry_auth_file);
      if (c.xdg_auth) write_file(xdg / "containers" / "auth.json", *c.xdg_auth);
      if (c.docker_config) write_file(home / ".docker" / "config.json", *c.docker_config);
      Env env = {{"HOME", home.string()}};
      if (c.set_registry_auth_file) env["REGISTRY_AUTH_FILE"] = auth_file.string();
      if (c.set_xdg) env["XDG_RUNTIME_DIR"] = xdg.string();
      BOOST_TEST(render(find_credentials("ghcr.io", fake_env(env))) == render(c.expected));
    }
  }
}

BOOST_AUTO_TEST_CASE(find_credentials_skips_what_is_not_a_file) {
  TempDir dir("pp-auth-file-");
  // REGISTRY_AUTH_FILE names a directory, XDG's file is missing: the docker config still counts.
  fs::create_directories(fs::path(dir.path()) / "a-directory");
  write_file(fs::path(dir.path()) / "home" / ".docker" / "config.json",
             auths("https://index.docker.io/v1/", hub));
  const Env env = {{"REGISTRY_AUTH_FILE", (fs::path(dir.path()) / "a-directory").string()},
                   {"XDG_RUNTIME_DIR", (fs::path(dir.path()) / "no-such-dir").string()},
                   {"HOME", (fs::path(dir.path()) / "home").string()}};
  BOOST_TEST(render(find_credentials("registry-1.docker.io", fake_env(env))) ==
             render(creds("hub", "hubpw")));
  BOOST_TEST(render(find_credentials("ghcr.io", fake_env(env))) == "none");
}
