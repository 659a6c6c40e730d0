#define BOOST_TEST_MODULE config
#include <boost/test/unit_test.hpp>
#include <map>
#include <string>

#include "app/config.hpp"

namespace {

using Env = std::map<std::string, std::string>;

pp::Expected<pp::Config> load(Env env) {
  return pp::load_config([env = std::move(env)](const char* name) -> std::optional<std::string> {
    const auto it = env.find(name);
    if (it == env.end() || it->second.empty()) return std::nullopt;
    return it->second;
  });
}

Env minimal() {
  return {{"PROPLET_CHANNEL_ID", "ch"}, {"PROXY_REGISTRY_URL", "http://127.0.0.1:5000"}};
}

}  // namespace

BOOST_AUTO_TEST_CASE(defaults_match_the_seed) {
  const auto c = load(minimal());
  BOOST_TEST_REQUIRE(c.ok());
  BOOST_TEST(c->mqtt_address == "tcp://localhost:1883");
  BOOST_TEST(c->chunk_size == 512000u);
  BOOST_TEST(c->chunk_window == 10u);
  BOOST_TEST(c->mqtt_qos == 1);
  BOOST_TEST(c->authenticate == false);
  BOOST_TEST(c->registry_url.scheme == "http");
  BOOST_TEST(c->registry_url.host == "127.0.0.1:5000");
  BOOST_TEST(c->channels == std::vector<std::string>{"ch"});
}

BOOST_AUTO_TEST_CASE(valid_values_are_applied) {
  struct Case {
    std::string var, value;
    std::function<bool(const pp::Config&)> check;
  };
  const Case cases[] = {
      {"PROXY_CHUNK_SIZE", "1", [](const pp::Config& c) { return c.chunk_size == 1; }},
      {"PROXY_CHUNK_WINDOW", "32", [](const pp::Config& c) { return c.chunk_window == 32; }},
      {"PROXY_MQTT_QOS", "0", [](const pp::Config& c) { return c.mqtt_qos == 0; }},
      {"PROXY_MQTT_QOS", "2", [](const pp::Config& c) { return c.mqtt_qos == 2; }},
      {"PROPLET_MQTT_ADDRESS", "mqtt://broker:1884",
       [](const pp::Config& c) { return c.mqtt_address == "tcp://broker:1884"; }},
      {"PROPLET_MQTT_ADDRESS", "tcp://broker",
       [](const pp::Config& c) { return c.mqtt_address == "tcp://broker"; }},
      {"PROXY_REGISTRY_URL", "https://ghcr.io",
       [](const pp::Config& c) {
         return c.registry_url.scheme == "https" && c.registry_url.host == "ghcr.io";
       }},
      {"PROXY_REGISTRY_URL", "registry:5000",
       [](const pp::Config& c) {
         return c.registry_url.scheme == "https" && c.registry_url.host == "registry:5000";
       }},
      {"PROXY_REGISTRY_URL", "http://registry",
       [](const pp::Config& c) { return c.registry_url.host == "registry"; }},
      {"PROXY_REGISTRY_URL", "localhost:5000",
       [](const pp::Config& c) { return c.registry_url.scheme == "http"; }},
      {"PROXY_REGISTRY_URL", "https://docker.io/",
       [](const pp::Config& c) { return c.registry_url.host == "registry-1.docker.io"; }},
      {"PROPLET_CHANNEL_ID", "+",
       [](const pp::Config& c) { return c.channels == std::vector<std::string>{"+"}; }},
      {"PROXY_SHARED_GROUP", "proxies",
       [](const pp::Config& c) { return c.shared_group == "proxies"; }},
      {"PROPLET_CHANNEL_ID", "a,b",
       [](const pp::Config& c) {
         return c.channels == std::vector<std::string>{"a", "b"};
       }},
      {"PROXY_AUTHENTICATE", "false", [](const pp::Config& c) { return !c.authenticate; }},
      {"PROXY_LOG_LEVEL", "debug", [](const pp::Config& c) { return c.log_level == "debug"; }},
  };
  for (const auto& k : cases) {
    BOOST_TEST_CONTEXT(k.var << "=" << k.value) {
      Env env = minimal();
      env[k.var] = k.value;
      const auto c = load(env);
      BOOST_TEST_REQUIRE(c.ok(), (c.ok() ? "" : c.error().message));
      BOOST_TEST(k.check(c.value()));
    }
  }
}

