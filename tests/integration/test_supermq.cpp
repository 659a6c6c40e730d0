// A drop-in for the current (SuperMQ-based) Propeller proxy: m/<tenant>/c/<channel>/registry/…
// topics, configured only with that proxy's variable names or its config.toml, against the real
// broker (with a password file, so that the entity id and API key are really used) and registry.
#define BOOST_TEST_MODULE supermq
#include <sys/stat.h>

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include "tests/integration/stack.hpp"

using namespace pp::test;
using namespace std::chrono_literals;

namespace {

constexpr auto kTimeout = 30s;
constexpr const char* kEntity = "entity-1";
constexpr const char* kApiKey = "api-key-1";

// mosquitto with a password file holding kEntity/kApiKey: a client with those credentials is
// authenticated, a wrong password refused (the proplet stand-ins stay anonymous).
struct PasswordFile {
  TempDir dir{"pp-mqtt-auth-"};
  PasswordFile() {
    ::chmod(dir.path().c_str(), 0755);  // mosquitto drops to its own user
    ChildProcess p({"/usr/bin/mosquitto_passwd", "-b", "-c", dir.file("passwd"), kEntity, kApiKey},
                   {}, dir.file("passwd.log"));
    BOOST_TEST_REQUIRE(p.wait_exit(30s).value_or(-1) == 0, p.log());
    ::chmod(dir.file("passwd").c_str(), 0644);
  }
  std::string broker_config() const { return "password_file " + dir.file("passwd") + "\n"; }
};

// The Go proxy's environment as a docker/compose.yaml of either Propeller generation sets it:
// tenant/entity/API key, or (later) domain/client id/client key with a separate instance id.
std::vector<std::string> go_proxy_env(const Stack& s, const std::string& tenant,
                                      const std::string& channel, bool later_names) {
  std::vector<std::string> env = {"PROXY_MQTT_ADDRESS=" + s.broker.url(),
                                  "PROXY_CHANNEL_ID=" + channel,
                                  "PROXY_MQTT_QOS=2",
                                  "PROXY_MQTT_TIMEOUT=10s",
                                  "PROXY_REGISTRY_URL=" + s.registry.url(),
                                  "PROXY_LOG_LEVEL=debug"};
  if (later_names) {
    env.insert(env.end(),
               {"PROXY_DOMAIN_ID=" + tenant, std::string("PROXY_CLIENT_ID=") + kEntity,
                std::string("PROXY_CLIENT_KEY=") + kApiKey, "PROXY_INSTANCE_ID=proxy-instance-7"});
  } else {
    env.insert(env.end(), {"PROXY_TENANT_ID=" + tenant, std::string("PROXY_ENTITY_ID=") + kEntity,
                           std::string("PROXY_API_KEY=") + kApiKey});
  }
  return env;
}

void expect_delivered(PropletClient& client, const std::string& app, const std::string& wasm) {
  BOOST_TEST((client.wait_complete(app, kTimeout) == std::optional<std::string>(wasm)));
  const auto status = client.wait_status(app, kTimeout);
  BOOST_TEST_REQUIRE(status.has_value());
  BOOST_TEST(status->value("state", "") == "completed");
}

}  // namespace

