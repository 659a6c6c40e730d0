#define BOOST_TEST_MODULE reference
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "nodes/clients/oci/reference.hpp"
#include "nodes/common/error.hpp"

namespace bdata = boost::unit_test::data;
using pp::oci::parse_reference;
using pp::oci::Reference;

namespace {

const std::string hex64 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const std::string sha = "sha256:" + hex64;

// One parse_reference call: either the expected fields or the expected error (code is always
// invalid_reference, so only a message fragment is listed).
struct ParseCase {
  std::string name;
  std::string input;
  std::string default_registry = "registry.local:5000";
  std::string registry = {};
  std::string repository = {};
  std::string tag = {};
  std::string digest = {};
  std::string error = {};  // non-empty: parsing fails and the message contains this
};

std::ostream& operator<<(std::ostream& os, const ParseCase& c) {
  return os << c.name;
}

ParseCase ok(std::string name, std::string input, std::string registry, std::string repository,
             std::string tag, std::string digest = {}) {
  return ParseCase{
      std::move(name),       std::move(input), "registry.local:5000", std::move(registry),
      std::move(repository), std::move(tag),   std::move(digest),     {}};
}

ParseCase bad(std::string name, std::string input, std::string error) {
  return ParseCase{std::move(name), std::move(input), "registry.local:5000", {}, {}, {}, {},
                   std::move(error)};
}

ParseCase with_default(ParseCase c, std::string default_registry) {
  c.default_registry = std::move(default_registry);
  return c;
}

std::vector<ParseCase> parse_cases() {
  const std::string dflt = "registry.local:5000";
  return {
      // Names without a host live on the default registry.
      ok("bare name", "hello", dflt, "hello", "latest"),
      ok("two components", "org/app", dflt, "org/app", "latest"),
      ok("bare name with tag", "hello:v1", dflt, "hello", "v1"),
      ok("first component without dot is a path", "absmach/propeller/hello", dflt,
         "absmach/propeller/hello", "latest"),
      ok("dotted single name is a repository", "example.com", dflt, "example.com", "latest"),
      ok("localhost:5000 alone is repository plus tag", "localhost:5000", dflt, "localhost",
         "5000"),
      with_default(
          ok("default registry is loopback", "org/app", "127.0.0.1:5000", "org/app", "latest"),
          "127.0.0.1:5000"),
      // Explicit hosts.
      ok("ghcr nested", "ghcr.io/absmach/propeller/hello:v1", "ghcr.io", "absmach/propeller/hello",
         "v1"),
      ok("localhost host", "localhost/app", "localhost", "app", "latest"),
      ok("localhost with port", "localhost:5000/app:1.0", "localhost:5000", "app", "1.0"),
      ok("ipv4 with port", "127.0.0.1:5000/wasm/hello-world:latest", "127.0.0.1:5000",
         "wasm/hello-world", "latest"),
      ok("ipv6 literal with port", "[::1]:5000/app", "[::1]:5000", "app", "latest"),
      ok("ipv6 literal without port", "[::1]/app:v2", "[::1]", "app", "v2"),
      ok("port 65535", "registry.local:65535/app", "registry.local:65535", "app", "latest"),
      ok("port 1", "registry.local:1/app", "registry.local:1", "app", "latest"),
      ok("mixed-case host kept verbatim", "Registry.Example.com/app", "Registry.Example.com", "app",
         "latest"),
      ok("host with hyphen", "my-registry.example.com/team/app", "my-registry.example.com",
         "team/app", "latest"),
      // Docker Hub.
      ok("docker.io single component", "docker.io/hello", "registry-1.docker.io", "library/hello",
         "latest"),
      ok("index.docker.io two components", "index.docker.io/user/app:1", "registry-1.docker.io",
         "user/app", "1"),
      ok("docker.io explicit library", "docker.io/library/hello", "registry-1.docker.io",
         "library/hello", "latest"),
      ok("registry-1 single component", "registry-1.docker.io/hello", "registry-1.docker.io",
         "library/hello", "latest"),
      with_default(ok("docker hub as default registry", "hello", "registry-1.docker.io",
                      "library/hello", "latest"),
                   "docker.io"),
      with_default(ok("non-hub default gets no library prefix", "hello", "registry.local", "hello",
                      "latest"),
                   "registry.local"),
      ok("docker.io with port is not hub", "docker.io:5000/hello", "docker.io:5000", "hello",
         "latest"),
      // Tags and digests.
      ok("digest only leaves tag empty", "app@" + sha, dflt, "app", "", sha),
      ok("sha512 digest", "app@sha512:" + hex64 + hex64, dflt, "app", "",
         "sha512:" + hex64 + hex64),
      ok("tag and digest both kept", "app:v1@" + sha, dflt, "app", "v1", sha),
      ok("host tag and digest", "registry.local/app:v1@" + sha, "registry.local", "app", "v1", sha),
      ok("tag starting with underscore", "app:_x", dflt, "app", "_x"),
      ok("tag with upper case, dots, dashes", "app:V1.0-RC_2", dflt, "app", "V1.0-RC_2"),
      ok("tag of 128 characters", "app:" + std::string(128, 't'), dflt, "app",
         std::string(128, 't')),
      // Path component separators from the OCI distribution spec.
      ok("all separators", "org/a.b_c__d---e/f-g", dflt, "org/a.b_c__d---e/f-g", "latest"),
      ok("digits only components", "0/1/2", dflt, "0/1/2", "latest"),
      ok("exactly 1024 characters", "r.io/" + std::string(1012, 'a') + ":latest", "r.io",
         std::string(1012, 'a'), "latest"),

      // Whole-reference problems.
      bad("empty", "", "is empty"),
      bad("too long", "r.io/" + std::string(1020, 'a'), "longer than 1024"),
      // Found by fuzz_reference: short enough as written, too long once the registry is added.
      bad("too long written out", std::string(998, 'a'),
          "longer than 1024 characters once its registry and tag are written out"),
      bad("too long with docker hub's names", "docker.io/" + std::string(1000, 'a'),
          "once its registry and tag are written out"),
      bad("inner space", "app :v1", "whitespace or a control character at offset 3"),
      bad("leading space", " app", "offset 0"),
      bad("trailing newline", "app\n", "whitespace or a control character"),
      bad("tab", "app\t", "whitespace or a control character"),
      bad("control character", std::string("a\x01pp"), "control character at offset 1"),
      bad("DEL", "app\x7f", "control character"),
      bad("http scheme", "http://registry.local/app", "scheme"),
      bad("https scheme", "https://ghcr.io/org/app:v1", "scheme"),
      with_default(bad("no host and empty default", "hello",
                       "names no registry host and "
                       "PROXY_REGISTRY_URL has none"),
                   ""),
      // Registry host and port.
      bad("port zero", "registry.local:0/app", "invalid registry port \"0\""),
      bad("port too large", "registry.local:65536/app", "invalid registry port"),
      bad("empty port", "registry.local:/app", "invalid registry port \"\""),
      bad("port with letters", "registry.local:50a/app", "invalid registry port"),
      bad("port too many digits", "registry.local:000005/app", "invalid registry port"),
      bad("unclosed ipv6 bracket", "[::1/app", "invalid registry host"),
      bad("junk after ipv6 bracket", "[::1]x/app", "invalid registry host"),
      bad("bad ipv6 literal", "[zz::1]:5000/app", "invalid registry host \"[zz::1]\""),
      bad("underscore in host", "exa_mple.com/app", "invalid registry host \"exa_mple.com\""),
      bad("host label starts with dash", "-bad.com/app", "invalid registry host"),
      bad("empty host label", "a..b/app", "invalid registry host"),
      // Repository.
      bad("uppercase repository", "Hello", "uppercase letters are not allowed in repository"),
      bad("uppercase after host", "registry.local/Org/app",
          "uppercase letters are not allowed in repository \"Org/app\""),
      bad("empty path component", "a//b", "empty path component"),
      bad("empty component after host", "registry.local//app", "empty path component"),
      bad("leading slash", "/app", "empty path component"),
      bad("trailing slash", "registry.local/a/", "trailing slash"),
      bad("trailing slash before tag", "org/app/:v1", "trailing slash"),
      bad("host only", "registry.local/", "has an empty repository"),
      bad("tag only", ":v1", "has an empty repository"),
      bad("digest only", "@" + sha, "has an empty repository"),
      bad("invalid character", "app!x", "invalid character \"!\""),
      bad("two colons", "a:b:c", "invalid character \":\""),
      bad("two at signs", "a@b@" + sha, "invalid character \"@\""),
      bad("non-ascii", "caf\xc3\xa9", "invalid character \"\\xc3\""),
      bad("mixed separator", "app__-x", "repository component \"app__-x\""),
      bad("triple underscore", "a___b", "repository component"),
      bad("trailing separator", "org/app-", "repository component \"app-\""),
      bad("leading separator", ".app", "repository component"),
      bad("dot dash", "a.-b", "repository component"),
      // Tag.
      bad("empty tag", "app:", "empty tag"),
      bad("empty tag with digest", "app:@" + sha, "empty tag"),
      bad("tag starting with dash", "app:-x", "invalid tag \"-x\""),
      bad("tag starting with dot", "app:.x", "invalid tag"),
      bad("tag of 129 characters", "app:" + std::string(129, 't'), "invalid tag"),
      bad("tag with plus", "app:v1+build", "invalid tag"),
      bad("tag with slash in first component", "app:v1/x", "invalid registry port"),
      // Digest.
      bad("sha512 of 64 hex digits", "app@sha512:" + hex64, "128 lowercase hex digits"),
      bad("md5", "app@md5:d41d8cd98f00b204e9800998ecf8427e", "unsupported digest algorithm"),
      bad("upper case algorithm", "app@SHA256:" + hex64, "unsupported digest algorithm"),
      bad("upper case hex", "app@sha256:" + std::string(64, 'A'), "invalid digest"),
      bad("short hex", "app@sha256:abc", "64 lowercase hex digits"),
      bad("long hex", "app@sha256:" + hex64 + "0", "invalid digest"),
      bad("non-hex", "app@sha256:" + std::string(64, 'g'), "invalid digest"),
      bad("empty digest", "app@", "empty digest"),
      bad("digest without algorithm", "app@sha256", "invalid digest"),
      bad("digest with empty algorithm", "app@:" + hex64, "invalid digest"),
      // What a hostile requester tries, to reach another host or path than it names (issue 9):
      // each is refused by the grammar before any URL is built from it.
      bad("userinfo before the registry", "evil.example@registry.local:5000/x",
          "unsupported digest algorithm \"registry.local\""),
      bad("userinfo with password", "u:p@registry.local/x", "invalid digest"),
      bad("dot-dot segment", "registry.local/a/../b", "repository component \"..\""),
      bad("dot-dot as repository", "registry.local/..", "repository component \"..\""),
      bad("percent escape", "registry.local/a%2e%2e/b", "invalid character \"%\""),
      bad("percent-encoded slash", "a%2Fb", "invalid character \"%\""),
      bad("fragment", "registry.local/app#frag", "invalid character \"#\""),
      bad("query", "registry.local/app?x=1", "invalid character \"?\""),
      bad("query in tag", "app:v1?x=1", "invalid tag"),
      bad("file scheme", "file:///etc/passwd", "scheme"),
      bad("scheme-relative", "//evil.example/x", "empty path component"),
      bad("backslash", "registry.local\\evil/x", "invalid registry host"),
      bad("carriage return and header", "app\r\nHost: evil", "control character"),
  };
}

}  // namespace

