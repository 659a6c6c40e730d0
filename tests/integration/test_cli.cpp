// The command line: help, version, settings as flags (flag > environment > default), redacted
// --print-config, usage errors, and the push and pull subcommands against the real services.
#define BOOST_TEST_MODULE cli
#include <boost/test/unit_test.hpp>
#include <filesystem>

#include "tests/integration/stack.hpp"

using namespace pp::test;
using namespace std::chrono_literals;

namespace {

struct Run {
  int status;
  std::string output;  // stdout and stderr
};

Run run(std::vector<std::string> args, std::vector<std::string> env = {}) {
  TempDir dir("pp-cli-");
  args.insert(args.begin(), PP_PROXY_BINARY);
  // A clean slate: nothing of the test runner's environment configures the binary.
  for (const char* name : {"PROPLET_CHANNEL_ID", "PROXY_REGISTRY_URL", "PROPLET_MQTT_ADDRESS",
                           "PROXY_CHUNK_SIZE", "PROXY_LOG_LEVEL"}) {
    env.insert(env.begin(), std::string("-") + name);
  }
  ChildProcess p(args, env, dir.file("out.log"));
  const auto status = p.wait_exit(60s);
  return {status.value_or(-1), p.log()};
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

BOOST_AUTO_TEST_CASE(help_lists_every_flag_with_its_variable_and_default) {
  const Run r = run({"--help"});
  BOOST_TEST(r.status == 0);
  for (const std::string line :
       {"--mqtt-address VALUE", "env PROPLET_MQTT_ADDRESS, default tcp://localhost:1883",
        "--chunk-size VALUE", "env PROXY_CHUNK_SIZE, default 512000", "--channel VALUE",
        "env PROPLET_CHANNEL_ID, required", "--registry-password", "env PROXY_REGISTRY_PASSWORD",
        "--mqtt-qos", "default 1", "serve", "push", "pull"}) {
    BOOST_TEST(contains(r.output, line), "help lacks " << line);
  }
}

BOOST_AUTO_TEST_CASE(version_prints_the_version) {
  const Run r = run({"--version"});
  BOOST_TEST(r.status == 0);
  BOOST_TEST(contains(r.output, "0."));
}

BOOST_AUTO_TEST_CASE(print_config_shows_sources_and_redacts_secrets) {
  const Run r = run(
      {"serve", "--print-config", "--chunk-size", "2000", "--registry-token", "tok-flag-secret"},
      {"PROXY_CHUNK_SIZE=1000", "PROPLET_CHANNEL_ID=ch", "PROXY_REGISTRY_URL=http://r:5000",
       "PROXY_REGISTRY_PASSWORD=pw-env-secret", "PROPLET_THING_KEY=key-env-secret"});
  BOOST_TEST(r.status == 0, r.output);
  BOOST_TEST(contains(r.output, "PROXY_CHUNK_SIZE=2000  (--chunk-size)"));  // flag > environment
  BOOST_TEST(contains(r.output, "PROPLET_CHANNEL_ID=ch  (PROPLET_CHANNEL_ID)"));
  BOOST_TEST(contains(r.output, "PROXY_CHUNK_WINDOW=10  (default)"));
  BOOST_TEST(contains(r.output, "PROXY_REGISTRY_PASSWORD=(redacted)"));
  for (const char* secret : {"tok-flag-secret", "pw-env-secret", "key-env-secret"}) {
    BOOST_TEST(!contains(r.output, secret), secret << " leaked");
  }
}

BOOST_AUTO_TEST_CASE(invalid_command_lines_exit_2_naming_the_flag_or_variable) {
  const std::vector<std::string> env = {"PROPLET_CHANNEL_ID=ch",
                                        "PROXY_REGISTRY_URL=http://r:5000"};
  struct Case {
    std::vector<std::string> args;
    std::vector<std::string> env;
    std::string names;
  };
  const Case cases[] = {
      {{"serve", "--chunk-size", "0"}, env, "--chunk-size:"},
      {{"--chunk-size", "x"}, env, "--chunk-size:"},
      {{"serve", "--registry-url", "ftp://x"}, env, "--registry-url:"},
      {{"serve"},
       {"PROXY_CHUNK_SIZE=0", "PROPLET_CHANNEL_ID=ch", "PROXY_REGISTRY_URL=http://r"},
       "PROXY_CHUNK_SIZE:"},
      {{"serve"}, {"PROXY_REGISTRY_URL=http://r:5000"}, "PROPLET_CHANNEL_ID: is required"},
      {{"serve", "--no-such-flag"}, env, "--no-such-flag"},
      {{"push", "only-one-arg"}, env, "REF"},
      {{"pull", "ref"}, env, "--out"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.names) {
      const Run r = run(c.args, c.env);
      BOOST_TEST(r.status == 2);
      BOOST_TEST(contains(r.output, c.names), r.output);
      BOOST_TEST(std::count(r.output.begin(), r.output.end(), '\n') == 1, r.output);
    }
  }
}

BOOST_AUTO_TEST_CASE(push_then_pull_through_the_proxy) {
  Stack s;
  TempDir dir("pp-cli-");
  const std::string wasm = random_wasm(1'234'567, 5);
  write_file(dir.file("app.wasm"), wasm);
  const std::string app = s.ref("cli/app", "v1");

  const Run pushed = run({"push", dir.file("app.wasm"), app});
  BOOST_TEST_REQUIRE(pushed.status == 0, pushed.output);
  BOOST_TEST(contains(pushed.output, "pushed " + app));
  BOOST_TEST(contains(pushed.output, sha256_digest(wasm)));
  // What `push` stored is an artifact the proxy (and oras) understand.
  const auto manifest = http_get(s.registry.url() + "/v2/cli/app/manifests/v1",
                                 {"Accept: application/vnd.oci.image.manifest.v1+json"});
  BOOST_TEST(manifest.status == 200);
  BOOST_TEST(contains(manifest.body, "application/vnd.wasm.config.v0+json"));
  BOOST_TEST(contains(manifest.body, "\"application/wasm\""));

  s.start_proxy({"PROXY_CHUNK_SIZE=100000"});
  const std::vector<std::string> mqtt = {"--mqtt-address", s.broker.url(), "--channel", s.channel};
  std::vector<std::string> args = {"pull", app, "--out", dir.file("got.wasm")};
  args.insert(args.end(), mqtt.begin(), mqtt.end());
  const Run pulled = run(args);
  BOOST_TEST_REQUIRE(pulled.status == 0, pulled.output);
  BOOST_TEST(read_file(dir.file("got.wasm")) == wasm);
  BOOST_TEST(contains(pulled.output,
                      "pulled " + app + ": 1234567 bytes, " + sha256_digest(wasm) + ", 13 chunks"));

  // A failure the proxy reports ends the pull with its code.
  args = {"pull", s.ref("cli/missing", "v1"), "--out", dir.file("missing.wasm")};
  args.insert(args.end(), mqtt.begin(), mqtt.end());
  const Run missing = run(args);
  BOOST_TEST(missing.status == 1);
  BOOST_TEST(contains(missing.output, "not_found"), missing.output);
  BOOST_TEST(!std::filesystem::exists(dir.file("missing.wasm")));

  // Nobody answers: a timeout.
  s.stop_proxy();
  args = {"pull", app, "--out", dir.file("late.wasm"), "--timeout", "2"};
  args.insert(args.end(), mqtt.begin(), mqtt.end());
  const Run late = run(args);
  BOOST_TEST(late.status == 3, late.output);
  BOOST_TEST(contains(late.output, "no complete answer"));
}

BOOST_AUTO_TEST_CASE(status_messages_tell_the_requester_how_it_ended) {
  Stack s;
  const std::string wasm = random_wasm(3000, 9);
  s.pusher.push_wasm("st", "v1", wasm);
  s.start_proxy();
  PropletClient client(s.broker.url(), s.channel);
  client.request(s.ref("st", "v1"));
  const auto done = client.wait_status(s.ref("st", "v1"), 30s);
  BOOST_TEST_REQUIRE(done.has_value());
  BOOST_TEST(done->value("state", "") == "completed");
  BOOST_TEST(done->value("digest", "") == sha256_digest(wasm));
  BOOST_TEST(done->value("size", 0) == 3000);
  BOOST_TEST(done->value("total_chunks", 0) == 1);

  client.request(s.ref("st", "nope"));
  const auto failed = client.wait_status(s.ref("st", "nope"), 30s);
  BOOST_TEST_REQUIRE(failed.has_value());
  BOOST_TEST(failed->value("state", "") == "failed");
  BOOST_TEST(failed->at("error").value("code", "") == "not_found");

  client.publish_raw(client.request_topic(), R"({"app_name": 42})");
  const auto refused = client.wait_status("", 30s);
  BOOST_TEST_REQUIRE(refused.has_value());
  BOOST_TEST(refused->at("error").value("code", "") == "invalid_request");
}
