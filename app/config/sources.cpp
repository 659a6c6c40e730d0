#include "app/config/sources.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>

namespace pp {

EnvLookup process_environment() {
  return [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    if (!v || !*v) return std::nullopt;
    return std::string(v);
  };
}

namespace {

std::size_t index_of(std::string_view env) {
  const auto& table = settings();
  for (std::size_t i = 0; i < table.size(); ++i) {
    if (env == table[i].env) return i;
  }
  std::abort();  // a name missing from the table is a bug of this file
}

struct Resolved {
  std::optional<std::string> value;
  // The flag, variable, alias or "<file> [proxy].<key>" that supplied the value; "default" or
  // "unset".
  std::string source;
};

// The value of one setting from the flags and the environment, without file or default.
Resolved given(const Setting& s, const EnvLookup& env, const FlagValues& flags) {
  if (const auto it = flags.find(s.env); it != flags.end()) return {it->second, s.flag};
  if (auto v = env(s.env)) return {std::move(v), s.env};
  for (const char* alias : s.aliases) {
    if (auto v = env(alias)) return {std::move(v), alias};
  }
  return {std::nullopt, "unset"};
}

std::string one_line(std::string_view text) {
  std::string out(text);
  std::replace(out.begin(), out.end(), '\n', ' ');
  return out;
}

// The string values of the config file's [proxy] table, by key, for the settings that have one.
// Other keys and tables are the Go proxy's business and ignored. `named_by`: the flag or variable
// that named the file, for a file that cannot be read.
Expected<std::map<std::string, std::string>> read_proxy_table(const std::string& path,
                                                              const std::string& named_by) {
  const auto invalid = [](std::string message) {
    return Error{"invalid_config", std::move(message)};
  };
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return invalid(named_by + ": \"" + path + "\" is a directory, not a TOML file");
  }
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (in) text << in.rdbuf();
  if (!in || in.bad()) {
    const int err = errno;
    return invalid(named_by + ": cannot read \"" + path + "\"" +
                   (err ? std::string(": ") + std::strerror(err) : std::string()));
  }
  toml::table doc;
  try {
    doc = toml::parse(text.str(), path);
  } catch (const toml::parse_error& e) {
    const auto& at = e.source().begin;
    return invalid(path + ":" + std::to_string(at.line) + ":" + std::to_string(at.column) + ": " +
                   one_line(e.description()));
  }
  std::map<std::string, std::string> out;
  const toml::node* proxy = doc.get("proxy");
  if (!proxy) return out;
  const auto line = [&](const toml::node& n) {
    return path + ":" + std::to_string(n.source().begin.line);
  };
  const toml::table* table = proxy->as_table();
  if (!table) return invalid(line(*proxy) + ": [proxy] is not a table");
  for (const Setting& s : settings()) {
    for (const char* key : s.toml_keys) {
      const toml::node* node = table->get(key);
      if (!node) continue;
      const auto* value = node->as_string();
      if (!value) return invalid(line(*node) + ": [proxy]." + key + " is not a string");
      // Empty, like an empty variable, counts as unset.
      if (!value->get().empty()) out[key] = value->get();
    }
  }
  return out;
}

struct Resolution {
  std::vector<Resolved> values;  // in table order
  std::string config_file;       // the file that supplies missing values, read or not
  bool config_file_read = false;
  std::optional<Error> problem;  // the config file could not be read, or is malformed
};

Resolution resolve_all(const EnvLookup& env, const FlagValues& flags) {
  const auto& table = settings();
  Resolution r;
  for (const Setting& s : table) {
    r.values.push_back(given(s, env, flags));
  }

  const std::size_t file_index = index_of("PROXY_CONFIG_FILE");
  const Resolved file = r.values[file_index];
  r.config_file = file.value.value_or(table[file_index].default_value);
  bool missing = false;
  for (std::size_t i = 0; i < table.size(); ++i) {
    missing = missing || (!table[i].toml_keys.empty() && !r.values[i].value);
  }
  // As the Go proxy: the default file is read only when it is there and something is missing. A
  // file named explicitly is always read, so that a wrong name is reported rather than ignored.
  std::error_code ec;
  if (file.value || (missing && std::filesystem::exists(r.config_file, ec))) {
    auto proxy = read_proxy_table(r.config_file, file.value ? file.source : "PROXY_CONFIG_FILE");
    r.config_file_read = proxy.ok();
    if (!proxy) {
      r.problem = proxy.error();
    } else {
      for (std::size_t i = 0; i < table.size(); ++i) {
        for (const char* key : table[i].toml_keys) {
          if (r.values[i].value) break;
          if (const auto it = proxy->find(key); it != proxy->end()) {
            r.values[i] = {it->second, r.config_file + " [proxy]." + key};
          }
        }
      }
    }
  }

  for (std::size_t i = 0; i < table.size(); ++i) {
    if (!r.values[i].value && *table[i].default_value) {
      r.values[i] = {std::string(table[i].default_value), "default"};
    }
  }
  // The XDG base directory convention, as other caches of the user's.
  Resolved& cache_dir = r.values[index_of("PROXY_CACHE_DIR")];
  if (!cache_dir.value) {
    if (auto xdg = env("XDG_CACHE_HOME")) {
      cache_dir = {*xdg + "/propeller-proxy", "default ($XDG_CACHE_HOME)"};
    } else if (auto home = env("HOME")) {
      cache_dir = {*home + "/.cache/propeller-proxy", "default ($HOME/.cache)"};
    } else {
      cache_dir = {"/var/cache/propeller-proxy", "default"};
    }
  }
  // A tenant means SuperMQ's topics: deployments of the Go proxy set only the tenant.
  Resolved& scheme = r.values[index_of("PROXY_TOPIC_SCHEME")];
  if (!scheme.value) {
    scheme = {r.values[index_of("PROXY_TENANT_ID")].value ? "supermq" : "channels", "default"};
  }
  return r;
}

// The other ways to give a setting than its variable: "pass --flag, or set ALIAS, or key in <file>
// [proxy]".
std::string alternatives(const Setting& s, const std::string& config_file) {
  std::string text = std::string("pass ") + s.flag;
  for (const char* alias : s.aliases) {
    text += std::string(", or set ") + alias;
  }
  for (const char* key : s.toml_keys) {
    text += std::string(", or ") + key + " in " + config_file + " [proxy]";
  }
  return text;
}

}  // namespace

