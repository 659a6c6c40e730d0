#define BOOST_TEST_MODULE config
#include <stdlib.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "app/config/settings.hpp"
#include "app/config/sources.hpp"

namespace {

using Env = std::map<std::string, std::string>;

pp::EnvLookup lookup(Env env) {
  return [env = std::move(env)](const char* name) -> std::optional<std::string> {
    const auto it = env.find(name);
    if (it == env.end() || it->second.empty()) return std::nullopt;
    return it->second;
  };
}

pp::Expected<pp::Config> load(Env env, const pp::FlagValues& flags = {}) {
  return pp::load_config(lookup(std::move(env)), flags);
}

// An empty config file, so that no test but the one about the default reads the working
// directory's config.toml.
Env minimal() {
  return {{"PROPLET_CHANNEL_ID", "ch"},
          {"PROXY_REGISTRY_URL", "http://127.0.0.1:5000"},
          {"PROXY_CONFIG_FILE", "/dev/null"}};
}

Env without(Env env, const std::string& name) {
  env.erase(name);
  return env;
}

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.rfind(prefix, 0) == 0;
}

// The "(source)" that describe_config gives a variable.
std::string source_of(const std::string& description, const std::string& env) {
  const auto line = description.find(env + "=");
  if (line == std::string::npos) return "";
  const auto open = description.find("  (", line), close = description.find(")\n", line);
  return description.substr(open + 3, close - open - 3);
}

