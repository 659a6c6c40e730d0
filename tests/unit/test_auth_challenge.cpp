#define BOOST_TEST_MODULE auth_challenge
#include <boost/test/unit_test.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "nodes/clients/oci/auth_challenge.hpp"

using pp::oci::Challenge;
using pp::oci::find_challenge;
using pp::oci::parse_www_authenticate;
using pp::oci::pull_scope;

namespace {

// One header value and every challenge it should yield, in order.
struct ChallengeCase {
  std::string name;
  std::string header;
  std::vector<Challenge> expected;
};

// A readable, unambiguous rendering for comparisons: bearer{realm="x" service="y"} basic{}.
std::string render(const std::vector<Challenge>& challenges) {
  std::string out;
  for (const Challenge& c : challenges) {
    if (!out.empty()) out += ' ';
    out += c.scheme + '{';
    bool first = true;
    for (const auto& [key, value] : c.params) {
      if (!first) out += ' ';
      first = false;
      out += key + "=\"";
      for (char ch : value) {
        if (ch == '"' || ch == '\\') out += '\\';
        out += ch;
      }
      out += '"';
    }
    out += '}';
  }
  return out;
}

const std::string hub_realm = "https://auth.docker.io/token";

std::vector<ChallengeCase> challenge_cases() {
  return {
      // Real registries.
      {"docker hub",
       R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",)"
       R"(scope="repository:library/hello-world:pull")",
       {{"bearer",
         {{"realm", hub_realm},
          {"service", "registry.docker.io"},
          {"scope", "repository:library/hello-world:pull"}}}}},
      {"ghcr",
       R"(Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:user/image:pull")",
       {{"bearer",
         {{"realm", "https://ghcr.io/token"},
          {"service", "ghcr.io"},
          {"scope", "repository:user/image:pull"}}}}},
      {"docker-registry htpasswd",
       R"(Basic realm="basic-realm")",
       {{"basic", {{"realm", "basic-realm"}}}}},
      {"insufficient scope error",
       R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",)"
       R"(scope="repository:library/x:pull",error="insufficient_scope")",
       {{"bearer",
         {{"realm", hub_realm},
          {"service", "registry.docker.io"},
          {"scope", "repository:library/x:pull"},
          {"error", "insufficient_scope"}}}}},
      // Several challenges.
      {"two challenges",
       R"(Basic realm="x", Bearer realm="y",service="z")",
       {{"basic", {{"realm", "x"}}}, {"bearer", {{"realm", "y"}, {"service", "z"}}}}},
      {"three challenges, one bare",
       R"(Negotiate, Basic realm="b" , Bearer realm="c")",
       {{"negotiate", {}}, {"basic", {{"realm", "b"}}}, {"bearer", {{"realm", "c"}}}}},
      {"token68 then a challenge",
       R"(Basic YWxhZGRpbjpvcGVu/c2VzYW1l==, Bearer realm="y")",
       {{"basic", {{"", "YWxhZGRpbjpvcGVu/c2VzYW1l=="}}}, {"bearer", {{"realm", "y"}}}}},
      {"empty list elements",
       R"(, ,Basic realm="x",, ,Bearer realm="y",)",
       {{"basic", {{"realm", "x"}}}, {"bearer", {{"realm", "y"}}}}},
      // Values.
      {"comma inside quotes does not split",
       R"(Bearer realm="r",scope="repository:a:pull,push")",
       {{"bearer", {{"realm", "r"}, {"scope", "repository:a:pull,push"}}}}},
      {"escaped quote", R"(Basic realm="a\"b")", {{"basic", {{"realm", "a\"b"}}}}},
      {"escaped backslash and letter",
       R"(Basic realm="a\\b\c")",
       {{"basic", {{"realm", "a\\bc"}}}}},
      {"empty quoted value",
       R"(Bearer realm="",service="s")",
       {{"bearer", {{"realm", ""}, {"service", "s"}}}}},
      {"unquoted values",
       "Bearer realm=https-realm,service=registry.local",
       {{"bearer", {{"realm", "https-realm"}, {"service", "registry.local"}}}}},
      {"colon in unquoted value is damage",
       "Bearer realm=r,service=registry.local:5000",
       {{"bearer", {{"realm", "r"}}}}},
      {"unquoted token characters",
       "Custom a=!#$%&'*+-.^_`|~09AZaz",
       {{"custom", {{"a", "!#$%&'*+-.^_`|~09AZaz"}}}}},
      {"first duplicate parameter wins",
       R"(Bearer realm="first",realm="second")",
       {{"bearer", {{"realm", "first"}}}}},
      // Case and spacing.
      {"scheme and keys lowercased, values kept",
       R"(BEARER Realm="MixedCase",SERVICE=Svc)",
       {{"bearer", {{"realm", "MixedCase"}, {"service", "Svc"}}}}},
      {"odd spacing",
       "  Bearer \t realm = \"r\" ,\tservice=\t\"s\"  ,  scope =x  ",
       {{"bearer", {{"realm", "r"}, {"service", "s"}, {"scope", "x"}}}}},
      {"token68 with padding", "Basic abc==", {{"basic", {{"", "abc=="}}}}},
      {"scheme alone", "Basic", {{"basic", {}}}},
      // Empty and damaged headers: what parsed before the damage.
      {"empty header", "", {}},
      {"only whitespace and commas", " \t, ,", {}},
      {"garbage", "\"not a challenge\"", {}},
      {"scheme glued to equals", "Bearer=x", {}},
      {"unterminated quote keeps earlier params",
       R"(Bearer realm="r",service="s)",
       {{"bearer", {{"realm", "r"}}}}},
      {"backslash at the end", R"(Basic realm="abc\)", {{"basic", {}}}},
      {"missing comma stops at the damaged param",
       R"(Bearer realm="r",service="s" scope="x")",
       {{"bearer", {{"realm", "r"}}}}},
      {"missing value", R"(Bearer realm="r",service=,scope="x")", {{"bearer", {{"realm", "r"}}}}},
      {"control character in quotes", "Bearer realm=\"a\nb\",service=\"s\"", {{"bearer", {}}}},
      {"damage in second challenge keeps the first",
       R"(Basic realm="x", Bearer realm="y",s="z" @)",
       {{"basic", {{"realm", "x"}}}, {"bearer", {{"realm", "y"}}}}},
      {"parameter after token68", R"(Basic abc==, realm="x")", {{"basic", {{"", "abc=="}}}}},
      {"nul byte",
       std::string(R"(Basic a="b",realm="x")") + '\0' + R"(, Bearer realm="y")",
       {{"basic", {{"a", "b"}}}}},
  };
}

}  // namespace