BOOST_DATA_TEST_CASE(supermq_topics_with_the_go_proxys_variables,
                     boost::unit_test::data::make({false, true}), later_names) {
  PasswordFile auth;
  Stack s(RegistryOptions{}, auth.broker_config());
  const std::string wasm = random_wasm(40'000, 81);
  s.pusher.push_wasm("smq", "v1", wasm);
  s.proxy.emplace(go_proxy_env(s, "tenant-1", "chan-1", later_names));

  PropletClient client(s.broker.url(), PropletClient::supermq_root("tenant-1", "chan-1"));
  BOOST_TEST(client.request_topic() == "m/tenant-1/c/chan-1/registry/proplet");
  client.request(s.ref("smq", "v1"));
  expect_delivered(client, s.ref("smq", "v1"), wasm);
  // The entity id and API key were the broker credentials.
  BOOST_TEST(s.broker.log().find("u'" + std::string(kEntity) + "'") != std::string::npos,
             s.broker.log());
  BOOST_TEST(s.proxy->log().find("tenant=tenant-1 channel=chan-1") != std::string::npos);
  if (later_names) {  // the instance id is the client id, the client id the username
    BOOST_TEST(s.broker.log().find("as proxy-instance-7") != std::string::npos, s.broker.log());
  }
}

BOOST_AUTO_TEST_CASE(every_tenant_and_channel_answered_where_asked) {
  Stack s;
  const std::string a = random_wasm(20'000, 82), b = random_wasm(30'000, 83);
  s.pusher.push_wasm("smq-a", "v1", a);
  s.pusher.push_wasm("smq-b", "v1", b);
  s.start_proxy({"PROXY_TENANT_ID=+", "PROPLET_CHANNEL_ID=+", "PROXY_SHARED_GROUP=fleet"});
  auto clients = PropletClient::connect_many(
      s.broker.url(),
      {PropletClient::supermq_root("t-a", "ch-a"), PropletClient::supermq_root("t-b", "ch-b")});
  clients[0]->request(s.ref("smq-a", "v1"));
  clients[1]->request(s.ref("smq-b", "v1"));
  expect_delivered(*clients[0], s.ref("smq-a", "v1"), a);
  expect_delivered(*clients[1], s.ref("smq-b", "v1"), b);
  // Nothing of one tenant's answer reached the other's topics, and by now it would have.
  s.drain(*clients[0]);
  BOOST_TEST_REQUIRE(clients[1]->sync());
  BOOST_TEST(clients[0]->snapshot(s.ref("smq-b", "v1")).received == 0u);
  BOOST_TEST(clients[1]->snapshot(s.ref("smq-a", "v1")).received == 0u);
  BOOST_TEST(s.proxy->log().find("$share/fleet/m/+/c/+/registry/proplet") != std::string::npos);
}

BOOST_DATA_TEST_CASE(config_toml_supplies_what_the_environment_does_not,
                     boost::unit_test::data::make({false, true}), later_names) {
  PasswordFile auth;
  Stack s(RegistryOptions{}, auth.broker_config());
  const std::string wasm = random_wasm(25'000, 84);
  s.pusher.push_wasm("toml", "v1", wasm);
  // The current proxy's file: [proxy] among the other services' tables.
  TempDir dir("pp-toml-");
  const std::string tenant_key = later_names ? "domain_id" : "tenant_id";
  const std::string entity_key = later_names ? "client_id" : "entity_id";
  const std::string secret_key = later_names ? "client_key" : "api_key";
  write_file(dir.file("config.toml"),
             "# Propeller configuration\n[manager]\ndomain_id = \"other\"\n\n"
             "[proxy]\n" +
                 tenant_key +
                 " = \"tenant-2\"\n"
                 "channel_id = \"chan-2\"\n" +
                 entity_key + " = \"" + kEntity + "\"\n" + secret_key + " = \"" + kApiKey + "\"\n");
  s.proxy.emplace(std::vector<std::string>{"PROXY_MQTT_ADDRESS=" + s.broker.url(),
                                           "PROXY_REGISTRY_URL=" + s.registry.url(),
                                           "PROXY_CONFIG_FILE=" + dir.file("config.toml")});
  PropletClient client(s.broker.url(), PropletClient::supermq_root("tenant-2", "chan-2"));
  client.request(s.ref("toml", "v1"));
  expect_delivered(client, s.ref("toml", "v1"), wasm);
  BOOST_TEST(s.broker.log().find("u'" + std::string(kEntity) + "'") != std::string::npos);
}

// The seed's scheme stays the default, and a channels-scheme client gets nothing from the supermq
// topics (and the other way round).
BOOST_AUTO_TEST_CASE(the_channels_scheme_stays_the_default) {
  Stack s;
  const std::string wasm = random_wasm(15'000, 85);
  s.pusher.push_wasm("seed", "v1", wasm);
  s.start_proxy();
  auto clients = PropletClient::connect_many(
      s.broker.url(), {s.channel, PropletClient::supermq_root("t", s.channel)});
  clients[1]->request(s.ref("seed", "v1"));  // nobody listens there
  clients[0]->request(s.ref("seed", "v1"));
  expect_delivered(*clients[0], s.ref("seed", "v1"), wasm);
  // An answer to the request on the supermq topics would have reached the broker by now.
  s.drain(*clients[0]);
  BOOST_TEST_REQUIRE(clients[1]->sync());
  BOOST_TEST(clients[1]->snapshot(s.ref("seed", "v1")).received == 0u);
  BOOST_TEST(clients[1]->status_messages(s.ref("seed", "v1")).empty());
}
