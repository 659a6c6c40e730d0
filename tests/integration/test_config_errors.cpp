// A missing or malformed setting stops the binary at start with exit status 2 and one line naming
// the variable (or the config file and line).
#define BOOST_TEST_MODULE config_errors
#include <boost/test/unit_test.hpp>
#include <fstream>

#include "tests/support/proxy.hpp"

using namespace pp::test;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_CASE(bad_settings_exit_2_naming_the_variable) {
  const std::vector<std::string> good = {"PROPLET_CHANNEL_ID=c",
                                         "PROXY_REGISTRY_URL=http://127.0.0.1:5000",
                                         "PROPLET_MQTT_ADDRESS=tcp://127.0.0.1:1"};
  struct Case {
    std::string setting, variable;
  };
  const Case cases[] = {
      {"PROPLET_CHANNEL_ID=", "PROPLET_CHANNEL_ID"},
      {"PROXY_REGISTRY_URL=", "PROXY_REGISTRY_URL"},
      {"PROXY_CHUNK_SIZE=0", "PROXY_CHUNK_SIZE"},
      {"PROXY_CHUNK_SIZE=lots", "PROXY_CHUNK_SIZE"},
      {"PROXY_REGISTRY_URL=ftp://registry", "PROXY_REGISTRY_URL"},
      {"PROXY_REGISTRY_URL=http://a b", "PROXY_REGISTRY_URL"},
      {"PROPLET_MQTT_ADDRESS=broker", "PROPLET_MQTT_ADDRESS"},
      {"PROXY_MQTT_QOS=5", "PROXY_MQTT_QOS"},
      {"PROXY_AUTHENTICATE=yes please", "PROXY_AUTHENTICATE"},
      {"PROXY_MQTT_TIMEOUT=2h", "PROXY_MQTT_TIMEOUT"},
      {"PROXY_TENANT_ID=a/b", "PROXY_TENANT_ID"},
      {"PROXY_TOPIC_SCHEME=supermq", "PROXY_TOPIC_SCHEME"},  // and no tenant
      {"PROXY_MQTT_TLS_INSECURE_SKIP_VERIFY=maybe", "PROXY_MQTT_TLS_INSECURE_SKIP_VERIFY"},
      {"PROXY_CONFIG_FILE=/nonexistent/config.toml", "PROXY_CONFIG_FILE"},
      {"PROXY_MQTT_CLEAN_SESSION=false", "PROXY_MQTT_CLEAN_SESSION"},  // and no stable client id
      {"PROXY_MQTT_RESUME_DELAY=soon", "PROXY_MQTT_RESUME_DELAY"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.setting) {
      std::vector<std::string> env = good;
      env.push_back(c.setting);
      ProxyProcess proxy(env, /*wait_ready=*/false);
      BOOST_TEST(proxy.process().wait_exit(30s).value_or(-1) == 2);
      const std::string log = proxy.log();
      BOOST_TEST(log.find(c.variable + ":") != std::string::npos, log);
      BOOST_TEST(std::count(log.begin(), log.end(), '\n') == 1, log);
    }
  }
}

BOOST_AUTO_TEST_CASE(an_unusable_cache_directory_exits_2_naming_it) {
  TempDir dir;
  const std::string file = dir.file("a-file");
  std::ofstream(file) << "not a directory";
  ProxyProcess proxy({"PROPLET_CHANNEL_ID=c", "PROXY_REGISTRY_URL=http://127.0.0.1:5000",
                      "PROPLET_MQTT_ADDRESS=tcp://127.0.0.1:1", "PROXY_CACHE_DIR=" + file},
                     /*wait_ready=*/false);
  BOOST_TEST(proxy.process().wait_exit(30s).value_or(-1) == 2);
  const std::string log = proxy.log();
  BOOST_TEST(log.find("PROXY_CACHE_DIR: the cache directory " + file + " is not a writable") !=
                 std::string::npos,
             log);
  BOOST_TEST(std::count(log.begin(), log.end(), '\n') == 1, log);
}

BOOST_AUTO_TEST_CASE(a_scheme_that_contradicts_the_tenant_exits_2) {
  ProxyProcess proxy({"PROPLET_CHANNEL_ID=c", "PROXY_REGISTRY_URL=http://127.0.0.1:5000",
                      "PROPLET_MQTT_ADDRESS=tcp://127.0.0.1:1", "PROXY_TENANT_ID=dom",
                      "PROXY_TOPIC_SCHEME=channels"},
                     /*wait_ready=*/false);
  BOOST_TEST(proxy.process().wait_exit(30s).value_or(-1) == 2);
  const std::string log = proxy.log();
  BOOST_TEST(log.find("PROXY_TOPIC_SCHEME: channels topics have no tenant, but PROXY_TENANT_ID "
                      "is set") != std::string::npos,
             log);
  BOOST_TEST(std::count(log.begin(), log.end(), '\n') == 1, log);
}

BOOST_AUTO_TEST_CASE(a_malformed_config_file_exits_2_naming_file_and_line) {
  TempDir dir("pp-config-file-");
  struct Case {
    std::string contents, at;  // `at`: what follows "<file>:"
  };
  const Case cases[] = {
      {"[manager]\nurl = \"x\"\n[proxy]\ntenant_id = \"dom\n", "4:"},
      {"[proxy]\nentity_id = \"e\"\ntenant_id = 5\n", "3: [proxy].tenant_id is not a string"},
  };
  int n = 0;
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.contents) {
      const std::string name = "config" + std::to_string(n++);
      const std::string file = dir.file(name + ".toml");
      write_file(file, c.contents);
      // --config, as an operator points the proxy at the Go proxy's file; a clean slate otherwise.
      std::vector<std::string> env = {"PROXY_REGISTRY_URL=http://127.0.0.1:5000",
                                      "PROPLET_MQTT_ADDRESS=tcp://127.0.0.1:1"};
      for (const char* name : {"PROPLET_CHANNEL_ID", "PROXY_CHANNEL_ID", "PROPLET_THING_ID",
                               "PROXY_ENTITY_ID", "PROPLET_THING_KEY", "PROXY_API_KEY",
                               "PROXY_TENANT_ID", "PROXY_TOPIC_SCHEME", "PROXY_CONFIG_FILE"}) {
        env.push_back(std::string("-") + name);
      }
      ChildProcess proxy({PP_PROXY_BINARY, "serve", "--config", file}, env,
                         dir.file(name + ".log"));
      BOOST_TEST(proxy.wait_exit(30s).value_or(-1) == 2);
      const std::string log = proxy.log();
      BOOST_TEST(log.find(file + ":" + c.at) != std::string::npos, log);
      BOOST_TEST(std::count(log.begin(), log.end(), '\n') == 1, log);
    }
  }
}
