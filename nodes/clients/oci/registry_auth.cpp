#include "nodes/clients/oci/registry_auth.hpp"

#include <cctype>
#include <nlohmann/json.hpp>

#include "nodes/clients/oci/auth_challenge.hpp"
#include "nodes/clients/oci/registry_client.hpp"

namespace pp::oci {

namespace {

constexpr std::size_t kMaxTokenResponse = 64 * 1024;

std::string cache_key(const std::string& registry, const std::string& scope) {
  return registry + "|" + scope;
}

// Collects a token endpoint's answer.
class TokenExchange : public HttpHandler {
 public:
  using Done = std::function<void(const HttpHead&, std::string, std::optional<std::string>)>;
  explicit TokenExchange(Done done) : done_(std::move(done)) {}
  std::size_t on_body(const HttpHead&, const char* data, std::size_t size) override {
    if (body_.size() + size > kMaxTokenResponse) return 0;
    body_.append(data, size);
    return size;
  }
  void on_done(const HttpHead& head, std::optional<std::string> error) override {
    done_(head, std::move(body_), std::move(error));
  }

 private:
  Done done_;
  std::string body_;
};

}  // namespace

std::string url_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
  return out;
}

RegistryAuth::RegistryAuth(HttpIo& io, const RegistryOptions& options, EnvGet env)
    : io_(io), options_(options), env_(std::move(env)) {}

std::optional<Credentials> RegistryAuth::credentials_for(const std::string& registry) {
  if (registry == options_.url.host && !options_.username.empty()) {
    return Credentials{options_.username, options_.password, {}};
  }
  if (!env_) return std::nullopt;
  return find_credentials(registry, env_);
}

void RegistryAuth::authorize(HttpRequest& request, const Reference& ref) {
  const bool own = ref.registry == options_.url.host;
  {
    std::lock_guard lock(mutex_);
    if (const auto token =
            tokens_.find(cache_key(ref.registry, pull_scope(ref.repository)), Clock::now())) {
      request.headers.push_back("Authorization: Bearer " + *token);
      return;
    }
    if (own && !options_.token.empty()) {
      request.headers.push_back("Authorization: Bearer " + options_.token);
      return;
    }
    const bool basic_wanted = basic_.count(ref.registry) > 0 || (own && options_.authenticate);
    if (!basic_wanted) return;
  }
  if (auto creds = credentials_for(ref.registry); creds && !creds->username.empty()) {
    request.username = creds->username;
    request.password = creds->password;
  }
}

std::size_t RegistryAuth::cached_tokens() {
  std::lock_guard lock(mutex_);
  return tokens_.size(Clock::now());
}

std::size_t RegistryAuth::basic_registries() {
  std::lock_guard lock(mutex_);
  return basic_.size();
}

void RegistryAuth::meet(const Reference& ref, const std::string& www_authenticate,
                        std::function<void(std::optional<Error>)> done) {
  const auto challenges = parse_www_authenticate(www_authenticate);
  if (const Challenge* bearer = find_challenge(challenges, "bearer")) {
    return fetch_token(ref, bearer->params, std::move(done));
  }
  if (find_challenge(challenges, "basic")) {
    const auto creds = credentials_for(ref.registry);
    if (!creds || creds->username.empty()) {
      return done(Error{errc::unauthorized,
                        ref.registry + " asks for a username and password; set "
                                       "PROXY_REGISTRY_USERNAME/PASSWORD (PROXY_AUTHENTICATE=true) "
                                       "or log in to it in an auth file the proxy reads"});
    }
    bool first_time = false;
    {
      std::lock_guard lock(mutex_);
      if (basic_.size() >= kMaxBasicRegistries && !basic_.count(ref.registry)) basic_.clear();
      first_time = basic_.insert(ref.registry).second;
    }
    // (done may send the retry, which takes the lock again.)
    if (!first_time) {
      return done(Error{errc::unauthorized, ref.registry + " refused the username and password"});
    }
    return done(std::nullopt);
  }
  done(Error{errc::unauthorized, ref.registry +
                                     " answered 401 with a challenge the proxy cannot meet: \"" +
                                     www_authenticate.substr(0, 200) + "\""});
}

