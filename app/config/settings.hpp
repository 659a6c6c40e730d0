#pragma once
// The service's configuration: one table of settings. Each has an environment variable and a
// command-line flag, a default, a validation, and knows whether it is a secret, so an invalid value
// is reported by the name the operator typed and --print-config can show everything but secrets.
// So that the proxy drops into deployments of Propeller's Go proxy unchanged, a setting may also
// answer to that proxy's variable names (aliases) and, for the four values the Go proxy reads from
// it, to the [proxy] table of its config.toml (see sources.hpp).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nodes/clients/mqtt/topics.hpp"
#include "nodes/clients/oci/registry_client.hpp"
#include "nodes/trust/signature_policy.hpp"

namespace pp {

// No member has a default: load_config gives each the table's, settings() being the one place
// they are written. A test that needs a default Config takes load_config's.
struct Config {
  std::string mqtt_address;
  int mqtt_version;  // 4: 3.1.1, 5: MQTT 5
  std::string mqtt_ca_file;
  std::string mqtt_cert_file;
  std::string mqtt_key_file;
  bool mqtt_tls_insecure;
  int mqtt_timeout_s;             // a connect attempt that takes longer is abandoned
  bool mqtt_clean_session;        // false: the broker keeps the proxy's session while it is away
  int mqtt_session_expiry_s;      // MQTT 5: how long it keeps it
  int mqtt_resume_delay_s;        // after a reconnect, before chunks are published again
  std::size_t mqtt_broker_queue;  // per subscriber: what a broker restart may lose
  std::string thing_id;           // MQTT client id and username
  std::string thing_key;          // MQTT password
  std::vector<std::string> channels;  // {"+"}: every channel
  std::string mqtt_client_id;         // empty: thing_id, else a generated one
  std::string tenant;                 // SuperMQ tenant (domain) id, "+" for every one; "" for none
  mqtt::TopicScheme topic_scheme;
  std::string shared_group;  // MQTT shared-subscription group, empty for none
  mqtt::StatusTopic status_topic;
  oci::RegistryUrl registry_url;
  std::string registry_allow;  // PROXY_REGISTRY_ALLOW as given (validated): see RegistryAllowList
  bool authenticate;
  std::string registry_username;
  std::string registry_password;
  std::string registry_token;
  std::size_t chunk_size;
  std::size_t chunk_window;
  std::size_t max_transfers;
  std::size_t queue_limit;
  std::size_t max_request_bytes;
  std::size_t intake_limit;
  std::size_t rate_limit;  // requests per second per channel; 0: no limit
  std::size_t rate_burst;
  int shutdown_grace_s;
  std::uint64_t max_blob_size;
  std::string spool_dir;
  std::string cache_dir;          // set from the environment when not given (see PROXY_CACHE_DIR)
  std::uint64_t cache_max_bytes;  // 0: no cache
  int manifest_ttl_s;
  // Not a setting: the standard proxy variables, taken from the environment by main before any
  // thread starts (see take_proxy_environment).
  oci::ProxyEnvironment proxies;
  oci::Platform platform;
  int http_retries;
  int http_stall_timeout_s;
  std::string registry_ca_file;
  bool registry_insecure;
  std::string registry_cert_file;
  std::string registry_key_file;
  std::vector<std::string> signature_keys;
  std::optional<trust::SignatureMode> signature_mode;  // unset: from the keys (see the setting)
  std::string signature_policy;
  // Not a setting: the three above, their key files loaded (by load_config, for serve and verify,
  // so that a key that does not load is a configuration error).
  std::shared_ptr<const trust::SignaturePolicy> trust;
  int mqtt_qos;
  int http_port;  // 0: no HTTP endpoint
  std::string http_host;
  std::string log_level;
  bool log_json;
};

// The subcommands, as a bit set of who needs a setting.
enum Command : unsigned { kServe = 1, kPush = 2, kPull = 4, kVerify = 8 };

struct Setting {
  const char* env;
  const char* flag;
  const char* default_value;  // "" when there is none
  const char* description;
  // Validates and stores the value; returns the problem, or nullopt.
  std::function<std::optional<std::string>(Config&, const std::string&)> apply;
  unsigned required_by = 0;  // Command bits
  bool secret = false;       // never printed, never logged
  // The Go proxy's names for the same value, consulted in order after `env`. Propeller renamed
  // them between releases (tenant/entity/API key, then domain/client id/client key): both are
  // accepted, so that either generation's compose file works unchanged.
  std::vector<const char*> aliases = {};
  // Keys of the config file's [proxy] table that supply the value when no flag or variable does,
  // the first present winning; empty for settings the Go proxy never read from its file.
  std::vector<const char*> toml_keys = {};
};

const std::vector<Setting>& settings();

}  // namespace pp