Expected<Config> load_config(const EnvLookup& env, const FlagValues& flags, Command command) {
  const Resolution res = resolve_all(env, flags);
  if (res.problem) return *res.problem;
  const auto& table = settings();
  // {}: the member of a setting that has no default and is not given is empty or zero.
  Config config{};
  for (std::size_t i = 0; i < table.size(); ++i) {
    const Setting& s = table[i];
    const Resolved& r = res.values[i];
    if (!r.value) {
      if (s.required_by & command) {
        return Error{"invalid_config", std::string(s.env) + ": is required (or " +
                                           alternatives(s, res.config_file) + ")"};
      }
      continue;
    }
    if (auto problem = s.apply(config, *r.value)) {
      const std::string name = r.source == "default" ? s.env : r.source;
      return Error{"invalid_config", name + ": " + *problem};
    }
  }
  const auto source_of = [&](const char* env_name) {
    return res.values[index_of(env_name)].source;
  };
  // Names the missing half of a pair by the setting's own variable, and the half that was given by
  // whichever name gave it.
  const auto pair_problem = [&](const char* missing, const char* given) {
    return Error{"invalid_config", std::string(missing) +
                                       ": a client certificate and its key go together (" +
                                       source_of(given) + " is set)"};
  };
  if (config.registry_cert_file.empty() != config.registry_key_file.empty()) {
    return config.registry_cert_file.empty()
               ? pair_problem("PROXY_REGISTRY_CERT_FILE", "PROXY_REGISTRY_KEY_FILE")
               : pair_problem("PROXY_REGISTRY_KEY_FILE", "PROXY_REGISTRY_CERT_FILE");
  }
  if (config.mqtt_cert_file.empty() != config.mqtt_key_file.empty()) {
    return config.mqtt_cert_file.empty()
               ? pair_problem("PROXY_MQTT_CERT_FILE", "PROXY_MQTT_KEY_FILE")
               : pair_problem("PROXY_MQTT_KEY_FILE", "PROXY_MQTT_CERT_FILE");
  }
  if (config.authenticate && config.registry_token.empty() &&
      (config.registry_username.empty() || config.registry_password.empty())) {
    return Error{"invalid_config",
                 "PROXY_REGISTRY_USERNAME: PROXY_AUTHENTICATE is true but no username and "
                 "password (or PROXY_REGISTRY_TOKEN) are set"};
  }
  // A scheme that was chosen (not derived from the tenant) must agree with the tenant.
  if (const std::string scheme = source_of("PROXY_TOPIC_SCHEME"); scheme != "default") {
    if (config.topic_scheme == mqtt::TopicScheme::channels && !config.tenant.empty()) {
      return Error{"invalid_config", scheme + ": channels topics have no tenant, but " +
                                         source_of("PROXY_TENANT_ID") + " is set"};
    }
    if (config.topic_scheme == mqtt::TopicScheme::supermq && config.tenant.empty()) {
      return Error{"invalid_config",
                   scheme + ": supermq topics need a tenant: set PROXY_TENANT_ID (or " +
                       alternatives(table[index_of("PROXY_TENANT_ID")], res.config_file) + ")"};
    }
  }
  // The broker finds a kept session by the client id; the one made from the host name and the
  // process id changes at every start.
  if (command == kServe && !config.mqtt_clean_session && config.mqtt_client_id.empty() &&
      config.thing_id.empty()) {
    return Error{"invalid_config",
                 source_of("PROXY_MQTT_CLEAN_SESSION") +
                     ": a kept session needs a client id that stays the same "
                     "across restarts: set PROXY_INSTANCE_ID or PROPLET_THING_ID"};
  }
  if (config.status_topic.uses_tenant() && config.topic_scheme != mqtt::TopicScheme::supermq) {
    return Error{"invalid_config", source_of("PROXY_STATUS_TOPIC") +
                                       ": {tenant} names the tenant of supermq topics, but the "
                                       "topic scheme is channels"};
  }
  if (command & (kServe | kVerify)) {
    auto policy = trust::SignaturePolicy::load(config.signature_keys, config.signature_mode,
                                               config.signature_policy);
    if (!policy) return Error{"invalid_config", policy.error().message};
    config.trust = std::make_shared<const trust::SignaturePolicy>(std::move(policy).value());
  }
  return config;
}

