#include "app/config.hpp"

#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <filesystem>

namespace pp {

namespace {

using Problem = std::optional<std::string>;

Problem parse_size(const std::string& v, std::size_t min, std::size_t max, std::size_t& out) {
  std::size_t n = 0;
  const auto r = std::from_chars(v.data(), v.data() + v.size(), n);
  if (r.ec != std::errc{} || r.ptr != v.data() + v.size()) {
    return "\"" + v + "\" is not a whole number";
  }
  if (n < min || n > max) {
    return std::to_string(n) + " is outside " + std::to_string(min) + ".." + std::to_string(max);
  }
  out = n;
  return std::nullopt;
}

Problem parse_bool(const std::string& v, bool& out) {
  if (v == "true" || v == "1" || v == "yes" || v == "on") {
    out = true;
  } else if (v == "false" || v == "0" || v == "no" || v == "off") {
    out = false;
  } else {
    return "\"" + v + "\" is not true or false";
  }
  return std::nullopt;
}

// tcp|mqtt|ssl|mqtts|ws|wss://host[:port] (WebSockets may add a path), in Paho's spelling.
Problem parse_mqtt_address(const std::string& v, std::string& out) {
  const auto sep = v.find("://");
  if (sep == std::string::npos) return "\"" + v + "\" is not scheme://host:port";
  std::string scheme = v.substr(0, sep);
  if (scheme == "mqtt") scheme = "tcp";
  if (scheme == "mqtts") scheme = "ssl";
  if (scheme != "tcp" && scheme != "ssl" && scheme != "ws" && scheme != "wss") {
    return "scheme \"" + v.substr(0, sep) + "\" is not tcp, mqtt, ssl, mqtts, ws or wss";
  }
  const std::string rest = v.substr(sep + 3);
  const auto slash = rest.find('/');
  if (slash != std::string::npos && scheme != "ws" && scheme != "wss") {
    return "\"" + v + "\" is not scheme://host[:port]";
  }
  const std::string authority = rest.substr(0, slash);
  const auto colon = authority.rfind(':');
  if (authority.empty() || colon == 0) return "\"" + v + "\" has no host";
  if (colon != std::string::npos) {
    std::size_t port = 0;
    if (parse_size(authority.substr(colon + 1), 1, 65535, port)) {
      return "\"" + v + "\" has an invalid port";
    }
  }
  out = scheme + "://" + rest;
  return std::nullopt;
}

// A file the proxy will read (a certificate or key): it must exist and be readable now.
std::function<Problem(Config&, const std::string&)> readable_file(std::string Config::*field) {
  return [field](Config& c, const std::string& v) -> Problem {
    if (::access(v.c_str(), R_OK) != 0) return "cannot read \"" + v + "\"";
    c.*field = v;
    return std::nullopt;
  };
}

Problem parse_channels(const std::string& v, std::vector<std::string>& out) {
  out.clear();
  if (v == "+") {  // every channel: answers go to the channel each request came from
    out.push_back(v);
    return std::nullopt;
  }
  std::size_t start = 0;
  while (start <= v.size()) {
    const auto comma = std::min(v.find(',', start), v.size());
    std::string ch = v.substr(start, comma - start);
    if (ch.empty()) return "\"" + v + "\" has an empty channel";
    if (ch.find_first_of("/+#") != std::string::npos) {
      return "channel \"" + ch + "\" contains '/', '+' or '#' (\"+\" alone means every channel)";
    }
    out.push_back(std::move(ch));
    start = comma + 1;
  }
  return std::nullopt;
}

// A free-form string, taken as given.
std::function<Problem(Config&, const std::string&)> verbatim(std::string Config::*field) {
  return [field](Config& c, const std::string& v) -> Problem {
    c.*field = v;
    return std::nullopt;
  };
}

}  // namespace

const std::vector<Setting>& settings() {
  static const std::vector<Setting> table = {
      {"PROPLET_MQTT_ADDRESS", "--mqtt-address", "tcp://localhost:1883", "MQTT broker address",
       [](Config& c, const std::string& v) { return parse_mqtt_address(v, c.mqtt_address); }},
      {"PROXY_MQTT_VERSION", "--mqtt-version", "3.1.1", "MQTT protocol version: 3.1.1 or 5",
       [](Config& c, const std::string& v) -> Problem {
         if (v == "3.1.1" || v == "3" || v == "4") {
           c.mqtt_version = 4;
         } else if (v == "5") {
           c.mqtt_version = 5;
         } else {
           return "\"" + v + "\" is not 3.1.1 or 5";
         }
         return std::nullopt;
       }},
      {"PROXY_MQTT_CA_FILE", "--mqtt-ca-file", "",
       "CA certificates (PEM) to verify the broker with ssl:// and wss:// (default: the system's)",
       readable_file(&Config::mqtt_ca_file)},
      {"PROXY_MQTT_CERT_FILE", "--mqtt-cert-file", "",
       "client certificate (PEM) for mutual TLS with the broker",
       readable_file(&Config::mqtt_cert_file)},
      {"PROXY_MQTT_KEY_FILE", "--mqtt-key-file", "", "private key (PEM) of --mqtt-cert-file",
       readable_file(&Config::mqtt_key_file)},
      {"PROXY_MQTT_TLS_INSECURE", "--mqtt-tls-insecure", "false",
       "skip verifying the broker's certificate and host name (testing only)",
       [](Config& c, const std::string& v) { return parse_bool(v, c.mqtt_tls_insecure); }},
      {"PROPLET_THING_ID", "--thing-id", "", "MQTT client id and username",
       verbatim(&Config::thing_id)},
      {"PROPLET_THING_KEY", "--thing-key", "", "MQTT password", verbatim(&Config::thing_key), 0,
       true},
      {"PROPLET_CHANNEL_ID", "--channel", "", "channel whose registry topics the proxy serves",
       [](Config& c, const std::string& v) { return parse_channels(v, c.channels); },
       kServe | kPull},
      {"PROXY_REGISTRY_URL", "--registry-url", "",
       "default registry (http:// for plain HTTP); references without a host use it",
       [](Config& c, const std::string& v) -> Problem {
         auto url = oci::parse_registry_url(v);
         if (!url) return url.error().message;
         c.registry_url = std::move(url).value();
         return std::nullopt;
       },
       kServe},
      {"PROXY_SHARED_GROUP", "--shared-group", "",
       "subscribe to requests through $share/<group>/ so that the proxies of a group split them",
       [](Config& c, const std::string& v) -> Problem {
         if (v.find_first_of("/+#$") != std::string::npos) {
           return "\"" + v + "\" contains '/', '+', '#' or '$'";
         }
         c.shared_group = v;
         return std::nullopt;
       }},
      {"PROXY_AUTHENTICATE", "--authenticate", "false",
       "send PROXY_REGISTRY_USERNAME/PASSWORD to the registry",
       [](Config& c, const std::string& v) { return parse_bool(v, c.authenticate); }},
      {"PROXY_REGISTRY_USERNAME", "--registry-username", "", "registry username",
       verbatim(&Config::registry_username)},
      {"PROXY_REGISTRY_PASSWORD", "--registry-password", "", "registry password",
       verbatim(&Config::registry_password), 0, true},
      {"PROXY_REGISTRY_TOKEN", "--registry-token", "", "static bearer token for the registry",
       verbatim(&Config::registry_token), 0, true},
      {"PROXY_CHUNK_SIZE", "--chunk-size", "512000", "blob bytes per chunk (before base64)",
       [](Config& c, const std::string& v) {
         return parse_size(v, 1, 64 * 1024 * 1024, c.chunk_size);
       }},
      {"PROXY_CHUNK_WINDOW", "--chunk-window", "10",
       "chunks in flight (cut, not yet acknowledged by the broker)",
       [](Config& c, const std::string& v) { return parse_size(v, 1, 10000, c.chunk_window); }},
      {"PROXY_MAX_TRANSFERS", "--max-transfers", "16", "transfers in progress at once",
       [](Config& c, const std::string& v) { return parse_size(v, 1, 10000, c.max_transfers); }},
      {"PROXY_REGISTRY_CA_FILE", "--registry-ca-file", "",
       "CA certificates (PEM) to trust for registries, besides the system's",
       readable_file(&Config::registry_ca_file)},
      {"PROXY_REGISTRY_INSECURE", "--registry-insecure", "false",
       "do not verify registries' TLS certificates (testing only; logged as a warning)",
       [](Config& c, const std::string& v) { return parse_bool(v, c.registry_insecure); }},
      {"PROXY_REGISTRY_CERT_FILE", "--registry-cert-file", "",
       "client certificate (PEM) for mutual TLS with PROXY_REGISTRY_URL's host",
       readable_file(&Config::registry_cert_file)},
      {"PROXY_REGISTRY_KEY_FILE", "--registry-key-file", "",
       "private key (PEM) of --registry-cert-file", readable_file(&Config::registry_key_file)},
      {"PROXY_HTTP_RETRIES", "--http-retries", "4",
       "retries of a registry request after a connection error, timeout, 408, 429 or 5xx "
       "(exponential backoff with jitter, Retry-After honoured; blobs resume with Range)",
       [](Config& c, const std::string& v) -> Problem {
         std::size_t n = 0;
         if (auto p = parse_size(v, 0, 20, n)) return p;
         c.http_retries = static_cast<int>(n);
         return std::nullopt;
       }},
      {"PROXY_PLATFORM", "--platform", "wasi/wasm",
       "the image index entry to follow: os/architecture[/variant] (wasi also accepts wasip1 "
       "and wasip2)",
       [](Config& c, const std::string& v) -> Problem {
         auto p = oci::parse_platform(v);
         if (!p) return p.error().message;
         c.platform = std::move(p).value();
         return std::nullopt;
       }},
      {"PROXY_MAX_BLOB_SIZE", "--max-blob-size", "104857600",
       "largest module served, in bytes (a proplet's own limit is 100 MiB); larger ones are "
       "refused with too_large before any download",
       [](Config& c, const std::string& v) {
         std::size_t n = 0;
         auto p = parse_size(v, 1, std::size_t{1} << 40, n);
         c.max_blob_size = n;
         return p;
       }},
      {"PROXY_SPOOL_DIR", "--spool-dir", "/tmp",
       "directory for layers that must be unpacked (tar, tar+gzip, tar+zstd) or examined before "
       "sending: up to twice PROXY_MAX_BLOB_SIZE per transfer, in files that vanish when closed",
       [](Config& c, const std::string& v) -> Problem {
         if (!std::filesystem::is_directory(v) || ::access(v.c_str(), W_OK | X_OK) != 0) {
           return "\"" + v + "\" is not a writable directory";
         }
         c.spool_dir = v;
         return std::nullopt;
       }},
      {"PROXY_MQTT_QOS", "--mqtt-qos", "1", "QoS of chunk publishes (0, 1 or 2)",
       [](Config& c, const std::string& v) -> Problem {
         std::size_t qos = 0;
         if (auto p = parse_size(v, 0, 2, qos)) return p;
         c.mqtt_qos = static_cast<int>(qos);
         return std::nullopt;
       }},
      {"PROXY_HTTP_PORT", "--http-port", "9191",
       "port of the HTTP endpoint (/health, /ready); 0 turns it off",
       [](Config& c, const std::string& v) -> Problem {
         std::size_t port = 0;
         if (auto p = parse_size(v, 0, 65535, port)) return p;
         c.http_port = static_cast<int>(port);
         return std::nullopt;
       }},
      {"PROXY_LOG_LEVEL", "--log-level", "info", "debug, info, warn or error",
       [](Config& c, const std::string& v) -> Problem {
         if (v != "debug" && v != "info" && v != "warn" && v != "error") {
           return "\"" + v + "\" is not debug, info, warn or error";
         }
         c.log_level = v;
         return std::nullopt;
       }},
      {"PROXY_LOG_FORMAT", "--log-format", "text",
       "text (logfmt) or json (one object per line: ts, level, msg and fields)",
       [](Config& c, const std::string& v) -> Problem {
         if (v != "text" && v != "json") return "\"" + v + "\" is not text or json";
         c.log_json = v == "json";
         return std::nullopt;
       }},
  };
  return table;
}

EnvLookup process_environment() {
  return [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    if (!v || !*v) return std::nullopt;
    return std::string(v);
  };
}

namespace {

struct Resolved {
  std::optional<std::string> value;
  std::string source;  // the flag or variable that supplied it, or "default"
};

Resolved resolve(const Setting& s, const EnvLookup& env, const FlagValues& flags) {
  if (const auto it = flags.find(s.env); it != flags.end()) return {it->second, s.flag};
  if (auto v = env(s.env)) return {std::move(v), s.env};
  if (*s.default_value) return {std::string(s.default_value), "default"};
  return {std::nullopt, "unset"};
}

}  // namespace

Expected<Config> load_config(const EnvLookup& env, const FlagValues& flags, Command command) {
  Config config;
  for (const Setting& s : settings()) {
    const Resolved r = resolve(s, env, flags);
    if (!r.value) {
      if (s.required_by & command) {
        return Error{"invalid_config",
                     std::string(s.env) + ": is required (or pass " + s.flag + ")"};
      }
      continue;
    }
    if (auto problem = s.apply(config, *r.value)) {
      const std::string name = r.source == "default" ? s.env : r.source;
      return Error{"invalid_config", name + ": " + *problem};
    }
  }
  if (config.registry_cert_file.empty() != config.registry_key_file.empty()) {
    return Error{"invalid_config",
                 std::string(config.registry_cert_file.empty() ? "PROXY_REGISTRY_CERT_FILE"
                                                               : "PROXY_REGISTRY_KEY_FILE") +
                     ": a client certificate and its key go together"};
  }
  if (config.mqtt_cert_file.empty() != config.mqtt_key_file.empty()) {
    return Error{"invalid_config",
                 std::string(config.mqtt_cert_file.empty() ? "PROXY_MQTT_CERT_FILE"
                                                           : "PROXY_MQTT_KEY_FILE") +
                     ": a client certificate and its key go together"};
  }
  if (config.authenticate && config.registry_token.empty() &&
      (config.registry_username.empty() || config.registry_password.empty())) {
    return Error{"invalid_config",
                 "PROXY_REGISTRY_USERNAME: PROXY_AUTHENTICATE is true but no username and "
                 "password (or PROXY_REGISTRY_TOKEN) are set"};
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
  o.max_buffered = static_cast<int>(std::max<std::size_t>(1000, c.chunk_window * 2));
  o.version = c.mqtt_version;
  o.ca_file = c.mqtt_ca_file;
  o.cert_file = c.mqtt_cert_file;
  o.key_file = c.mqtt_key_file;
  o.tls_insecure = c.mqtt_tls_insecure;
  return o;
}

std::string describe_config(const EnvLookup& env, const FlagValues& flags) {
  std::string out;
  for (const Setting& s : settings()) {
    const Resolved r = resolve(s, env, flags);
    std::string value = r.value.value_or("");
    if (s.secret && !value.empty()) value = "(redacted)";
    out += std::string(s.env) + "=" + value + "  (" + r.source + ")\n";
  }
  return out;
}

}  // namespace pp
