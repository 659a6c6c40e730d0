#pragma once
// The service's configuration: one table of settings, read from the environment. Each setting knows
// its variable, default and validation, so an invalid value is reported by the name the operator
// typed.

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "nodes/error.hpp"
#include "nodes/oci/registry_client.hpp"

namespace pp {

struct Config {
  std::string mqtt_address = "tcp://localhost:1883";
  std::string thing_id;   // MQTT client id and username
  std::string thing_key;  // MQTT password
  std::vector<std::string> channels;
  oci::RegistryUrl registry_url;
  bool authenticate = false;
  std::string registry_username;
  std::string registry_password;
  std::string registry_token;
  std::size_t chunk_size = 512000;
  std::size_t chunk_window = 10;
  std::size_t max_transfers = 16;
  int mqtt_qos = 1;
  std::string log_level = "info";
};

struct Setting {
  const char* env;
  const char* default_value;  // nullptr: required
  const char* description;
  // Validates and stores the value; returns the problem, or nullopt.
  std::function<std::optional<std::string>(Config&, const std::string&)> apply;
};

const std::vector<Setting>& settings();

// Looks a variable up; nullopt when it is unset (an empty value counts as unset).
using EnvLookup = std::function<std::optional<std::string>(const char* name)>;
EnvLookup process_environment();

// Error message: "<VARIABLE>: <what is wrong>".
Expected<Config> load_config(const EnvLookup& env);

}  // namespace pp