class TempDir {
 public:
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "pp-config-XXXXXX").string();
    if (!::mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
    path_ = templ;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Writes `name` in the directory and returns its path.
  std::string write(const std::string& name, const std::string& contents) const {
    const std::string file = path_ + "/" + name;
    std::ofstream(file) << contents;
    return file;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

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

// The XDG base directory convention, then the home directory; the container image sets it.
BOOST_AUTO_TEST_CASE(the_cache_directory_follows_the_user_s_cache_home) {
  struct Case {
    Env env;
    std::string dir;
  };
  const Case cases[] = {
      {{{"XDG_CACHE_HOME", "/x/cache"}, {"HOME", "/home/p"}}, "/x/cache/propeller-proxy"},
      {{{"HOME", "/home/p"}}, "/home/p/.cache/propeller-proxy"},
      {{}, "/var/cache/propeller-proxy"},
      {{{"PROXY_CACHE_DIR", "/data"}, {"HOME", "/home/p"}}, "/data"},
  };
  for (const auto& k : cases) {
    BOOST_TEST_CONTEXT(k.dir) {
      Env env = minimal();
      env.insert(k.env.begin(), k.env.end());
      const auto c = load(env);
      BOOST_TEST_REQUIRE(c.ok());
      BOOST_TEST(c->cache_dir == k.dir);
    }
  }
  const auto c = load(minimal());
  BOOST_TEST_REQUIRE(c.ok());
  BOOST_TEST(c->cache_max_bytes == std::uint64_t{2} << 30);
  BOOST_TEST(c->manifest_ttl_s == 60);
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
      {"PROXY_TENANT_ID", "dom-1", [](const pp::Config& c) { return c.tenant == "dom-1"; }},
      {"PROXY_TENANT_ID", "+", [](const pp::Config& c) { return c.tenant == "+"; }},
      {"PROXY_CACHE_DIR", "/srv/cache",
       [](const pp::Config& c) { return c.cache_dir == "/srv/cache"; }},
      {"PROXY_CACHE_MAX_BYTES", "0", [](const pp::Config& c) { return c.cache_max_bytes == 0; }},
      {"PROXY_CACHE_MAX_BYTES", "1048576",
       [](const pp::Config& c) { return c.cache_max_bytes == 1048576; }},
      {"PROXY_MANIFEST_TTL", "0s", [](const pp::Config& c) { return c.manifest_ttl_s == 0; }},
      {"PROXY_MANIFEST_TTL", "5m", [](const pp::Config& c) { return c.manifest_ttl_s == 300; }},
      {"PROXY_MANIFEST_TTL", "90", [](const pp::Config& c) { return c.manifest_ttl_s == 90; }},
      {"PROXY_SIGNATURE_MODE", "off",
       [](const pp::Config& c) {
         return c.signature_mode == pp::trust::SignatureMode::off && !c.trust->enabled();
       }},
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
      {"PROXY_TENANT_ID", "a/b", "PROXY_TENANT_ID: tenant \"a/b\" contains"},
      {"PROXY_TENANT_ID", "a+", "PROXY_TENANT_ID:"},
      {"PROXY_TENANT_ID", "#", "PROXY_TENANT_ID:"},
      {"PROXY_TOPIC_SCHEME", "mqtt", "PROXY_TOPIC_SCHEME: \"mqtt\" is not channels or supermq"},
      {"PROXY_MQTT_TIMEOUT", "soon", "PROXY_MQTT_TIMEOUT: \"soon\" is not a duration"},
      {"PROXY_STATUS_TOPIC", "a/+/status",
       "PROXY_STATUS_TOPIC: \"a/+/status\": a topic to publish"},
      {"PROXY_STATUS_TOPIC", "{tenant}/status", "PROXY_STATUS_TOPIC: {tenant} names the tenant"},
      {"PROXY_STATUS_TOPIC", "x/{app}", "PROXY_STATUS_TOPIC: \"x/{app}\": the only placeholders"},
      // Every alias is named as the operator typed it.
      {"PROXY_MQTT_ADDRESS", "localhost:1883", "PROXY_MQTT_ADDRESS:"},
      {"PROXY_CHANNEL_ID", "a/b", "PROXY_CHANNEL_ID: channel \"a/b\""},
      {"PROXY_MQTT_TLS_CA_CERT", "/nonexistent/ca.pem", "PROXY_MQTT_TLS_CA_CERT: cannot read"},
      {"PROXY_MQTT_TLS_CLIENT_CERT", "/nonexistent/c.pem", "PROXY_MQTT_TLS_CLIENT_CERT:"},
      {"PROXY_MQTT_TLS_CLIENT_KEY", "/nonexistent/k.pem", "PROXY_MQTT_TLS_CLIENT_KEY:"},
      {"PROXY_MQTT_TLS_INSECURE_SKIP_VERIFY", "maybe", "PROXY_MQTT_TLS_INSECURE_SKIP_VERIFY:"},
      {"PROXY_CACHE_MAX_BYTES", "2G", "PROXY_CACHE_MAX_BYTES: \"2G\" is not a whole number"},
      {"PROXY_CACHE_MAX_BYTES", "-1", "PROXY_CACHE_MAX_BYTES:"},
      {"PROXY_MANIFEST_TTL", "2h", "PROXY_MANIFEST_TTL: \"2h\" is not between 0s and 1h"},
      {"PROXY_MANIFEST_TTL", "often", "PROXY_MANIFEST_TTL: \"often\" is not a duration"},
      {"PROXY_SIGNATURE_MODE", "Enforce", "PROXY_SIGNATURE_MODE: \"Enforce\" is not a signature"},
      {"PROXY_SIGNATURE_MODE", "enforce", "PROXY_SIGNATURE_MODE=enforce needs"},
      {"PROXY_SIGNATURE_KEYS", "a.pub,,b.pub", "PROXY_SIGNATURE_KEYS: an empty key path"},
      {"PROXY_SIGNATURE_KEYS", "/nonexistent/k.pub", "PROXY_SIGNATURE_KEYS"},
      {"PROXY_SIGNATURE_POLICY", "/nonexistent/p", "PROXY_SIGNATURE_POLICY: cannot read"},
  };
  for (const auto& k : cases) {
    BOOST_TEST_CONTEXT(k.var << "=\"" << k.value << "\"") {
      Env env = minimal();
      env[k.var] = k.value;
      if (k.var == "PROXY_CHANNEL_ID") env.erase("PROPLET_CHANNEL_ID");
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

// The Go proxy's variable names, as its deployments set them.
BOOST_AUTO_TEST_CASE(go_proxy_names_are_aliases_of_their_settings) {
  const std::map<std::string, std::string> expected = {
      {"PROXY_MQTT_ADDRESS", "PROPLET_MQTT_ADDRESS"},
      {"PROXY_CHANNEL_ID", "PROPLET_CHANNEL_ID"},
      {"PROXY_ENTITY_ID", "PROPLET_THING_ID"},
      {"PROXY_API_KEY", "PROPLET_THING_KEY"},
      {"PROXY_MQTT_TLS_CA_CERT", "PROXY_MQTT_CA_FILE"},
      {"PROXY_MQTT_TLS_CLIENT_CERT", "PROXY_MQTT_CERT_FILE"},
      {"PROXY_MQTT_TLS_CLIENT_KEY", "PROXY_MQTT_KEY_FILE"},
      {"PROXY_MQTT_TLS_INSECURE_SKIP_VERIFY", "PROXY_MQTT_TLS_INSECURE"},
      // The later release's names.
      {"PROXY_DOMAIN_ID", "PROXY_TENANT_ID"},
      {"PROXY_CLIENT_ID", "PROPLET_THING_ID"},
      {"PROXY_CLIENT_KEY", "PROPLET_THING_KEY"},
      {"PROXY_MQTT_CA_PATH", "PROXY_MQTT_CA_FILE"},
      {"PROXY_MQTT_CERT_PATH", "PROXY_MQTT_CERT_FILE"},
      {"PROXY_MQTT_KEY_PATH", "PROXY_MQTT_KEY_FILE"},
  };
  std::map<std::string, std::string> actual;
  for (const auto& s : pp::settings()) {
    for (const char* alias : s.aliases)
      actual[alias] = s.env;
  }
  for (const auto& [alias, env] : expected) {
    BOOST_TEST(actual[alias] == env, alias);
  }
  BOOST_TEST(actual.size() == expected.size());
}

BOOST_AUTO_TEST_CASE(each_alias_is_applied) {
  TempDir dir;
  const std::string pem = dir.write("x.pem", "not checked here\n");
  struct Case {
    Env vars;
    std::function<bool(const pp::Config&)> check;
  };
  const Case cases[] = {
      {{{"PROXY_MQTT_ADDRESS", "mqtts://broker:8883"}},
       [](const pp::Config& c) { return c.mqtt_address == "ssl://broker:8883"; }},
      {{{"PROXY_CHANNEL_ID", "go-ch"}},
       [](const pp::Config& c) { return c.channels == std::vector<std::string>{"go-ch"}; }},
      {{{"PROXY_ENTITY_ID", "ent"}}, [](const pp::Config& c) { return c.thing_id == "ent"; }},
      {{{"PROXY_API_KEY", "key"}}, [](const pp::Config& c) { return c.thing_key == "key"; }},
      {{{"PROXY_MQTT_TLS_CA_CERT", pem}},
       [pem](const pp::Config& c) { return c.mqtt_ca_file == pem; }},
      {{{"PROXY_MQTT_TLS_CLIENT_CERT", pem}, {"PROXY_MQTT_TLS_CLIENT_KEY", pem}},
       [pem](const pp::Config& c) { return c.mqtt_cert_file == pem && c.mqtt_key_file == pem; }},
      {{{"PROXY_MQTT_TLS_INSECURE_SKIP_VERIFY", "true"}},
       [](const pp::Config& c) { return c.mqtt_tls_insecure; }},
  };
  for (const auto& k : cases) {
    BOOST_TEST_CONTEXT(k.vars.begin()->first) {
      // The channel alias must satisfy the requirement on its own.
      Env env = without(minimal(), "PROPLET_CHANNEL_ID");
      if (!k.vars.count("PROXY_CHANNEL_ID")) env["PROPLET_CHANNEL_ID"] = "ch";
      env.insert(k.vars.begin(), k.vars.end());
      const auto c = load(env);
      BOOST_TEST_REQUIRE(c.ok(), (c.ok() ? "" : c.error().message));
      BOOST_TEST(k.check(c.value()));
    }
  }
}

BOOST_AUTO_TEST_CASE(own_name_wins_over_alias_and_flag_over_both) {
  struct Case {
    std::string env, alias, flag, seed_value, alias_value, flag_value;
    std::function<std::string(const pp::Config&)> get;
  };
  const Case cases[] = {
      {"PROPLET_MQTT_ADDRESS", "PROXY_MQTT_ADDRESS", "--mqtt-address", "tcp://seed:1",
       "tcp://alias:1", "tcp://flag:1", [](const pp::Config& c) { return c.mqtt_address; }},
      {"PROPLET_CHANNEL_ID", "PROXY_CHANNEL_ID", "--channel", "seed", "alias", "flag",
       [](const pp::Config& c) { return c.channels.front(); }},
      {"PROPLET_THING_ID", "PROXY_ENTITY_ID", "--thing-id", "seed", "alias", "flag",
       [](const pp::Config& c) { return c.thing_id; }},
      {"PROPLET_THING_KEY", "PROXY_API_KEY", "--thing-key", "seed", "alias", "flag",
       [](const pp::Config& c) { return c.thing_key; }},
      {"PROXY_MQTT_TLS_INSECURE", "PROXY_MQTT_TLS_INSECURE_SKIP_VERIFY", "--mqtt-tls-insecure",
       "true", "false", "false",
       [](const pp::Config& c) { return std::string(c.mqtt_tls_insecure ? "true" : "false"); }},
  };
  for (const auto& k : cases) {
    BOOST_TEST_CONTEXT(k.env) {
      Env env = minimal();
      env[k.env] = k.seed_value;
      env[k.alias] = k.alias_value;
      auto c = load(env);
      BOOST_TEST_REQUIRE(c.ok(), (c.ok() ? "" : c.error().message));
      BOOST_TEST(k.get(*c) == k.seed_value);
      BOOST_TEST(source_of(pp::describe_config(lookup(env), {}), k.env) == k.env);

      c = load(env, {{k.env, k.flag_value}});
      BOOST_TEST_REQUIRE(c.ok(), (c.ok() ? "" : c.error().message));
      BOOST_TEST(k.get(*c) == k.flag_value);
      BOOST_TEST(source_of(pp::describe_config(lookup(env), {{k.env, k.flag_value}}), k.env) ==
                 k.flag);
    }
  }
}

BOOST_AUTO_TEST_CASE(describe_config_names_the_alias_or_file_that_supplied_each_value) {
  TempDir dir;
  const std::string file = dir.write("proxy.toml",
                                     "[proxy]\n"
                                     "api_key = \"file-secret\"\n"
                                     "tenant_id = \"dom\"\n");
  Env env = without(minimal(), "PROPLET_CHANNEL_ID");
  env["PROXY_CONFIG_FILE"] = file;
  env["PROXY_CHANNEL_ID"] = "ch";
  env["PROXY_ENTITY_ID"] = "ent";
  const std::string d = pp::describe_config(lookup(env), {});
  BOOST_TEST(source_of(d, "PROPLET_CHANNEL_ID") == "PROXY_CHANNEL_ID");
  BOOST_TEST(source_of(d, "PROPLET_THING_ID") == "PROXY_ENTITY_ID");
  BOOST_TEST(source_of(d, "PROPLET_THING_KEY") == file + " [proxy].api_key");
  BOOST_TEST(source_of(d, "PROXY_TENANT_ID") == file + " [proxy].tenant_id");
  BOOST_TEST(source_of(d, "PROXY_CONFIG_FILE") == "PROXY_CONFIG_FILE");
  BOOST_TEST(d.find("PROXY_TENANT_ID=dom  (") != std::string::npos, d);
  BOOST_TEST(d.find("PROPLET_THING_KEY=(redacted)  (") != std::string::npos, d);
  BOOST_TEST(d.find("file-secret") == std::string::npos, d);

  // A secret given by its alias is redacted too.
  env["PROXY_API_KEY"] = "alias-secret";
  const std::string d2 = pp::describe_config(lookup(env), {});
  BOOST_TEST(source_of(d2, "PROPLET_THING_KEY") == "PROXY_API_KEY");
  BOOST_TEST(d2.find("alias-secret") == std::string::npos, d2);
}

BOOST_AUTO_TEST_CASE(config_file_fills_only_missing_values) {
  TempDir dir;
  const std::string file = dir.write("config.toml",
                                     "# the Go proxy's file: other tables and keys are not ours\n"
                                     "[manager]\n"
                                     "channel_id = \"not-this\"\n"
                                     "[proxy]\n"
                                     "tenant_id = \"dom\"\n"
                                     "entity_id = \"file-entity\"\n"
                                     "api_key = \"file-key\"\n"
                                     "channel_id = \"file-ch\"\n"
                                     "unknown = 5\n"
                                     "[proplet]\n"
                                     "api_key = \"not-this\"\n");
  Env env = without(minimal(), "PROPLET_CHANNEL_ID");
  env["PROXY_CONFIG_FILE"] = file;
  env["PROXY_ENTITY_ID"] = "env-entity";
  const auto c = load(env, {{"PROXY_TENANT_ID", "flag-dom"}});
  BOOST_TEST_REQUIRE(c.ok(), (c.ok() ? "" : c.error().message));
  BOOST_TEST(c->tenant == "flag-dom");
  BOOST_TEST(c->thing_id == "env-entity");
  BOOST_TEST(c->thing_key == "file-key");
  BOOST_TEST(c->channels == std::vector<std::string>{"file-ch"});
  BOOST_TEST((c->topic_scheme == pp::mqtt::TopicScheme::supermq));

  // The file alone is enough for the required channel, and its tenant chooses SuperMQ's topics.
  const auto f = load(without(env, "PROXY_ENTITY_ID"));
  BOOST_TEST_REQUIRE(f.ok(), (f.ok() ? "" : f.error().message));
  BOOST_TEST(f->tenant == "dom");
  BOOST_TEST(f->thing_id == "file-entity");
  BOOST_TEST((f->topic_scheme == pp::mqtt::TopicScheme::supermq));
}

BOOST_AUTO_TEST_CASE(config_file_values_are_validated_and_named_by_key) {
  TempDir dir;
  const std::string file = dir.write("c.toml", "[proxy]\ntenant_id = \"a/b\"\n");
  Env env = minimal();
  env["PROXY_CONFIG_FILE"] = file;
  const auto c = load(env);
  BOOST_TEST_REQUIRE(!c.ok());
  BOOST_TEST(starts_with(c.error().message, file + " [proxy].tenant_id: tenant \"a/b\""),
             c.error().message);
}

BOOST_AUTO_TEST_CASE(malformed_config_file_is_named_with_line_and_key) {
  TempDir dir;
  struct Case {
    std::string contents, message;  // message after "<file>:"
  };
  const Case cases[] = {
      {"[proxy]\ntenant_id = \"unterminated\n", "2:"},
      {"[proxy\n", "1:"},
      {"[proxy]\nentity_id = \"a\"\nentity_id = \"b\"\n", "3:"},
      {"[manager]\nx = 1\n[proxy]\ntenant_id = 5\n", "4: [proxy].tenant_id is not a string"},
      {"[proxy]\napi_key = [\"k\"]\n", "2: [proxy].api_key is not a string"},
      {"[proxy]\nchannel_id = true\n", "2: [proxy].channel_id is not a string"},
      {"proxy = 5\n", "1: [proxy] is not a table"},
  };
  int n = 0;
  for (const auto& k : cases) {
    BOOST_TEST_CONTEXT(k.contents) {
      const std::string file = dir.write("c" + std::to_string(n++) + ".toml", k.contents);
      Env env = minimal();
      env["PROXY_CONFIG_FILE"] = file;
      const auto c = load(env);
      BOOST_TEST_REQUIRE(!c.ok());
      BOOST_TEST(starts_with(c.error().message, file + ":" + k.message), c.error().message);
      BOOST_TEST(c.error().message.find('\n') == std::string::npos);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_config_file_named_explicitly_must_exist) {
  Env env = minimal();
  env["PROXY_CONFIG_FILE"] = "/nonexistent/config.toml";
  const auto c = load(env);
  BOOST_TEST_REQUIRE(!c.ok());
  BOOST_TEST(
      starts_with(c.error().message, "PROXY_CONFIG_FILE: cannot read \"/nonexistent/config.toml\""),
      c.error().message);
  // Even when nothing is missing: a wrong name is reported, not ignored.
  const auto f = load(env, {{"PROXY_CONFIG_FILE", "/nonexistent/other.toml"},
                            {"PROPLET_THING_ID", "t"},
                            {"PROPLET_THING_KEY", "k"},
                            {"PROXY_TENANT_ID", "d"}});
  BOOST_TEST_REQUIRE(!f.ok());
  BOOST_TEST(starts_with(f.error().message, "--config: cannot read \"/nonexistent/other.toml\""),
             f.error().message);
}

// The one test that depends on the working directory: the Go proxy reads ./config.toml.
BOOST_AUTO_TEST_CASE(default_config_file_is_config_toml_in_the_working_directory) {
  TempDir dir;
  const auto previous = std::filesystem::current_path();
  std::filesystem::current_path(dir.path());
  struct Restore {
    std::filesystem::path path;
    ~Restore() { std::filesystem::current_path(path); }
  } restore{previous};

  const Env env = without(minimal(), "PROXY_CONFIG_FILE");
  // Absent: no problem, and the channel is still required.
  BOOST_TEST(load(env).ok());
  const auto missing = load(without(env, "PROPLET_CHANNEL_ID"));
  BOOST_TEST_REQUIRE(!missing.ok());
  BOOST_TEST(missing.error().message ==
             "PROPLET_CHANNEL_ID: is required (or pass --channel, or set PROXY_CHANNEL_ID, or "
             "channel_id in config.toml [proxy])");
  BOOST_TEST(source_of(pp::describe_config(lookup(env), {}), "PROXY_CONFIG_FILE") ==
             "default, not read");

  dir.write("config.toml", "[proxy]\nchannel_id = \"from-default\"\n");
  const auto c = load(without(env, "PROPLET_CHANNEL_ID"));
  BOOST_TEST_REQUIRE(c.ok(), (c.ok() ? "" : c.error().message));
  BOOST_TEST(c->channels == std::vector<std::string>{"from-default"});
  BOOST_TEST(source_of(pp::describe_config(lookup(without(env, "PROPLET_CHANNEL_ID")), {}),
                       "PROPLET_CHANNEL_ID") == "config.toml [proxy].channel_id");

  // As the Go proxy: the default file is not read when flags and variables give all four.
  dir.write("config.toml", "[proxy\n");
  Env complete = env;
  complete["PROXY_TENANT_ID"] = "d";
  complete["PROPLET_THING_ID"] = "t";
  complete["PROPLET_THING_KEY"] = "k";
  BOOST_TEST(load(complete).ok());
  const auto malformed = load(env);
  BOOST_TEST_REQUIRE(!malformed.ok());
  BOOST_TEST(starts_with(malformed.error().message, "config.toml:1:"), malformed.error().message);
}

BOOST_AUTO_TEST_CASE(topic_scheme_follows_the_tenant_and_conflicts_are_refused) {
  using pp::mqtt::TopicScheme;
  struct Case {
    Env vars;
    pp::FlagValues flags;
    std::optional<TopicScheme> scheme;  // nullopt: refused with `message`
    std::string message;
  };
  const Case cases[] = {
      {{}, {}, TopicScheme::channels, ""},
      {{{"PROXY_TENANT_ID", "dom"}}, {}, TopicScheme::supermq, ""},
      {{{"PROXY_TENANT_ID", "+"}}, {}, TopicScheme::supermq, ""},
      {{}, {{"PROXY_TENANT_ID", "dom"}}, TopicScheme::supermq, ""},
      {{{"PROXY_TOPIC_SCHEME", "channels"}}, {}, TopicScheme::channels, ""},
      {{{"PROXY_TOPIC_SCHEME", "supermq"}, {"PROXY_TENANT_ID", "dom"}},
       {},
       TopicScheme::supermq,
       ""},
      {{{"PROXY_TOPIC_SCHEME", "channels"}, {"PROXY_TENANT_ID", "dom"}},
       {},
       std::nullopt,
       "PROXY_TOPIC_SCHEME: channels topics have no tenant, but PROXY_TENANT_ID is set"},
      {{{"PROXY_TENANT_ID", "dom"}},
       {{"PROXY_TOPIC_SCHEME", "channels"}},
       std::nullopt,
       "--topic-scheme: channels topics have no tenant, but PROXY_TENANT_ID is set"},
      {{{"PROXY_TOPIC_SCHEME", "channels"}},
       {{"PROXY_TENANT_ID", "dom"}},
       std::nullopt,
       "PROXY_TOPIC_SCHEME: channels topics have no tenant, but --tenant is set"},
      {{{"PROXY_TOPIC_SCHEME", "supermq"}},
       {},
       std::nullopt,
       "PROXY_TOPIC_SCHEME: supermq topics need a tenant: set PROXY_TENANT_ID (or pass --tenant, "
       "or set PROXY_DOMAIN_ID, or tenant_id in /dev/null [proxy], or domain_id in /dev/null "
       "[proxy])"},
  };
  for (const auto& k : cases) {
    Env env = minimal();
    env.insert(k.vars.begin(), k.vars.end());
    const auto c = load(env, k.flags);
    BOOST_TEST_CONTEXT(pp::describe_config(lookup(env), k.flags)) {
      if (k.scheme) {
        BOOST_TEST_REQUIRE(c.ok(), (c.ok() ? "" : c.error().message));
        BOOST_TEST((c->topic_scheme == *k.scheme));
      } else {
        BOOST_TEST_REQUIRE(!c.ok());
        BOOST_TEST(c.error().message == k.message);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(mqtt_timeout_takes_go_durations_or_seconds) {
  const std::pair<std::string, int> good[] = {
      {"30s", 30},  {"1m", 60},      {"500ms", 1},  {"1m30s", 90}, {"1h", 3600},
      {"2", 2},     {"3600", 3600},  {"1.5s", 2},   {"0.5m", 30},  {"1h0m0s", 3600},
      {"1ns", 1},   {"999999us", 1}, {"1001ms", 2}, {"+10s", 10},  {"59m60s", 3600},
      {"1s0ms", 1}, {"2\u00b5s", 1}, {"1.s", 1},
  };
  for (const auto& [value, seconds] : good) {
    BOOST_TEST_CONTEXT(value) {
      Env env = minimal();
      env["PROXY_MQTT_TIMEOUT"] = value;
      const auto c = load(env);
      BOOST_TEST_REQUIRE(c.ok(), (c.ok() ? "" : c.error().message));
      BOOST_TEST(c->mqtt_timeout_s == seconds);
      BOOST_TEST(pp::mqtt_client_options(*c, "id").connect_timeout_s == seconds);
    }
  }
  const std::pair<std::string, std::string> bad[] = {
      {"0", "is not between 1s and 1h"},
      {"0s", "is not between 1s and 1h"},
      {"-5s", "is not between 1s and 1h"},
      {"1h0m1s", "is not between 1s and 1h"},
      {"3601", "is not between 1s and 1h"},
      {"2h", "is not between 1s and 1h"},
      {"90000000ms", "is not between 1s and 1h"},
      {"99999999999999999999999h", "is not between 1s and 1h"},
      {"30x", "is not a duration"},
      {"s", "is not a duration"},
      {"1.5", "is not a duration"},
      {".s", "is not a duration"},
      {"1m30", "is not a duration"},
      {"1 s", "is not a duration"},
      {"-", "is not a duration"},
      {"1S", "is not a duration"},
  };
  for (const auto& [value, message] : bad) {
    BOOST_TEST_CONTEXT(value) {
      Env env = minimal();
      env["PROXY_MQTT_TIMEOUT"] = value;
      const auto c = load(env);
      BOOST_TEST_REQUIRE(!c.ok());
      BOOST_TEST(starts_with(c.error().message, "PROXY_MQTT_TIMEOUT: \"" + value + "\" " + message),
                 c.error().message);
    }
  }
  const auto d = load(minimal());
  BOOST_TEST_REQUIRE(d.ok());
  BOOST_TEST(d->mqtt_timeout_s == 30);
}

// The clients' option structs keep defaults of their own, for those who use the clients directly
// (tests, tools); the service's come from the settings table alone. They must agree, or a client
// made without the service's configuration would behave otherwise than the service by default.
BOOST_AUTO_TEST_CASE(the_clients_defaults_are_the_settings_tables) {
  const auto config = load(minimal());
  BOOST_TEST_REQUIRE(bool(config));
  const pp::oci::RegistryOptions table = pp::registry_options(*config), library{};
  BOOST_TEST(table.authenticate == library.authenticate);
  BOOST_TEST(table.platform.os == library.platform.os);
  BOOST_TEST(table.platform.architecture == library.platform.architecture);
  BOOST_TEST(table.platform.variant == library.platform.variant);
  BOOST_TEST(table.retry.max_attempts == library.retry.max_attempts);
  BOOST_TEST(table.stall_timeout_ms == library.stall_timeout_ms);
  BOOST_TEST(table.insecure == library.insecure);
  const pp::mqtt::ClientOptions mqtt_table = pp::mqtt_client_options(*config, "id"), mqtt_library{};
  BOOST_TEST(mqtt_table.version == mqtt_library.version);
  BOOST_TEST(mqtt_table.connect_timeout_s == mqtt_library.connect_timeout_s);
  BOOST_TEST(mqtt_table.clean_session == mqtt_library.clean_session);
  BOOST_TEST(mqtt_table.session_expiry_s == mqtt_library.session_expiry_s);
  BOOST_TEST(mqtt_table.tls_insecure == mqtt_library.tls_insecure);
}