BOOST_AUTO_TEST_CASE(parse_www_authenticate_table) {
  for (const ChallengeCase& c : challenge_cases()) {
    BOOST_TEST_CONTEXT(c.name << ": " << c.header) {
      BOOST_TEST(render(parse_www_authenticate(c.header)) == render(c.expected));
    }
  }
}

BOOST_AUTO_TEST_CASE(find_challenge_picks_first_with_scheme) {
  const auto challenges =
      parse_www_authenticate(R"(Basic realm="a", Bearer realm="b", Bearer realm="c")");
  struct Case {
    std::string scheme;
    std::string realm;  // empty: no such challenge
  };
  const std::vector<Case> cases = {
      {"bearer", "b"}, {"basic", "a"}, {"Bearer", "b"}, {"negotiate", ""}, {"", ""}};
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT("scheme " << c.scheme) {
      const Challenge* found = find_challenge(challenges, c.scheme);
      if (c.realm.empty()) {
        BOOST_TEST(found == nullptr);
      } else {
        BOOST_TEST_REQUIRE(found != nullptr);
        BOOST_TEST(found->params.at("realm") == c.realm);
      }
    }
  }
  BOOST_TEST(find_challenge({}, "bearer") == nullptr);
}

BOOST_AUTO_TEST_CASE(pull_scope_table) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"library/hello-world", "repository:library/hello-world:pull"},
      {"user/image", "repository:user/image:pull"},
      {"absmach/propeller/hello", "repository:absmach/propeller/hello:pull"},
  };
  for (const auto& [repository, scope] : cases) {
    BOOST_TEST_CONTEXT(repository) {
      BOOST_TEST(pull_scope(repository) == scope);
    }
  }
}
