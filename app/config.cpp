#include "app/config.hpp"

#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>

#include "nodes/clients/oci/registry_allow.hpp"

namespace pp {

namespace {

using Problem = std::optional<std::string>;

// Where the Go proxy looks for its file: the working directory.
constexpr const char* kDefaultConfigFile = "config.toml";

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

// A whole number of bytes, `min` .. `max`.
std::function<Problem(Config&, const std::string&)> byte_count(std::uint64_t Config::*field,
                                                               std::size_t min, std::size_t max) {
  return [=](Config& c, const std::string& v) -> Problem {
    std::size_t n = 0;
    if (auto p = parse_size(v, min, max, n)) return p;
    c.*field = n;
    return std::nullopt;
  };
}

Problem parse_tenant(const std::string& v, std::string& out) {
  if (v != "+" && v.find_first_of("/+#") != std::string::npos) {
    return "tenant \"" + v + "\" contains '/', '+' or '#' (\"+\" alone means every tenant)";
  }
  out = v;
  return std::nullopt;
}

// Go's time.ParseDuration syntax ("30s", "1m30s", "500ms", "1.5h"), because deployments of the Go
// proxy set PROXY_MQTT_TIMEOUT that way, or a bare whole number of seconds. Rounded up to whole
// seconds (what Paho takes); the result must lie in 1 s .. 1 h.
// A Go duration or whole seconds, rounded up to seconds, between `min_s` and one hour.
Problem parse_timeout(const std::string& v, int& out, std::uint64_t min_s = 1) {
  constexpr std::uint64_t kSecond = 1'000'000'000, kMaxS = 3600;
  const std::uint64_t kMinS = min_s;
  const std::string range = "\"" + v + "\" is not between " + std::to_string(min_s) + "s and 1h";
  const std::string syntax =
      "\"" + v + "\" is not a duration (such as 30s, 1m30s, 500ms) or a whole number of seconds";
  std::string_view rest = v;
  bool negative = false;
  if (!rest.empty() && (rest.front() == '-' || rest.front() == '+')) {
    negative = rest.front() == '-';
    rest.remove_prefix(1);
  }
  if (rest.empty()) return syntax;
  // Saturates: a value past the cap is out of range whatever follows, but what follows must still
  // be well-formed.
  constexpr std::uint64_t kCap = std::uint64_t{1} << 62;
  const auto add = [&](std::uint64_t a, std::uint64_t b) { return std::min(kCap, a + b); };
  const auto mul = [&](std::uint64_t a, std::uint64_t b) {
    return b && a > kCap / b ? kCap : a * b;
  };
  std::uint64_t ns = 0;
  if (rest.find_first_not_of("0123456789") == std::string_view::npos) {
    for (const char d : rest) {
      ns = add(mul(ns, 10), static_cast<std::uint64_t>(d - '0'));
    }
    ns = mul(ns, kSecond);
  } else {
    static const std::pair<std::string_view, std::uint64_t> units[] = {
        {"ns", 1},       {"us", 1000},   {"\u00b5s", 1000},   {"\u03bcs", 1000},
        {"ms", 1000000}, {"s", kSecond}, {"m", 60 * kSecond}, {"h", 3600 * kSecond},
    };
    while (!rest.empty()) {
      std::uint64_t whole = 0, fraction = 0, scale = 1;
      std::size_t digits = 0;
      while (!rest.empty() && rest.front() >= '0' && rest.front() <= '9') {
        whole = add(mul(whole, 10), static_cast<std::uint64_t>(rest.front() - '0'));
        rest.remove_prefix(1);
        ++digits;
      }
      if (!rest.empty() && rest.front() == '.') {
        rest.remove_prefix(1);
        while (!rest.empty() && rest.front() >= '0' && rest.front() <= '9') {
          if (scale < kSecond * kSecond) {  // further digits are below a nanosecond anyway
            fraction = fraction * 10 + static_cast<std::uint64_t>(rest.front() - '0');
            scale *= 10;
          }
          rest.remove_prefix(1);
          ++digits;
        }
      }
      if (digits == 0) return syntax;
      const auto unit_end = std::min(rest.find_first_of("0123456789."), rest.size());
      const std::string_view unit = rest.substr(0, unit_end);
      rest.remove_prefix(unit_end);
      const auto* found = std::find_if(std::begin(units), std::end(units),
                                       [&](const auto& u) { return u.first == unit; });
      if (found == std::end(units)) return syntax;
      ns = add(ns, mul(whole, found->second));
      ns = add(ns, static_cast<std::uint64_t>(static_cast<long double>(fraction) *
                                              static_cast<long double>(found->second) /
                                              static_cast<long double>(scale)));
    }
  }
  const std::uint64_t seconds = ns / kSecond + (ns % kSecond != 0);
  if ((negative && ns != 0) || seconds < kMinS || seconds > kMaxS) return range;
  out = static_cast<int>(seconds);
  return std::nullopt;
}

}  // namespace

const std::vector<Setting>& settings() {
  static const std::vector<Setting> table = {
      {"PROXY_CONFIG_FILE", "--config", kDefaultConfigFile,
       "TOML file whose [proxy] table (tenant_id, entity_id, api_key, channel_id) supplies those "
       "values when no flag or variable does, as for the Go proxy; the default is read only if "
       "it exists",
       // Read by resolve_all, before any setting is applied.
       [](Config&, const std::string&) -> Problem { return std::nullopt; }},
      {"PROPLET_MQTT_ADDRESS",
       "--mqtt-address",
       "tcp://localhost:1883",
       "MQTT broker address",
       [](Config& c, const std::string& v) { return parse_mqtt_address(v, c.mqtt_address); },
       0,
       false,
       {"PROXY_MQTT_ADDRESS"}},
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
      {"PROXY_MQTT_CA_FILE",
       "--mqtt-ca-file",
       "",
       "CA certificates (PEM) to verify the broker with ssl:// and wss:// (default: the system's)",
       readable_file(&Config::mqtt_ca_file),
       0,
       false,
       {"PROXY_MQTT_TLS_CA_CERT", "PROXY_MQTT_CA_PATH"}},
      {"PROXY_MQTT_CERT_FILE",
       "--mqtt-cert-file",
       "",
       "client certificate (PEM) for mutual TLS with the broker",
       readable_file(&Config::mqtt_cert_file),
       0,
       false,
       {"PROXY_MQTT_TLS_CLIENT_CERT", "PROXY_MQTT_CERT_PATH"}},
      {"PROXY_MQTT_KEY_FILE",
       "--mqtt-key-file",
       "",
       "private key (PEM) of --mqtt-cert-file",
       readable_file(&Config::mqtt_key_file),
       0,
       false,
       {"PROXY_MQTT_TLS_CLIENT_KEY", "PROXY_MQTT_KEY_PATH"}},
      {"PROXY_MQTT_TLS_INSECURE",
       "--mqtt-tls-insecure",
       "false",
       "skip verifying the broker's certificate and host name (testing only)",
       [](Config& c, const std::string& v) { return parse_bool(v, c.mqtt_tls_insecure); },
       0,
       false,
       {"PROXY_MQTT_TLS_INSECURE_SKIP_VERIFY"}},
      {"PROXY_MQTT_TIMEOUT", "--mqtt-timeout", "30s",
       "how long a connect attempt to the broker may take: a Go duration (30s, 1m30s, 500ms) or "
       "whole seconds, rounded up to seconds, 1s .. 1h",
       [](Config& c, const std::string& v) { return parse_timeout(v, c.mqtt_timeout_s); }},
      {"PROXY_MQTT_CLEAN_SESSION", "--mqtt-clean-session", "true",
       "false keeps the proxy's MQTT session while it is away, so that requests published "
       "meanwhile are delivered when it is back (the broker must keep sessions; needs a stable "
       "client id: PROXY_INSTANCE_ID or PROPLET_THING_ID)",
       [](Config& c, const std::string& v) { return parse_bool(v, c.mqtt_clean_session); }},
      {"PROXY_MQTT_SESSION_EXPIRY", "--mqtt-session-expiry", "1h",
       "with PROXY_MQTT_CLEAN_SESSION=false and MQTT 5: how long the broker keeps the session "
       "after the connection ends (a Go duration or whole seconds, 1s .. 1h)",
       [](Config& c, const std::string& v) { return parse_timeout(v, c.mqtt_session_expiry_s); }},
      {"PROXY_MQTT_RESUME_DELAY", "--mqtt-resume-delay", "3s",
       "after the broker connection was lost and made again, how long the proxy waits before it "
       "publishes chunks again, so that proplets reconnecting on their own schedule are back (a "
       "Go duration or whole seconds, 0s .. 1h)",
       [](Config& c, const std::string& v) { return parse_timeout(v, c.mqtt_resume_delay_s, 0); }},
      {"PROXY_MQTT_BROKER_QUEUE", "--mqtt-broker-queue", "1020",
       "messages the broker queues for one subscriber at most (mosquitto: max_queued_messages "
       "plus max_inflight_messages): after a broker restart each transfer publishes again its "
       "last this many acknowledged chunks, which is all the broker can have lost of it",
       [](Config& c, const std::string& v) {
         return parse_size(v, 1, 1'000'000, c.mqtt_broker_queue);
       }},
      {"PROPLET_THING_ID",
       "--thing-id",
       "",
       "MQTT client id and username",
       verbatim(&Config::thing_id),
       0,
       false,
       {"PROXY_ENTITY_ID", "PROXY_CLIENT_ID"},
       {"entity_id", "client_id"}},
      {"PROPLET_THING_KEY",
       "--thing-key",
       "",
       "MQTT password",
       verbatim(&Config::thing_key),
       0,
       true,
       {"PROXY_API_KEY", "PROXY_CLIENT_KEY"},
       {"api_key", "client_key"}},
      {"PROXY_INSTANCE_ID", "--instance-id", "",
       "MQTT client id, when it must differ from the username (default: PROPLET_THING_ID, else "
       "one made from the host name and process id)",
       verbatim(&Config::mqtt_client_id)},
      {"PROXY_TENANT_ID",
       "--tenant",
       "",
       "SuperMQ tenant (domain) id whose channels the proxy serves, \"+\" for every tenant",
       [](Config& c, const std::string& v) { return parse_tenant(v, c.tenant); },
       0,
       false,
       {"PROXY_DOMAIN_ID"},
       {"tenant_id", "domain_id"}},
      {"PROXY_TOPIC_SCHEME", "--topic-scheme", "",
       "topic layout: supermq (m/<tenant>/c/<channel>/registry/...) or channels "
       "(channels/<channel>/messages/registry/...); default: supermq when a tenant is set, else "
       "channels",
       [](Config& c, const std::string& v) -> Problem {
         if (v == "channels") {
           c.topic_scheme = mqtt::TopicScheme::channels;
         } else if (v == "supermq") {
           c.topic_scheme = mqtt::TopicScheme::supermq;
         } else {
           return "\"" + v + "\" is not channels or supermq";
         }
         return std::nullopt;
       }},
      {"PROPLET_CHANNEL_ID",
       "--channel",
       "",
       "channel whose registry topics the proxy serves",
       [](Config& c, const std::string& v) { return parse_channels(v, c.channels); },
       kServe | kPull,
       false,
       {"PROXY_CHANNEL_ID"},
       {"channel_id"}},
      {"PROXY_REGISTRY_URL", "--registry-url", "",
       "default registry (http:// for plain HTTP); references without a host use it",
       [](Config& c, const std::string& v) -> Problem {
         auto url = oci::parse_registry_url(v);
         if (!url) return url.error().message;
         c.registry_url = std::move(url).value();
         return std::nullopt;
       },
       kServe},
      {"PROXY_REGISTRY_ALLOW", "--registry-allow", "",
       "registries requests may name besides PROXY_REGISTRY_URL's, comma-separated "
       "(host or host:port, as written in references), or * for any; a request naming another "
       "is refused with not_allowed",
       [](Config& c, const std::string& v) -> Problem {
         auto list = oci::RegistryAllowList::parse(v, "");
         if (!list) return list.error().message;
         c.registry_allow = v;
         return std::nullopt;
       }},
      {"PROXY_SHARED_GROUP", "--shared-group", "",
       "subscribe to requests through $share/<group>/ so that the proxies of a group split them",
       [](Config& c, const std::string& v) -> Problem {
         if (v.find_first_of("/+#$") != std::string::npos) {
           return "\"" + v + "\" contains '/', '+', '#' or '$'";
         }
         c.shared_group = v;
         return std::nullopt;
       }},
      {"PROXY_STATUS_TOPIC", "--status-topic", "",
       "where status messages go: empty for the scheme's .../registry/status, a topic in which "
       "{tenant} and {channel} are the request's, or \"off\" for none",
       [](Config& c, const std::string& v) -> Problem {
         if (auto problem = mqtt::StatusTopic::problem(v)) return "\"" + v + "\": " + *problem;
         c.status_topic = mqtt::StatusTopic(v);
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
      {"PROXY_QUEUE_LIMIT", "--queue-limit", "1024",
       "requests waiting for a transfer slot; past it a request is refused with \"busy\"",
       [](Config& c, const std::string& v) { return parse_size(v, 1, 1'000'000, c.queue_limit); }},
      {"PROXY_MAX_REQUEST_BYTES", "--max-request-bytes", "65536",
       "largest request message; a larger one is dropped unread and unanswered (counted in "
       "propeller_proxy_requests_dropped_total)",
       [](Config& c, const std::string& v) {
         return parse_size(v, 256, 16 * 1024 * 1024, c.max_request_bytes);
       }},
      {"PROXY_INTAKE_LIMIT", "--intake-limit", "256",
       "received request messages that may wait to be read; past it, new ones are dropped "
       "unread and unanswered (a flood then costs at most this many times "
       "PROXY_MAX_REQUEST_BYTES of memory)",
       [](Config& c, const std::string& v) { return parse_size(v, 1, 100'000, c.intake_limit); }},
      {"PROXY_RATE_LIMIT", "--rate-limit", "20",
       "requests per second each channel may make on average (a token bucket of "
       "PROXY_RATE_BURST); past it a request is refused with \"busy\"; 0: no limit",
       [](Config& c, const std::string& v) { return parse_size(v, 0, 1'000'000, c.rate_limit); }},
      {"PROXY_RATE_BURST", "--rate-burst", "100",
       "requests a channel may make at once after a quiet spell (see PROXY_RATE_LIMIT)",
       [](Config& c, const std::string& v) { return parse_size(v, 1, 1'000'000, c.rate_burst); }},
      {"PROXY_SHUTDOWN_GRACE", "--shutdown-grace", "10s",
       "how long running transfers may finish after SIGTERM/SIGINT before they are cancelled: a "
       "Go duration or whole seconds, 0s .. 1h",
       [](Config& c, const std::string& v) { return parse_timeout(v, c.shutdown_grace_s, 0); }},
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
      {"PROXY_HTTP_STALL_TIMEOUT", "--http-stall-timeout", "30s",
       "a registry connection that moves no byte for this long is dropped and the request retried "
       "(a download resumes with Range); a Go duration or whole seconds, 1s .. 1h",
       [](Config& c, const std::string& v) { return parse_timeout(v, c.http_stall_timeout_s); }},
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
       byte_count(&Config::max_blob_size, 1, std::size_t{1} << 40)},
      {"PROXY_SPOOL_DIR", "--spool-dir", "/tmp",
       "directory where layers that must be unpacked or examined go first, and (with the cache "
       "off) modules are copied while they are sent, for resends to late joiners: up to twice "
       "PROXY_MAX_BLOB_SIZE per running transfer, in files that vanish when closed",
       [](Config& c, const std::string& v) -> Problem {
         if (!std::filesystem::is_directory(v) || ::access(v.c_str(), W_OK | X_OK) != 0) {
           return "\"" + v + "\" is not a writable directory";
         }
         c.spool_dir = v;
         return std::nullopt;
       }},
      {"PROXY_CACHE_DIR", "--cache-dir", "",
       "where modules are cached by digest (created if missing; may be shared by several "
       "proxies); default $XDG_CACHE_HOME/propeller-proxy, else ~/.cache/propeller-proxy "
       "(/var/cache/propeller-proxy in the container image)",
       verbatim(&Config::cache_dir)},
      {"PROXY_CACHE_MAX_BYTES", "--cache-max-bytes", "2147483648",
       "bound of the cached modules' total size, in bytes (least recently used go first); 0 "
       "turns the cache off",
       byte_count(&Config::cache_max_bytes, 0, std::size_t{1} << 50)},
      {"PROXY_MANIFEST_TTL", "--manifest-ttl", "60s",
       "how long what a tag resolves to is taken from the cache without asking the registry (a "
       "Go duration or whole seconds, 0s .. 1h; 0s asks every time); while the registry is "
       "unreachable, cached tags are served up to 10 times as long, with a warning",
       [](Config& c, const std::string& v) { return parse_timeout(v, c.manifest_ttl_s, 0); }},
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
      {"PROXY_HTTP_HOST", "--http-host", "127.0.0.1",
       "address the HTTP endpoint listens on (the container image sets 0.0.0.0)",
       [](Config& c, const std::string& v) -> Problem {
         if (v.find_first_of(" /\t") != std::string::npos) return "\"" + v + "\" is not an address";
         c.http_host = v;
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

  const Resolved file = r.values[index_of("PROXY_CONFIG_FILE")];
  r.config_file = file.value.value_or(kDefaultConfigFile);
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
  Config config;
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
