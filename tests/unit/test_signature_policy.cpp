#define BOOST_TEST_MODULE signature_policy
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>

#include <algorithm>
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "nodes/common/error.hpp"
#include "nodes/trust/public_key.hpp"
#include "nodes/trust/signature_policy.hpp"
#include "tests/support/temp_dir.hpp"

namespace bdata = boost::unit_test::data;
namespace fs = std::filesystem;
using pp::test::TempDir;
using pp::trust::parse_signature_mode;
using pp::trust::parse_signature_policy;
using pp::trust::PolicyRule;
using pp::trust::PublicKey;
using pp::trust::repository_matches;
using pp::trust::SignatureMode;
using pp::trust::SignaturePolicy;

namespace boost::test_tools::tt_detail {
template <>
struct print_log_value<SignatureMode> {
  void operator()(std::ostream& os, SignatureMode mode) { os << pp::trust::to_string(mode); }
};
}  // namespace boost::test_tools::tt_detail

namespace {

bool has(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// ---- repository_matches ----

struct MatchCase {
  const char* pattern;
  const char* repository;
  bool matches;
};

std::ostream& operator<<(std::ostream& os, const MatchCase& c) {
  return os << '"' << c.pattern << "\" ~ \"" << c.repository << '"';
}

const MatchCase match_cases[] = {
    {"ghcr.io/acme/app", "ghcr.io/acme/app", true},
    {"ghcr.io/acme/app", "ghcr.io/acme/app2", false},
    {"ghcr.io/acme/app", "ghcr.io/acme/ap", false},
    {"ghcr.io/acme/app", "xghcr.io/acme/app", false},
    {"ghcr.io/acme/app", "GHCR.io/acme/app", false},  // literal: the caller lowers what it must
    {"ghcr.io/acme/*", "ghcr.io/acme/a", true},
    {"ghcr.io/acme/*", "ghcr.io/acme/a/b", true},  // '/' included
    {"ghcr.io/acme/*", "ghcr.io/acme/", true},     // the empty run
    {"ghcr.io/acme/*", "ghcr.io/acme", false},
    {"ghcr.io/acme/*", "ghcr.io/acmex/a", false},
    {"ghcr.io/acme/*", "x/ghcr.io/acme/a", false},
    {"*", "", true},
    {"*", "registry-1.docker.io/library/hello", true},
    {"*/test", "ghcr.io/test", true},
    {"*/test", "ghcr.io/a/b/test", true},
    {"*/test", "ghcr.io/a/test2", false},
    {"*/test", "test", false},
    {"ghcr.io/*/app-*", "ghcr.io/acme/app-1", true},
    {"ghcr.io/*/app-*", "ghcr.io/a/b/app-", true},
    {"ghcr.io/*/app-*", "ghcr.io/acme/app", false},
    {"a*b*c", "abc", true},
    {"a*b*c", "axxbyyc", true},
    {"a*b*c", "abcbc", true},  // the last star takes "cb"
    {"a*b*c", "abcb", false},
    {"a*b*c", "acb", false},
    {"**", "", true},
    {"a**b", "ab", true},
    {"127.0.0.1:5000/*", "127.0.0.1:5000/app", true},
    {"127.0.0.1:5000/*", "127.0.0.1:50000/app", false},
    {"", "", true},
    {"", "a", false},
    {"a", "", false},
    // Retrying from the latest star only: this fails at once instead of trying every split.
    {"*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
};

}  // namespace

BOOST_DATA_TEST_CASE(repository_matches_whole_strings, bdata::make(match_cases), c) {
  BOOST_TEST(repository_matches(c.pattern, c.repository) == c.matches);
}

// ---- parse_signature_mode ----

namespace {

struct ModeCase {
  const char* text;
  std::optional<SignatureMode> mode;
};

std::ostream& operator<<(std::ostream& os, const ModeCase& c) {
  return os << '"' << c.text << '"';
}

const ModeCase mode_cases[] = {
    {"off", SignatureMode::off},
    {"audit", SignatureMode::audit},
    {"enforce", SignatureMode::enforce},
    {"", std::nullopt},
    {"Enforce", std::nullopt},
    {"ENFORCE", std::nullopt},
    {" enforce", std::nullopt},
    {"enforce ", std::nullopt},
    {"on", std::nullopt},
    {"true", std::nullopt},
    {"warn", std::nullopt},
};

}  // namespace

BOOST_DATA_TEST_CASE(parse_signature_mode_is_exact, bdata::make(mode_cases), c) {
  const auto mode = parse_signature_mode(c.text);
  if (c.mode) {
    BOOST_REQUIRE(mode.ok());
    BOOST_TEST(*mode == *c.mode);
    BOOST_TEST(pp::trust::to_string(*mode) == c.text);
  } else {
    BOOST_REQUIRE(!mode.ok());
    BOOST_TEST(mode.error().code == pp::errc::proxy_error);
    BOOST_TEST(has(mode.error().message, "\"" + std::string(c.text) + "\""), mode.error().message);
    BOOST_TEST(has(mode.error().message, "off, audit or enforce"), mode.error().message);
  }
}

// ---- parse_signature_policy ----

namespace {

struct AcceptCase {
  const char* name;
  std::string text;
  std::string base_dir;
  std::vector<PolicyRule> rules;
};

std::ostream& operator<<(std::ostream& os, const AcceptCase& c) {
  return os << c.name;
}

std::string rules_text(std::size_t n) {
  std::string text;
  for (std::size_t i = 0; i < n; ++i)
    text += "ghcr.io/team-" + std::to_string(i) + "/* audit\n";
  return text;
}

const auto off = SignatureMode::off;
const auto audit = SignatureMode::audit;
const auto enforce = SignatureMode::enforce;

std::vector<AcceptCase> accept_cases() {
  return {
      {"empty", "", "/etc/pp", {}},
      {"only comments and blanks", "# a policy\n\n   \n\t# indented comment\n", "/etc/pp", {}},
      {"one rule, no keys",
       "ghcr.io/acme/* enforce\n",
       "/etc/pp",
       {{"ghcr.io/acme/*", enforce, {}, 1}}},
      {"line numbers count comments and blanks",
       "# header\n\nghcr.io/a/* off\n# more\nghcr.io/b/* audit\n",
       "/etc/pp",
       {{"ghcr.io/a/*", off, {}, 3}, {"ghcr.io/b/*", audit, {}, 5}}},
      {"relative keys resolved, absolute kept",
       "ghcr.io/acme/* enforce keys/a.pub /opt/keys/b.pub ../c.pub\n",
       "/etc/pp",
       {{"ghcr.io/acme/*",
         enforce,
         {"/etc/pp/keys/a.pub", "/opt/keys/b.pub", "/etc/pp/../c.pub"},
         1}}},
      {"base dir with a trailing slash",
       "* enforce a.pub\n",
       "/etc/pp/",
       {{"*", enforce, {"/etc/pp/a.pub"}, 1}}},
      {"no base dir: relative to where the proxy runs",
       "* enforce a.pub\n",
       "",
       {{"*", enforce, {"a.pub"}, 1}}},
      {"tabs, leading and trailing blanks",
       "\t ghcr.io/acme/*\t\tenforce \t a.pub\t \n",
       "/k",
       {{"ghcr.io/acme/*", enforce, {"/k/a.pub"}, 1}}},
      {"a comment after the fields",
       "ghcr.io/* audit a.pub # the CI key\n",
       "/k",
       {{"ghcr.io/*", audit, {"/k/a.pub"}, 1}}},
      {"a comment right after the mode",
       "ghcr.io/* off #no check\n",
       "/k",
       {{"ghcr.io/*", off, {}, 1}}},
      {"'#' inside a key file's name is part of it",
       "ghcr.io/* audit key#1.pub\n",
       "/k",
       {{"ghcr.io/*", audit, {"/k/key#1.pub"}, 1}}},
      {"CRLF line ends",
       "ghcr.io/a/* off\r\n\r\nghcr.io/b/* enforce b.pub\r\n",
       "/k",
       {{"ghcr.io/a/*", off, {}, 1}, {"ghcr.io/b/*", enforce, {"/k/b.pub"}, 3}}},
      {"no newline at the end", "ghcr.io/a/* off", "/k", {{"ghcr.io/a/*", off, {}, 1}}},
      {"every allowed character",
       "127.0.0.1:5000/a_b.c-d/*/e__f off\n",
       "/k",
       {{"127.0.0.1:5000/a_b.c-d/*/e__f", off, {}, 1}}},
      {"the same pattern twice: both kept, the first wins later",
       "* off\n* enforce\n",
       "/k",
       {{"*", off, {}, 1}, {"*", enforce, {}, 2}}},
  };
}

}  // namespace

BOOST_DATA_TEST_CASE(parse_signature_policy_accepts, bdata::make(accept_cases()), c) {
  const auto rules = parse_signature_policy(c.text, "/etc/pp/policy", c.base_dir);
  BOOST_REQUIRE_MESSAGE(rules.ok(), (rules.ok() ? "" : rules.error().message));
  BOOST_REQUIRE_EQUAL(rules->size(), c.rules.size());
  for (std::size_t i = 0; i < c.rules.size(); ++i) {
    const PolicyRule& got = (*rules)[i];
    BOOST_TEST(got.pattern == c.rules[i].pattern);
    BOOST_TEST(got.mode == c.rules[i].mode);
    BOOST_TEST(got.key_paths == c.rules[i].key_paths, boost::test_tools::per_element());
    BOOST_TEST(got.line == c.rules[i].line);
  }
}

BOOST_AUTO_TEST_CASE(parse_signature_policy_takes_exactly_the_rule_limit) {
  const std::string text = "# many\n" + rules_text(pp::trust::max_policy_rules);
  const auto rules = parse_signature_policy(text, "p", "");
  BOOST_REQUIRE(rules.ok());
  BOOST_TEST(rules->size() == pp::trust::max_policy_rules);
  BOOST_TEST(rules->back().line == static_cast<int>(pp::trust::max_policy_rules) + 1);
}

namespace {

struct RefuseCase {
  const char* name;
  std::string text;
  std::string says;  // after "/etc/pp/policy"
};

std::ostream& operator<<(std::ostream& os, const RefuseCase& c) {
  return os << c.name;
}

std::vector<RefuseCase> refuse_cases() {
  return {
      {"unknown mode", "ghcr.io/* on\n",
       " line 1: \"on\" is not a signature mode (off, audit or enforce)"},
      {"mode in upper case", "\n\nghcr.io/* Enforce\n",
       " line 3: \"Enforce\" is not a signature mode"},
      {"missing mode", "# x\nghcr.io/acme/*\n",
       " line 2: \"ghcr.io/acme/*\" has no mode (off, audit or enforce)"},
      {"missing mode, a comment after the pattern", "ghcr.io/acme/* # enforce\n",
       " line 1: \"ghcr.io/acme/*\" has no mode"},
      {"a space in a repository splits it", "ghcr.io/acme my-app enforce\n",
       " line 1: \"my-app\" is not a signature mode"},
      {"upper case pattern", "ghcr.io/* off\nGHCR.io/acme/* enforce\n",
       " line 2: the pattern \"GHCR.io/acme/*\" has 'G', which no repository has (a-z 0-9 . _ / : "
       "- and *)"},
      {"a tag in the pattern", "ghcr.io/acme/app@sha256 enforce\n",
       " line 1: the pattern \"ghcr.io/acme/app@sha256\" has '@'"},
      {"a character class", "ghcr.io/acme/[ab] enforce\n",
       " line 1: the pattern \"ghcr.io/acme/[ab]\" has '['"},
      {"a '?' wildcard", "ghcr.io/acme/app? enforce\n",
       " line 1: the pattern \"ghcr.io/acme/app?\" has '?'"},
      {"a control character", "ghcr.io/\x01 enforce\n",
       " line 1: the pattern \"ghcr.io/\x01\" has 0x01"},
      {"a vertical tab is not a separator", "ghcr.io/*\v enforce\n",
       " line 1: the pattern \"ghcr.io/*\v\" has 0x0b"},
      {"key files on an off rule", "ghcr.io/* off a.pub\n",
       " line 1: \"ghcr.io/*\" is off, which takes no key files"},
      {"one rule too many", rules_text(pp::trust::max_policy_rules + 1),
       " line 257: more than 256 rules"},
      {"over the size limit", "# " + std::string(pp::trust::max_policy_size, 'x') + "\n",
       ": more than 65536 bytes"},
  };
}

}  // namespace

BOOST_DATA_TEST_CASE(parse_signature_policy_refuses, bdata::make(refuse_cases()), c) {
  const auto rules = parse_signature_policy(c.text, "/etc/pp/policy", "/etc/pp");
  BOOST_REQUIRE(!rules.ok());
  BOOST_TEST(rules.error().code == pp::errc::proxy_error);
  BOOST_TEST(has(rules.error().message, "/etc/pp/policy" + c.says), rules.error().message);
}

BOOST_AUTO_TEST_CASE(parse_signature_policy_size_limit_is_inclusive) {
  std::string text = "* off\n";
  text += "#" + std::string(pp::trust::max_policy_size - text.size() - 1, 'x');
  BOOST_REQUIRE_EQUAL(text.size(), pp::trust::max_policy_size);
  BOOST_TEST(parse_signature_policy(text, "p", "").ok());
  BOOST_TEST(!parse_signature_policy(text + "\n", "p", "").ok());
}

// ---- SignaturePolicy::load, with key files made by OpenSSL ----

namespace {

using Pkey = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

std::string public_pem(const char* type) {
  Pkey key(type == std::string_view("EC") ? EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")
                                          : EVP_PKEY_Q_keygen(nullptr, nullptr, type),
           &EVP_PKEY_free);
  BOOST_REQUIRE(key);
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  BOOST_REQUIRE(PEM_write_bio_PUBKEY(bio.get(), key.get()) == 1);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

// A fresh directory (see TempDir: HOME plays no part), with files written into it.
struct PolicyDir {
  TempDir temp{"pp-sig-policy-"};
  fs::path path = temp.path();

  std::string write(const std::string& name, const std::string& text) const {
    const fs::path file = path / name;
    fs::create_directories(file.parent_path());
    std::ofstream out(file, std::ios::binary);
    out << text;
    BOOST_TEST_REQUIRE(out.good());
    return file.string();
  }
};

// Three key files: a and b distinct keys, a_copy the same key as a in another file.
struct Keys {
  PolicyDir dir;
  std::string a = dir.write("keys/a.pub", public_pem("EC"));
  std::string b = dir.write("keys/b.pub", public_pem("ED25519"));
  std::string a_copy = dir.write("keys/a-copy.pub", read(a));
  std::string id(const std::string& path) const {
    const auto key = PublicKey::load(path);
    BOOST_TEST_REQUIRE(key.ok());
    return key->id();
  }
  static std::string read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
};

SignaturePolicy loaded(const std::vector<std::string>& keys, std::optional<SignatureMode> mode,
                       const std::string& policy = "") {
  auto policy_ = SignaturePolicy::load(keys, mode, policy);
  BOOST_TEST_REQUIRE(policy_.ok(), (policy_.ok() ? "" : policy_.error().message));
  return std::move(policy_).value();
}

std::string refused(const std::vector<std::string>& keys, std::optional<SignatureMode> mode,
                    const std::string& policy = "") {
  const auto policy_ = SignaturePolicy::load(keys, mode, policy);
  BOOST_TEST_REQUIRE(!policy_.ok());
  BOOST_TEST(policy_.error().code == pp::errc::proxy_error);
  return policy_.error().message;
}

}  // namespace

BOOST_AUTO_TEST_CASE(default_constructed_is_all_off) {
  const SignaturePolicy policy;
  BOOST_TEST(!policy.enabled());
  BOOST_TEST(policy.keys().empty());
  const auto& rule = policy.for_repository("ghcr.io/acme/app");
  BOOST_TEST(rule.pattern == "*");
  BOOST_TEST(rule.mode == off);
  BOOST_TEST(rule.keys.empty());
  BOOST_TEST(rule.keyset.empty());
}

BOOST_AUTO_TEST_CASE(the_default_mode_follows_the_keys_unless_set) {
  const Keys k;
  {
    const SignaturePolicy policy = loaded({}, std::nullopt);
    BOOST_TEST(!policy.enabled());
    BOOST_TEST(policy.for_repository("ghcr.io/a").mode == off);
  }
  {
    const SignaturePolicy policy = loaded({k.a}, std::nullopt);
    BOOST_TEST(policy.enabled());
    const auto& rule = policy.for_repository("ghcr.io/a");
    BOOST_TEST(rule.pattern == "*");
    BOOST_TEST(rule.mode == enforce);
    BOOST_REQUIRE_EQUAL(rule.keys.size(), 1U);
    BOOST_TEST(rule.keys[0].id() == k.id(k.a));
    BOOST_TEST(rule.keyset == k.id(k.a));
    BOOST_REQUIRE_EQUAL(policy.keys().size(), 1U);
    BOOST_TEST(policy.keys()[0].path == k.a);
    BOOST_TEST(policy.keys()[0].key.id() == k.id(k.a));
  }
  BOOST_TEST(loaded({k.a}, audit).for_repository("x/y").mode == audit);
  {
    // Off with keys: nothing is checked by default, but the keys are loaded (and so checked).
    const SignaturePolicy policy = loaded({k.a}, off);
    BOOST_TEST(!policy.enabled());
    const auto& rule = policy.for_repository("x/y");
    BOOST_TEST(rule.mode == off);
    BOOST_TEST(rule.keys.empty());
    BOOST_TEST(rule.keyset.empty());
    BOOST_TEST(policy.keys().size() == 1U);
  }
  BOOST_TEST(!loaded({}, off).enabled());
}

BOOST_AUTO_TEST_CASE(the_first_matching_rule_wins) {
  const Keys k;
  const std::string policy = k.dir.write("policy",
                                         "# acme signs with b; its test images are not signed\n"
                                         "ghcr.io/acme/test-*  off\n"
                                         "ghcr.io/acme/*       enforce keys/b.pub\n"
                                         "*/legacy             audit\n"
                                         "ghcr.io/acme/other   off   # never reached\n");
  const SignaturePolicy p = loaded({k.a}, std::nullopt, policy);
  BOOST_TEST(p.enabled());

  const auto& test = p.for_repository("ghcr.io/acme/test-1");
  BOOST_TEST(test.pattern == "ghcr.io/acme/test-*");
  BOOST_TEST(test.mode == off);
  BOOST_TEST(test.keys.empty());
  BOOST_TEST(test.keyset.empty());

  const auto& acme = p.for_repository("ghcr.io/acme/other");
  BOOST_TEST(acme.pattern == "ghcr.io/acme/*");
  BOOST_TEST(acme.mode == enforce);
  BOOST_REQUIRE_EQUAL(acme.keys.size(), 1U);
  BOOST_TEST(acme.keys[0].id() == k.id(k.b));
  BOOST_TEST(acme.keyset == k.id(k.b));

  // No keys of its own: PROXY_SIGNATURE_KEYS'.
  const auto& legacy = p.for_repository("registry-1.docker.io/library/legacy");
  BOOST_TEST(legacy.pattern == "*/legacy");
  BOOST_TEST(legacy.mode == audit);
  BOOST_TEST(legacy.keyset == k.id(k.a));

  const auto& other = p.for_repository("quay.io/x/app");
  BOOST_TEST(other.pattern == "*");
  BOOST_TEST(other.mode == enforce);
  BOOST_TEST(other.keyset == k.id(k.a));
}

BOOST_AUTO_TEST_CASE(policy_rules_use_the_keys_when_the_default_is_off) {
  const Keys k;
  const std::string policy = k.dir.write("policy", "ghcr.io/acme/* enforce\n* off\n");
  const SignaturePolicy p = loaded({k.a}, off, policy);
  BOOST_TEST(p.enabled());
  BOOST_TEST(p.for_repository("ghcr.io/acme/app").mode == enforce);
  BOOST_TEST(p.for_repository("ghcr.io/acme/app").keyset == k.id(k.a));
  BOOST_TEST(p.for_repository("ghcr.io/other/app").mode == off);
  BOOST_TEST(p.for_repository("ghcr.io/other/app").pattern == "*");

  // Every rule off, the default too: nothing to look for.
  BOOST_TEST(!loaded({k.a}, off, k.dir.write("all-off", "ghcr.io/* off\n")).enabled());
}

BOOST_AUTO_TEST_CASE(the_keyset_is_sorted_and_deduplicated_and_key_files_are_shared) {
  const Keys k;
  // a and a-copy hold one key; b.pub is named by two rules and by PROXY_SIGNATURE_KEYS (as an
  // absolute path, which resolves to the same string).
  const std::string policy =
      k.dir.write("policy",
                  "ghcr.io/x/* enforce keys/b.pub keys/a.pub keys/b.pub keys/a-copy.pub\n"
                  "ghcr.io/y/* audit " +
                      k.b + "\n");
  const SignaturePolicy p = loaded({k.b}, std::nullopt, policy);

  std::vector<std::string> ids = {k.id(k.a), k.id(k.b)};
  std::sort(ids.begin(), ids.end());
  const auto& x = p.for_repository("ghcr.io/x/app");
  BOOST_TEST(x.keyset == ids[0] + "," + ids[1]);
  BOOST_REQUIRE_EQUAL(x.keys.size(), 2U);  // one per key, in the order named
  BOOST_TEST(x.keys[0].id() == k.id(k.b));
  BOOST_TEST(x.keys[1].id() == k.id(k.a));
  BOOST_TEST(p.for_repository("ghcr.io/y/app").keyset == k.id(k.b));

  // Each file once, in first-configured order.
  std::vector<std::string> paths;
  for (const auto& configured : p.keys())
    paths.push_back(configured.path);
  const std::vector<std::string> expected = {k.b, k.a, k.a_copy};
  BOOST_TEST(paths == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(relative_key_files_are_relative_to_the_policy_file) {
  const Keys k;
  const std::string policy = k.dir.write("conf/policy", "* enforce ../keys/a.pub\n");
  const SignaturePolicy p = loaded({}, std::nullopt, policy);
  BOOST_TEST(p.for_repository("ghcr.io/a").keyset == k.id(k.a));
  BOOST_REQUIRE_EQUAL(p.keys().size(), 1U);
  BOOST_TEST(p.keys()[0].path == (k.dir.path / "conf" / "../keys/a.pub").string());
}

BOOST_AUTO_TEST_CASE(load_errors_name_the_setting_and_the_file) {
  const Keys k;
  const std::string missing = (k.dir.path / "keys/absent.pub").string();
  const std::string not_a_key = k.dir.write("keys/private.pem", "-----BEGIN PRIVATE KEY-----\n");

  std::string message = refused({}, enforce);
  BOOST_TEST(message == "PROXY_SIGNATURE_MODE=enforce needs PROXY_SIGNATURE_KEYS");
  message = refused({}, audit);
  BOOST_TEST(message == "PROXY_SIGNATURE_MODE=audit needs PROXY_SIGNATURE_KEYS");

  message = refused({k.a, missing}, std::nullopt);
  BOOST_TEST(has(message, "PROXY_SIGNATURE_KEYS: public key " + missing + " is unreadable"),
             message);
  message = refused({not_a_key}, audit);
  BOOST_TEST(
      has(message, "PROXY_SIGNATURE_KEYS: public key " + not_a_key + ": not a PEM public key"),
      message);
  // Even when nothing would use it: a key that does not load is a mistake to hear of at start.
  message = refused({not_a_key}, off);
  BOOST_TEST(has(message, "PROXY_SIGNATURE_KEYS: public key " + not_a_key), message);
  message = refused({k.a, ""}, std::nullopt);
  BOOST_TEST(message == "PROXY_SIGNATURE_KEYS: an empty key file path");

  const std::string absent_policy = (k.dir.path / "absent-policy").string();
  message = refused({k.a}, std::nullopt, absent_policy);
  BOOST_TEST(message == "PROXY_SIGNATURE_POLICY " + absent_policy +
                            " is unreadable: No such file or directory");
  message = refused({k.a}, std::nullopt, k.dir.path.string());
  BOOST_TEST(message ==
             "PROXY_SIGNATURE_POLICY " + k.dir.path.string() + " is a directory, not a file");

  const std::string bad_mode = k.dir.write("bad-mode", "# x\nghcr.io/* strict\n");
  message = refused({k.a}, std::nullopt, bad_mode);
  BOOST_TEST(message == "PROXY_SIGNATURE_POLICY " + bad_mode +
                            " line 2: \"strict\" is not a signature mode (off, audit or enforce)");

  const std::string big = k.dir.write("big", std::string(pp::trust::max_policy_size + 10, '#'));
  message = refused({k.a}, std::nullopt, big);
  BOOST_TEST(message ==
             "PROXY_SIGNATURE_POLICY " + big + ": more than 65536 bytes, far more than a policy");

  const std::string missing_key =
      k.dir.write("missing-key", "ghcr.io/a/* off\nghcr.io/* enforce keys/absent.pub\n");
  message = refused({k.a}, std::nullopt, missing_key);
  BOOST_TEST(has(message, "PROXY_SIGNATURE_POLICY " + missing_key + " line 2: public key " +
                              missing + " is unreadable"),
             message);
  const std::string bad_key = k.dir.write("bad-key", "ghcr.io/* audit keys/private.pem\n");
  message = refused({}, std::nullopt, bad_key);
  BOOST_TEST(has(message, "PROXY_SIGNATURE_POLICY " + bad_key + " line 1: public key " + not_a_key +
                              ": not a PEM public key"),
             message);

  const std::string keyless = k.dir.write("keyless", "\nghcr.io/a/* off\nghcr.io/* audit\n");
  message = refused({}, std::nullopt, keyless);
  BOOST_TEST(message == "PROXY_SIGNATURE_POLICY " + keyless +
                            " line 3: \"ghcr.io/*\" is audit but names no key files, and "
                            "PROXY_SIGNATURE_KEYS is empty");
}