void RegistryAuth::fetch_token(const Reference& ref,
                               const std::map<std::string, std::string>& params,
                               std::function<void(std::optional<Error>)> done) {
  const auto realm = params.find("realm");
  if (realm == params.end() ||
      !(realm->second.starts_with("https://") || realm->second.starts_with("http://"))) {
    return done(Error{errc::unauthorized,
                      ref.registry + " sent a Bearer challenge without a usable realm"});
  }
  const auto service = params.find("service");
  const auto scope_param = params.find("scope");
  const std::string scope =
      scope_param != params.end() ? scope_param->second : pull_scope(ref.repository);
  const auto creds = credentials_for(ref.registry);

  HttpRequest req;
  req.headers.push_back("User-Agent: " + options_.user_agent);
  req.follow_redirects = true;
  req.timeout_ms = 30'000;
  req.ca_file = options_.ca_file;
  req.insecure = options_.insecure;
  if (creds && !creds->identity_token.empty()) {
    // An identity token is an OAuth2 refresh token: POST it to the realm (docker's flow).
    req.method = "POST";
    req.url = realm->second;
    req.headers.push_back("Content-Type: application/x-www-form-urlencoded");
    req.body = "grant_type=refresh_token&client_id=propeller-proxy&refresh_token=" +
               url_encode(creds->identity_token) + "&scope=" + url_encode(scope);
    if (service != params.end()) req.body += "&service=" + url_encode(service->second);
  } else {
    req.url = realm->second + (realm->second.find('?') == std::string::npos ? "?" : "&") +
              "scope=" + url_encode(scope);
    if (service != params.end()) req.url += "&service=" + url_encode(service->second);
    if (creds && !creds->username.empty()) {
      req.username = creds->username;
      req.password = creds->password;
    }
  }
  const std::string key = cache_key(ref.registry, pull_scope(ref.repository));
  const std::string what = "token for " + scope + " from " + realm->second;
  const bool anonymous = !creds;
  io_.start(
      std::move(req),
      std::make_shared<TokenExchange>([this, key, what, anonymous, done = std::move(done)](
                                          const HttpHead& head, std::string body,
                                          std::optional<std::string> transport_error) {
        if (transport_error) {
          return done(Error{errc::registry_unavailable, what + ": " + *transport_error});
        }
        if (head.status < 200 || head.status >= 300) {
          Error e = registry_error(head.status, body, what);
          if (head.status == 401 || head.status == 403) e.code = errc::unauthorized;
          if (anonymous) e.message += " (no credentials were sent)";
          return done(std::move(e));
        }
        const auto j = nlohmann::json::parse(body, nullptr, false);
        std::string token;
        if (j.is_object()) {
          for (const char* field : {"token", "access_token"}) {
            const auto it = j.find(field);
            if (it != j.end() && it->is_string() && !it->get_ref<const std::string&>().empty()) {
              token = it->get<std::string>();
              break;
            }
          }
        }
        if (token.empty()) {
          return done(Error{errc::unauthorized, what + ": the answer holds no token"});
        }
        std::int64_t expires_in = 60;  // the distribution spec's default
        if (const auto it = j.find("expires_in"); it != j.end() && it->is_number_integer()) {
          expires_in = std::max<std::int64_t>(it->get<std::int64_t>(), 1);
        }
        // A little early, so that a token never expires between its check and its use.
        const auto lifetime = std::chrono::seconds(expires_in) * 9 / 10;
        {
          std::lock_guard lock(mutex_);
          const auto now = Clock::now();
          tokens_.put(key, std::move(token), now + lifetime, now);
        }
        done(std::nullopt);
      }));
}

}  // namespace pp::oci