oci::RegistryOptions registry_options(const Config& c) {
  oci::RegistryOptions o;
  o.url = c.registry_url;
  o.authenticate = c.authenticate;
  o.username = c.registry_username;
  o.password = c.registry_password;
  o.token = c.registry_token;
  o.env = process_environment();
  o.platform = c.platform;
  o.retry.max_attempts = c.http_retries + 1;
  o.stall_timeout_ms = c.http_stall_timeout_s * 1000L;
  o.ca_file = c.registry_ca_file;
  o.insecure = c.registry_insecure;
  o.cert_file = c.registry_cert_file;
  o.key_file = c.registry_key_file;
  return o;
}

mqtt::ClientOptions mqtt_client_options(const Config& c, std::string client_id) {
  mqtt::ClientOptions o;
  o.address = c.mqtt_address;
  o.client_id = std::move(client_id);
  o.username = c.thing_id;
  o.password = c.thing_key;
  // Room for every chunk in flight, twice, and for the answers to refused requests that the
  // publisher lets wait (ChunkPublisher::kMaxRefusalStatuses), twice.
  o.max_buffered = static_cast<int>(std::max<std::size_t>(1000, c.chunk_window * 2 + 512));
  o.version = c.mqtt_version;
  o.ca_file = c.mqtt_ca_file;
  o.cert_file = c.mqtt_cert_file;
  o.key_file = c.mqtt_key_file;
  o.tls_insecure = c.mqtt_tls_insecure;
  o.connect_timeout_s = c.mqtt_timeout_s;
  o.clean_session = c.mqtt_clean_session;
  o.session_expiry_s = c.mqtt_session_expiry_s;
  return o;
}

std::string describe_config(const EnvLookup& env, const FlagValues& flags) {
  const Resolution res = resolve_all(env, flags);
  const auto& table = settings();
  std::string out;
  for (std::size_t i = 0; i < table.size(); ++i) {
    const Setting& s = table[i];
    const Resolved& r = res.values[i];
    std::string value = r.value.value_or("");
    if (s.secret && !value.empty()) value = "(redacted)";
    std::string source = r.source;
    if (i == index_of("PROXY_CONFIG_FILE") && !res.config_file_read) source += ", not read";
    out += std::string(s.env) + "=" + value + "  (" + source + ")\n";
  }
  return out;
}

}  // namespace pp
