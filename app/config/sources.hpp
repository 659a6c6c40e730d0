#pragma once
// Where the settings' values come from. Precedence: flag > variable > aliases in order >
// config.toml > default.

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "app/config/settings.hpp"
#include "nodes/clients/mqtt/mqtt_client.hpp"
#include "nodes/clients/oci/registry_client.hpp"
#include "nodes/common/error.hpp"

namespace pp {

// Looks a variable up; nullopt when it is unset (an empty value counts as unset).
using EnvLookup = std::function<std::optional<std::string>(const char* name)>;
EnvLookup process_environment();

// Values given on the command line, by the setting's environment variable name.
using FlagValues = std::map<std::string, std::string>;

// Error message: "<--flag, VARIABLE, alias or config file key, whichever supplied the value>: <what
// is wrong>", or "<file>:<line>[:<column>]: <what is wrong>" for a malformed config file. The
// config file is PROXY_CONFIG_FILE as `env` or `flags` give it (default: config.toml in the working
// directory, when it exists).
Expected<Config> load_config(const EnvLookup& env, const FlagValues& flags = {},
                             Command command = kServe);

// How to reach and authorise with registries, for the proxy and for push alike.
oci::RegistryOptions registry_options(const Config& config);

// How to reach the broker, for the proxy and for the pull client alike.
mqtt::ClientOptions mqtt_client_options(const Config& config, std::string client_id);

// The effective configuration, one "VARIABLE=value  (source)" line per setting, secrets redacted;
// the source is the flag, variable, alias or "<file> [proxy].<key>" that supplied the value.
std::string describe_config(const EnvLookup& env, const FlagValues& flags);

}  // namespace pp