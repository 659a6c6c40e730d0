// A missing or malformed setting stops the binary at start with exit status 2 and one line naming
// the variable.
#define BOOST_TEST_MODULE config_errors
#include <boost/test/unit_test.hpp>

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
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.setting) {
      std::vector<std::string> env = good;
      env.push_back(c.setting);
      ProxyProcess proxy(env, /*wait_ready=*/false);
      BOOST_TEST(proxy.process().wait_exit(10s).value_or(-1) == 2);
      const std::string log = proxy.log();
      BOOST_TEST(log.find(c.variable + ":") != std::string::npos, log);
      BOOST_TEST(std::count(log.begin(), log.end(), '\n') == 1, log);
    }
  }
}
