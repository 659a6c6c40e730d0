// A first run on a fresh machine, as a new user meets it: the README's "Without containers"
// command sets only the broker, the channel and the registry, and HOME is a new, empty directory,
// as for root on a fresh machine, a service account or a new container user (no ~/.cache yet).
// Every other test names its own cache directory, which is why this needs a test of its own.
#define BOOST_TEST_MODULE first_run
#include <sys/stat.h>

#include <boost/test/unit_test.hpp>
#include <filesystem>

#include "tests/integration/stack.hpp"

using namespace pp::test;
using namespace std::chrono_literals;

namespace {

unsigned mode_of(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_mode & 07777 : 0;
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_quickstart_serves_a_module_with_an_empty_home) {
  Stack s;
  const std::string wasm = random_wasm(300'000, 41);
  const Desc layer = s.pusher.push_wasm("hello", "v1", wasm);
  TempDir home("pp-home-");
  // The quickstart's three variables. The harness's own additions are undone (its cache
  // directory, its config file), except the HTTP port: tests run side by side.
  ProxyProcess proxy({"PROPLET_MQTT_ADDRESS=" + s.broker.url(), "PROPLET_CHANNEL_ID=demo",
                      "PROXY_REGISTRY_URL=" + s.registry.url(), "HOME=" + home.path(),
                      "-PROXY_CACHE_DIR", "-PROXY_CONFIG_FILE"});
  const std::string cache = home.path() + "/.cache/propeller-proxy";
  BOOST_TEST(proxy.log().find("cache dir=" + cache) != std::string::npos, proxy.log());

  // Fetched as the quickstart does: `propeller-proxy pull --mqtt-address … --channel demo
  // hello:v1 --out hello.wasm`, with the same empty HOME.
  ChildProcess pull({PP_PROXY_BINARY, "pull", "--mqtt-address", s.broker.url(), "--channel", "demo",
                     "hello:v1", "--out", home.file("hello.wasm")},
                    {"HOME=" + home.path(), "-PROPLET_CHANNEL_ID", "-PROXY_REGISTRY_URL",
                     "-PROPLET_MQTT_ADDRESS", "-PROXY_CACHE_DIR"},
                    home.file("pull.log"));
  BOOST_TEST_REQUIRE(pull.wait_exit(60s).value_or(-1) == 0, pull.log() << proxy.log());
  BOOST_TEST(read_file(home.file("hello.wasm")) == wasm);

  // The directories it made are private, parents included; the module was kept.
  BOOST_TEST(mode_of(home.path() + "/.cache") == 0700u);
  BOOST_TEST(mode_of(cache) == 0700u);
  const std::string blob = cache + "/blobs/sha256/" + layer.digest.substr(7);
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!std::filesystem::exists(blob) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  BOOST_TEST(std::filesystem::exists(blob));
  BOOST_TEST(proxy.process().stop(30s) == 0, proxy.log());
}

// A parent that cannot be made is named, with what to do about it.
BOOST_AUTO_TEST_CASE(a_cache_parent_that_cannot_be_made_is_named) {
  TempDir dir;
  const std::string file = dir.file("not-a-home");
  write_file(file, "a file where a directory should be");
  ProxyProcess proxy(
      {"PROPLET_MQTT_ADDRESS=tcp://127.0.0.1:1", "PROPLET_CHANNEL_ID=demo",
       "PROXY_REGISTRY_URL=http://127.0.0.1:5000", "HOME=" + file, "-PROXY_CACHE_DIR"},
      /*wait_ready=*/false);
  BOOST_TEST(proxy.process().wait_exit(10s).value_or(-1) == 2);
  const std::string log = proxy.log();
  BOOST_TEST(log.find("PROXY_CACHE_DIR: cannot create the cache directory " + file +
                      "/.cache/propeller-proxy: its parent " + file + " is not a directory") !=
                 std::string::npos,
             log);
  BOOST_TEST(log.find("set PROXY_CACHE_DIR (--cache-dir)") != std::string::npos, log);
  BOOST_TEST(std::count(log.begin(), log.end(), '\n') == 1, log);
}