BOOST_DATA_TEST_CASE(parse_reference_table, bdata::make(parse_cases()), c) {
  const auto result = parse_reference(c.input, c.default_registry);
  if (!c.error.empty()) {
    BOOST_TEST_REQUIRE(!result.ok());
    BOOST_TEST(result.error().code == pp::errc::invalid_reference);
    BOOST_TEST(result.error().message.find(c.error) != std::string::npos,
               "message \"" << result.error().message << "\" lacks \"" << c.error << "\"");
    return;
  }
  BOOST_TEST_REQUIRE(result.ok(), (result.ok() ? std::string() : result.error().message));
  BOOST_TEST(result->registry == c.registry);
  BOOST_TEST(result->repository == c.repository);
  BOOST_TEST(result->tag == c.tag);
  BOOST_TEST(result->digest == c.digest);
}

namespace {

// Canonical string and manifest selector of a parsed reference.
struct FormatCase {
  std::string input;
  std::string str;
  std::string selector;
};

std::ostream& operator<<(std::ostream& os, const FormatCase& c) {
  return os << c.input;
}

std::vector<FormatCase> format_cases() {
  return {
      {"hello", "registry.local:5000/hello:latest", "latest"},
      {"docker.io/hello", "registry-1.docker.io/library/hello:latest", "latest"},
      {"ghcr.io/org/app:v1", "ghcr.io/org/app:v1", "v1"},
      {"app@" + sha, "registry.local:5000/app@" + sha, sha},
      {"app:v1@" + sha, "registry.local:5000/app:v1@" + sha, sha},
      {"[::1]:5000/app:v1", "[::1]:5000/app:v1", "v1"},
  };
}

}  // namespace

