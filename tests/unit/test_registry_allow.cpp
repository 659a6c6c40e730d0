#define BOOST_TEST_MODULE registry_allow
#include <boost/test/unit_test.hpp>
#include <string>

#include "nodes/clients/oci/registry_allow.hpp"

using pp::oci::RegistryAllowList;

BOOST_AUTO_TEST_CASE(which_registries_a_list_allows) {
  struct Case {
    std::string csv, registry;
    bool allowed;
  };
  const std::string dflt = "registry.local:5000";
  const Case cases[] = {
      // Only the default registry when nothing is listed.
      {"", "registry.local:5000", true},
      {"", "REGISTRY.local:5000", true},  // host names are case-insensitive
      {"", "registry.local", false},      // another port is another server
      {"", "registry.local:5001", false},
      {"", "ghcr.io", false},
      {"", "127.0.0.1:5000", false},
      // Listed hosts, exactly as references name them.
      {"ghcr.io", "ghcr.io", true},
      {"ghcr.io", "ghcr.io:443", false},
      {"ghcr.io", "evil.ghcr.io", false},
      {"ghcr.io", "ghcr.io.evil", false},
      {" ghcr.io , quay.io ", "quay.io", true},
      {"ghcr.io,,quay.io,", "quay.io", true},
      {"10.0.0.5:5000", "10.0.0.5:5000", true},
      {"10.0.0.5:5000", "10.0.0.5", false},
      {"[::1]:5000", "[::1]:5000", true},
      {"localhost:5000", "localhost:5000", true},
      // Docker Hub's names are one registry, as in references.
      {"docker.io", "registry-1.docker.io", true},
      {"index.docker.io", "registry-1.docker.io", true},
      {"registry-1.docker.io", "registry-1.docker.io", true},
      // Anything.
      {"*", "anything.example:1234", true},
      {"ghcr.io,*", "169.254.169.254", true},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT("list \"" << c.csv << "\", registry " << c.registry) {
      const auto list = RegistryAllowList::parse(c.csv, dflt);
      BOOST_TEST_REQUIRE(list.ok());
      BOOST_TEST(list->allows(c.registry) == c.allowed);
    }
  }
}

BOOST_AUTO_TEST_CASE(entries_that_are_not_registries_are_refused_by_name) {
  const std::string cases[] = {
      "https://ghcr.io", "ghcr.io/org",        "ghcr.io:0", "ghcr.io:99999", "exa_mple.com",
      "user@ghcr.io",    "ghcr.io,not a host", "justaname", "ghcr.io?x",     "*.example.com",
  };
  for (const auto& csv : cases) {
    BOOST_TEST_CONTEXT(csv) {
      const auto list = RegistryAllowList::parse(csv, "registry.local:5000");
      BOOST_TEST_REQUIRE(!list.ok());
      BOOST_TEST(list.error().message.find("is not a registry host[:port] or \"*\"") !=
                 std::string::npos);
    }
  }
}

BOOST_AUTO_TEST_CASE(describe_names_what_is_allowed) {
  BOOST_TEST(RegistryAllowList("registry.local:5000").describe() == "registry.local:5000");
  BOOST_TEST(RegistryAllowList::parse("ghcr.io,docker.io", "r:1")->describe() ==
             "r:1, ghcr.io, registry-1.docker.io");
  BOOST_TEST(RegistryAllowList::parse("*", "r:1")->describe() == "*");
}
