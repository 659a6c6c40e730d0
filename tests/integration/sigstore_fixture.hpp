#pragma once
// Running the Sigstore fixture (tests/support/sigstore/sigstore-fixture.mjs) and OpenSSL from an
// integration test: what test_sigstore_fixture and test_push_sign share.

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

namespace pp::test {

inline constexpr std::chrono::seconds kTimeout{60};

struct Run {
  int code = -1;       // -1: still running at the deadline (then killed)
  std::string output;  // stdout and stderr
};

// Runs `argv` to its end, with a deadline; the machine's HTTP proxy does not decide where the
// requests go (npm's HTTP agent and the proxy's registry client read these variables). `env`:
// more "K=V" / "-K" overrides.
inline Run run(const TempDir& dir, std::vector<std::string> argv,
               const std::vector<std::string>& env = {}) {
  static int runs = 0;
  std::vector<std::string> overrides;
  for (const char* name : {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "proxy",
                           "PROXY", "no_proxy", "NO_PROXY"}) {
    overrides.push_back(std::string("-") + name);
  }
  overrides.insert(overrides.end(), env.begin(), env.end());
  ChildProcess p(std::move(argv), overrides, dir.file("run-" + std::to_string(runs++) + ".log"));
  const auto code = p.wait_exit(kTimeout);
  return {code.value_or(-1), p.log()};
}

inline Run fixture(const TempDir& dir, std::vector<std::string> args) {
  args.insert(args.begin(), {PP_NODE, PP_SIGSTORE_FIXTURE});
  return run(dir, std::move(args));
}

// A private key made by OpenSSL at dir/<name>.key and its public key at dir/<name>.pub.
inline void make_key(const TempDir& dir, const std::string& name,
                     std::vector<std::string> genpkey) {
  genpkey.insert(genpkey.begin(), {"openssl", "genpkey", "-out", dir.file(name + ".key")});
  const Run gen = run(dir, genpkey);
  BOOST_TEST_REQUIRE(gen.code == 0, gen.output);
  const Run pub = run(dir, {"openssl", "pkey", "-in", dir.file(name + ".key"), "-pubout", "-out",
                            dir.file(name + ".pub")});
  BOOST_TEST_REQUIRE(pub.code == 0, pub.output);
}

inline const std::vector<std::string> kP256 = {"-algorithm", "EC", "-pkeyopt",
                                               "ec_paramgen_curve:P-256"};
inline const std::vector<std::string> kEd25519 = {"-algorithm", "ED25519"};
inline const std::vector<std::string> kRsa2048 = {"-algorithm", "RSA", "-pkeyopt",
                                                  "rsa_keygen_bits:2048"};
inline const std::vector<std::string> kP384 = {"-algorithm", "EC", "-pkeyopt",
                                               "ec_paramgen_curve:P-384"};

// The fixture's npm packages: tests/run installs them.
inline void require_node_modules() {
  const auto modules =
      std::filesystem::path(PP_SIGSTORE_FIXTURE).parent_path() / "node_modules" / "@sigstore";
  BOOST_TEST_REQUIRE(std::filesystem::is_directory(modules),
                     modules << " is missing: npm ci --prefix tests/support/sigstore (tests/run "
                                "does it)");
}

}  // namespace pp::test