BOOST_DATA_TEST_CASE(reference_str_and_selector, bdata::make(format_cases()), c) {
  const auto result = parse_reference(c.input, "registry.local:5000");
  BOOST_TEST_REQUIRE(result.ok());
  BOOST_TEST(result->str() == c.str);
  BOOST_TEST(result->manifest_selector() == c.selector);
  // The canonical form names its registry, so it parses back to the same reference.
  const auto again = parse_reference(result->str(), "");
  BOOST_TEST_REQUIRE(again.ok());
  BOOST_TEST(again->str() == c.str);
}

namespace {

struct LoopbackCase {
  std::string host;
  bool loopback;
};

std::ostream& operator<<(std::ostream& os, const LoopbackCase& c) {
  return os << '"' << c.host << '"';
}

std::vector<LoopbackCase> loopback_cases() {
  return {
      {"localhost", true},
      {"localhost:5000", true},
      {"LocalHost:5000", true},
      {"127.0.0.1", true},
      {"127.0.0.1:5000", true},
      {"127.1.2.3:80", true},
      {"127.255.255.254", true},
      {"[::1]", true},
      {"[::1]:5000", true},
      {"[0:0:0:0:0:0:0:1]:5000", true},  // the same address spelled out
      {"127.0.0.1.example.com", false},
      {"127.0.0.1.example.com:5000", false},
      {"localhost.example.com", false},
      {"128.0.0.1", false},
      {"10.0.0.1:5000", false},
      {"0.0.0.0", false},
      {"127.0.0.256", false},
      {"127.0.0", false},
      {"registry.local:5000", false},
      {"", false},
      {"::1", false},
      {"[::2]", false},
      {"[::1", false},
      {"[::1]x", false},
      {"localhost:", false},
      {"localhost:0", false},
      {"localhost:99999", false},
      {"127.0.0.1:abc", false},
  };
}

}  // namespace

BOOST_DATA_TEST_CASE(is_loopback_host_table, bdata::make(loopback_cases()), c) {
  BOOST_TEST(pp::oci::is_loopback_host(c.host) == c.loopback);
}
