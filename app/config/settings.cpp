#include "app/config/settings.hpp"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <utility>

#include "app/config/values.hpp"
#include "nodes/clients/oci/ascii.hpp"
#include "nodes/clients/oci/registry_allow.hpp"

namespace pp {

namespace {

// A file the proxy will read (a certificate or key): it must exist and be readable now.
std::function<Problem(Config&, const std::string&)> readable_file(std::string Config::*field) {
  return [field](Config& c, const std::string& v) -> Problem {
    if (::access(v.c_str(), R_OK) != 0) return "cannot read \"" + v + "\"";
    c.*field = v;
    return std::nullopt;
  };
}

// A free-form string, taken as given.
std::function<Problem(Config&, const std::string&)> verbatim(std::string Config::*field) {
  return [field](Config& c, const std::string& v) -> Problem {
    c.*field = v;
    return std::nullopt;
  };
}

// A whole number, `min` .. `max`, for a member of any integer type that holds `max`.
template <typename T>
std::function<Problem(Config&, const std::string&)> whole_number(T Config::*field, std::size_t min,
                                                                 std::size_t max) {
  return [=](Config& c, const std::string& v) -> Problem {
    std::size_t n = 0;
    if (auto p = parse_size(v, min, max, n)) return p;
    c.*field = static_cast<T>(n);
    return std::nullopt;
  };
}

// A value that nodes/ parses (into an Expected), its error message being the problem.
template <typename T, typename Parse>
std::function<Problem(Config&, const std::string&)> parsed(T Config::*field, Parse parse) {
  return [=](Config& c, const std::string& v) -> Problem {
    auto value = parse(v);
    if (!value) return value.error().message;
    c.*field = std::move(value).value();
    return std::nullopt;
  };
}

}  // namespace

const std::vector<Setting>& settings() {
  static const std::vector<Setting> table = {
      // config.toml: where the Go proxy looks for its file, the working directory.
      {"PROXY_CONFIG_FILE", "--config", "config.toml",
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
       whole_number(&Config::mqtt_broker_queue, 1, 1'000'000)},
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
       parsed(&Config::registry_url, oci::parse_registry_url), kServe},
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
       whole_number(&Config::chunk_size, 1, 64 * 1024 * 1024)},
      {"PROXY_CHUNK_WINDOW", "--chunk-window", "10",
       "chunks in flight (cut, not yet acknowledged by the broker)",
       whole_number(&Config::chunk_window, 1, 10000)},
      {"PROXY_MAX_TRANSFERS", "--max-transfers", "16", "transfers in progress at once",
       whole_number(&Config::max_transfers, 1, 10000)},
      {"PROXY_QUEUE_LIMIT", "--queue-limit", "1024",
       "requests waiting for a transfer slot; past it a request is refused with \"busy\"",
       whole_number(&Config::queue_limit, 1, 1'000'000)},
      {"PROXY_MAX_REQUEST_BYTES", "--max-request-bytes", "65536",
       "largest request message; a larger one is dropped unread and unanswered (counted in "
       "propeller_proxy_requests_dropped_total)",
       whole_number(&Config::max_request_bytes, 256, 16 * 1024 * 1024)},
      {"PROXY_INTAKE_LIMIT", "--intake-limit", "256",
       "received request messages that may wait to be read; past it, new ones are dropped "
       "unread and unanswered (a flood then costs at most this many times "
       "PROXY_MAX_REQUEST_BYTES of memory)",
       whole_number(&Config::intake_limit, 1, 100'000)},
      {"PROXY_RATE_LIMIT", "--rate-limit", "20",
       "requests per second each channel may make on average (a token bucket of "
       "PROXY_RATE_BURST); past it a request is refused with \"busy\"; 0: no limit",
       whole_number(&Config::rate_limit, 0, 1'000'000)},
      {"PROXY_RATE_BURST", "--rate-burst", "100",
       "requests a channel may make at once after a quiet spell (see PROXY_RATE_LIMIT)",
       whole_number(&Config::rate_burst, 1, 1'000'000)},
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
      {"PROXY_SIGNATURE_KEYS", "--signature-keys", "",
       "public keys (PEM: ECDSA P-256 or P-384, RSA, Ed25519) whose signatures the fleet trusts, "
       "comma-separated paths; a module signed by any one of them verifies (two allow a key "
       "rotation). Each key's id is logged at start",
       [](Config& c, const std::string& v) -> Problem {
         c.signature_keys.clear();
         std::size_t start = 0;
         while (start <= v.size()) {
           const std::size_t comma = std::min(v.find(',', start), v.size());
           const std::string_view path =
               oci::ascii::trim(std::string_view(v).substr(start, comma - start));
           if (path.empty()) return "an empty key path in \"" + v + "\"";
           c.signature_keys.emplace_back(path);
           start = comma + 1;
         }
         return std::nullopt;
       }},
      {"PROXY_SIGNATURE_MODE", "--signature-mode", "",
       "off, audit (check, log and report, deliver anyway) or enforce (deliver only what a "
       "trusted key signed); default enforce when PROXY_SIGNATURE_KEYS is set, else off",
       [](Config& c, const std::string& v) -> Problem {
         auto mode = trust::parse_signature_mode(v);
         if (!mode) return mode.error().message;
         c.signature_mode = *mode;
         return std::nullopt;
       }},
      {"PROXY_SIGNATURE_POLICY", "--signature-policy", "",
       "a file of rules, first match wins, giving some repositories their own mode and keys "
       "(\"ghcr.io/acme/* enforce keys/acme.pub\"; see docs/security.md)",
       readable_file(&Config::signature_policy)},
      {"PROXY_HTTP_RETRIES", "--http-retries", "4",
       "retries of a registry request after a connection error, timeout, 408, 429 or 5xx "
       "(exponential backoff with jitter, Retry-After honoured; blobs resume with Range)",
       whole_number(&Config::http_retries, 0, 20)},
      {"PROXY_HTTP_STALL_TIMEOUT", "--http-stall-timeout", "30s",
       "a registry connection that moves no byte for this long is dropped and the request retried "
       "(a download resumes with Range); a Go duration or whole seconds, 1s .. 1h",
       [](Config& c, const std::string& v) { return parse_timeout(v, c.http_stall_timeout_s); }},
      {"PROXY_PLATFORM", "--platform", "wasi/wasm",
       "the image index entry to follow: os/architecture[/variant] (wasi also accepts wasip1 "
       "and wasip2)",
       parsed(&Config::platform, oci::parse_platform)},
      {"PROXY_MAX_BLOB_SIZE", "--max-blob-size", "104857600",
       "largest module served, in bytes (a proplet's own limit is 100 MiB); larger ones are "
       "refused with too_large before any download",
       whole_number(&Config::max_blob_size, 1, std::size_t{1} << 40)},
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
       whole_number(&Config::cache_max_bytes, 0, std::size_t{1} << 50)},
      {"PROXY_MANIFEST_TTL", "--manifest-ttl", "60s",
       "how long what a tag resolves to is taken from the cache without asking the registry (a "
       "Go duration or whole seconds, 0s .. 1h; 0s asks every time); while the registry is "
       "unreachable, cached tags are served up to 10 times as long, with a warning",
       [](Config& c, const std::string& v) { return parse_timeout(v, c.manifest_ttl_s, 0); }},
      {"PROXY_MQTT_QOS", "--mqtt-qos", "1", "QoS of chunk publishes (0, 1 or 2)",
       whole_number(&Config::mqtt_qos, 0, 2)},
      {"PROXY_HTTP_PORT", "--http-port", "9191",
       "port of the HTTP endpoint (/health, /ready); 0 turns it off",
       whole_number(&Config::http_port, 0, 65535)},
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

}  // namespace pp