BOOST_AUTO_TEST_CASE(invalid_values_name_their_variable) {
  struct Case {
    std::string var, value, message;
  };
  const Case cases[] = {
      {"PROPLET_CHANNEL_ID", "", "PROPLET_CHANNEL_ID: is required"},
      {"PROXY_REGISTRY_URL", "", "PROXY_REGISTRY_URL: is required"},
      {"PROXY_CHUNK_SIZE", "0", "PROXY_CHUNK_SIZE: 0 is outside"},
      {"PROXY_CHUNK_SIZE", "abc", "PROXY_CHUNK_SIZE: \"abc\" is not a whole number"},
      {"PROXY_CHUNK_SIZE", "12k", "PROXY_CHUNK_SIZE: \"12k\" is not a whole number"},
      {"PROXY_CHUNK_SIZE", "-5", "PROXY_CHUNK_SIZE:"},
      {"PROXY_CHUNK_SIZE", "99999999999999999999999", "PROXY_CHUNK_SIZE:"},
      {"PROXY_CHUNK_WINDOW", "0", "PROXY_CHUNK_WINDOW:"},
      {"PROXY_MQTT_QOS", "3", "PROXY_MQTT_QOS:"},
      {"PROXY_REGISTRY_URL", "ftp://x", "PROXY_REGISTRY_URL: scheme \"ftp\""},
      {"PROXY_REGISTRY_URL", "http://", "PROXY_REGISTRY_URL: no host"},
      {"PROXY_REGISTRY_URL", "http://host/path", "PROXY_REGISTRY_URL:"},
      {"PROXY_REGISTRY_URL", "http://host:99999", "PROXY_REGISTRY_URL: invalid host"},
      {"PROXY_REGISTRY_URL", "http://bad host", "PROXY_REGISTRY_URL:"},
      {"PROPLET_MQTT_ADDRESS", "localhost:1883", "PROPLET_MQTT_ADDRESS:"},
      {"PROPLET_MQTT_ADDRESS", "http://x:1", "PROPLET_MQTT_ADDRESS: scheme \"http\""},
      {"PROPLET_MQTT_ADDRESS", "tcp://x:0", "PROPLET_MQTT_ADDRESS:"},
      {"PROPLET_CHANNEL_ID", "a/b", "PROPLET_CHANNEL_ID:"},
      {"PROPLET_CHANNEL_ID", "a,,b", "PROPLET_CHANNEL_ID:"},
      {"PROPLET_CHANNEL_ID", "#", "PROPLET_CHANNEL_ID:"},
      {"PROPLET_CHANNEL_ID", "a,+", "PROPLET_CHANNEL_ID:"},
      {"PROXY_SHARED_GROUP", "a/b", "PROXY_SHARED_GROUP:"},
      {"PROXY_AUTHENTICATE", "maybe", "PROXY_AUTHENTICATE:"},
      {"PROXY_AUTHENTICATE", "true", "PROXY_REGISTRY_USERNAME:"},
      {"PROXY_LOG_LEVEL", "loud", "PROXY_LOG_LEVEL:"},
  };
  for (const auto& k : cases) {
    BOOST_TEST_CONTEXT(k.var << "=\"" << k.value << "\"") {
      Env env = minimal();
      env[k.var] = k.value;
      const auto c = load(env);
      BOOST_TEST_REQUIRE(!c.ok());
      BOOST_TEST(c.error().message.rfind(k.message, 0) == 0, c.error().message);
      BOOST_TEST(c.error().message.find('\n') == std::string::npos);
    }
  }
}

BOOST_AUTO_TEST_CASE(authentication_is_satisfied_by_credentials_or_a_token) {
  Env env = minimal();
  env["PROXY_AUTHENTICATE"] = "true";
  env["PROXY_REGISTRY_TOKEN"] = "t";
  BOOST_TEST(load(env).ok());
  env.erase("PROXY_REGISTRY_TOKEN");
  env["PROXY_REGISTRY_USERNAME"] = "u";
  env["PROXY_REGISTRY_PASSWORD"] = "p";
  const auto c = load(env);
  BOOST_TEST_REQUIRE(c.ok());
  BOOST_TEST(c->registry_username == "u");
}

BOOST_AUTO_TEST_CASE(every_setting_has_a_description) {
  for (const auto& s : pp::settings()) {
    BOOST_TEST_CONTEXT(s.env) {
      BOOST_TEST(std::string(s.description).size() > 5u);
    }
  }
}
