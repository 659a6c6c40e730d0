#include "tests/support/token_server.hpp"

#include <httplib.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <array>
#include <atomic>
#include <chrono>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <thread>

namespace pp::test {
namespace {

// --- encodings ---------------------------------------------------------------------------------

constexpr std::string_view kB64 =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Standard base64 with '=' padding; `url` switches to the URL alphabet without padding (JOSE).
std::string b64(std::string_view bytes, bool url) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  const auto at = [&](std::size_t k) { return static_cast<unsigned char>(bytes[k]); };
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t v = (at(i) << 16) | (at(i + 1) << 8) | at(i + 2);
    for (int shift = 18; shift >= 0; shift -= 6)
      out += kB64[(v >> shift) & 0x3f];
  }
  if (const std::size_t rest = bytes.size() - i; rest > 0) {
    const std::uint32_t v = (at(i) << 16) | (rest == 2 ? at(i + 1) << 8 : 0);
    out += kB64[(v >> 18) & 0x3f];
    out += kB64[(v >> 12) & 0x3f];
    if (rest == 2) out += kB64[(v >> 6) & 0x3f];
    if (!url) out.append(rest == 2 ? 1 : 2, '=');
  }
  if (url) {
    for (char& c : out) {
      if (c == '+') c = '-';
      if (c == '/') c = '_';
    }
  }
  return out;
}

// Lenient decoder for credentials (standard or URL alphabet, padding optional).
std::optional<std::string> b64_decode(std::string_view text) {
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char c : text) {
    if (c == '=') break;
    int v = -1;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    if (c >= '0' && c <= '9') v = c - '0' + 52;
    if (c == '+' || c == '-') v = 62;
    if (c == '/' || c == '_') v = 63;
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> raw(bytes);
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const unsigned char b : raw) {
    out += kHex[b >> 4];
    out += kHex[b & 0xf];
  }
  return out;
}

std::string rfc3339(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::array<char, 32> buf{};
  const std::size_t n = std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf.data(), n);
}

std::vector<std::string> split(std::string_view text, char sep) {
  std::vector<std::string> parts;
  while (!text.empty()) {
    const auto pos = text.find(sep);
    const std::string_view part = text.substr(0, pos);
    if (!part.empty()) parts.emplace_back(part);
    if (pos == std::string_view::npos) break;
    text.remove_prefix(pos + 1);
  }
  return parts;
}

// --- OpenSSL -----------------------------------------------------------------------------------

[[noreturn]] void openssl_fail(const std::string& what) {
  std::array<char, 256> buf{};
  ERR_error_string_n(ERR_get_error(), buf.data(), buf.size());
  throw std::runtime_error("token server: " + what + ": " + buf.data());
}

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG, ECDSA_SIG_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION, X509_EXTENSION_free>>;

PkeyPtr generate_p256_key() {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) openssl_fail("EC P-256 key generation");
  return key;
}

void add_extension(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) openssl_fail("certificate extension");
}

// Self-signed, valid from an hour ago for a day; a CA so that Go's chain building is happy either
// way it looks at it (the registry puts it in its root pool and the token names it as the leaf).
X509Ptr self_signed_certificate(EVP_PKEY* key) {
  X509Ptr cert(X509_new());
  if (!cert) openssl_fail("X509_new");
  X509* c = cert.get();
  std::array<unsigned char, 8> serial{};
  if (RAND_bytes(serial.data(), serial.size()) != 1) openssl_fail("RAND_bytes");
  serial[0] &= 0x7f;  // positive
  std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>> bn(
      BN_bin2bn(serial.data(), serial.size(), nullptr));
  if (!bn || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(c)) == nullptr ||
      X509_set_version(c, 2) != 1 || X509_gmtime_adj(X509_getm_notBefore(c), -3600) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(c), 24L * 3600) == nullptr ||
      X509_set_pubkey(c, key) != 1) {
    openssl_fail("certificate fields");
  }
  X509_NAME* name = X509_get_subject_name(c);
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>("pp-test-token-issuer"), -1,
                                 -1, 0) != 1 ||
      X509_set_issuer_name(c, name) != 1) {
    openssl_fail("certificate name");
  }
  add_extension(c, NID_basic_constraints, "critical,CA:TRUE");
  add_extension(c, NID_key_usage, "critical,digitalSignature,keyCertSign");
  add_extension(c, NID_subject_key_identifier, "hash");
  if (X509_sign(c, key, EVP_sha256()) == 0) openssl_fail("X509_sign");
  return cert;
}

std::string certificate_pem_of(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) openssl_fail("PEM_write_bio_X509");
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

std::string certificate_der_of(X509* cert) {
  const int len = i2d_X509(cert, nullptr);
  if (len <= 0) openssl_fail("i2d_X509");
  std::string der(static_cast<std::size_t>(len), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_X509(cert, &out) != len) openssl_fail("i2d_X509");
  return der;
}

// ES256 (RFC 7518 3.4): SHA-256 ECDSA over P-256, encoded as the raw 32-byte r || s.
std::string es256_sign(EVP_PKEY* key, std::string_view input) {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  std::size_t der_len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &der_len,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    openssl_fail("EVP_DigestSign init");
  }
  std::vector<unsigned char> der(der_len);
  if (EVP_DigestSign(ctx.get(), der.data(), &der_len,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    openssl_fail("EVP_DigestSign");
  }
  const unsigned char* p = der.data();
  EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len)));
  if (!sig) openssl_fail("d2i_ECDSA_SIG");
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::string raw(64, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  if (BN_bn2binpad(r, out, 32) != 32 || BN_bn2binpad(s, out + 32, 32) != 32) {
    openssl_fail("BN_bn2binpad");
  }
  return raw;
}

// "type[(class)]:name:actions" -> an access claim entry; the name may itself contain ':'.
std::optional<nlohmann::ordered_json> access_entry(std::string_view scope) {
  const auto first = scope.find(':');
  const auto last = scope.rfind(':');
  if (first == std::string_view::npos || first == last) return std::nullopt;
  std::string type(scope.substr(0, first));
  std::string klass;
  if (const auto paren = type.find('('); paren != std::string::npos && type.ends_with(')')) {
    klass = type.substr(paren + 1, type.size() - paren - 2);
    type.resize(paren);
  }
  nlohmann::ordered_json entry = {{"type", type},
                                  {"name", std::string(scope.substr(first + 1, last - first - 1))}};
  if (!klass.empty()) entry["class"] = klass;
  entry["actions"] = split(scope.substr(last + 1), ',');
  return entry;
}

nlohmann::json error_body(std::string_view code, std::string_view message) {
  return {{"errors", {{{"code", code}, {"message", message}}}}};
}

}  // namespace

// --- state -------------------------------------------------------------------------------------

struct TokenServer::State {
  Options options;
  PkeyPtr key;
  std::string cert_pem;
  std::string cert_der_b64;  // standard base64, for the x5c header
  httplib::Server server;
  std::thread thread;
  std::atomic<bool> listen_returned{false};
  int port = -1;

  mutable std::mutex mutex;
  std::string garbage;  // answered instead of tokens when set
  int issued = 0;
  int refusals = 0;
  std::vector<std::string> scopes;

  std::string mint(std::string_view scope, const std::string& subject) const;
  void handle(const httplib::Request& req, httplib::Response& res, bool post);
};

std::string TokenServer::State::mint(std::string_view scope, const std::string& subject) const {
  nlohmann::ordered_json access = nlohmann::ordered_json::array();
  for (const std::string& one : split(scope, ' ')) {
    if (auto entry = access_entry(one)) access.push_back(std::move(*entry));
  }
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  const nlohmann::ordered_json header = {
      {"typ", "JWT"}, {"alg", "ES256"}, {"x5c", nlohmann::ordered_json::array({cert_der_b64})}};
  const nlohmann::ordered_json claims = {
      {"iss", options.issuer},  {"sub", subject},
      {"aud", options.service}, {"exp", now + options.expires_in},
      {"nbf", now - 10},        {"iat", now},
      {"jti", random_hex(16)},  {"access", std::move(access)}};
  const std::string input = b64(header.dump(), true) + "." + b64(claims.dump(), true);
  return input + "." + b64(es256_sign(key.get(), input), true);
}

void TokenServer::State::handle(const httplib::Request& req, httplib::Response& res, bool post) {
  std::vector<std::string> scope_values;
  for (std::size_t i = 0; i < req.get_param_value_count("scope"); ++i)
    scope_values.push_back(req.get_param_value("scope", i));
  {
    const std::lock_guard lock(mutex);
    scopes.insert(scopes.end(), scope_values.begin(), scope_values.end());
  }

  const std::string grant = post ? req.get_param_value("grant_type") : std::string();
  if (post && grant != "password" && grant != "refresh_token") {
    res.status = 400;
    res.set_content(
        nlohmann::json{{"error", "unsupported_grant_type"}, {"error_description", grant}}.dump(),
        "application/json");
    return;
  }

  bool authorized = options.username.empty();
  if (!authorized) {
    const std::string auth = req.get_header_value("Authorization");
    if (auth.size() > 6 && (auth.starts_with("Basic ") || auth.starts_with("basic "))) {
      const auto decoded = b64_decode(auth.substr(6));
      authorized = decoded && *decoded == options.username + ":" + options.password;
    }
    if (!authorized && grant == "password") {
      authorized = req.get_param_value("username") == options.username &&
                   req.get_param_value("password") == options.password;
    }
    if (!authorized && grant == "refresh_token") {
      authorized = req.get_param_value("refresh_token") == "refresh-" + options.username;
    }
  }
  if (!authorized) {
    {
      const std::lock_guard lock(mutex);
      ++refusals;
    }
    res.status = 401;
    res.set_header("WWW-Authenticate", "Basic realm=\"pp-test-token\"");
    res.set_content(error_body("UNAUTHORIZED", "authentication required").dump(),
                    "application/json");
    return;
  }

  {
    const std::lock_guard lock(mutex);
    if (!garbage.empty()) {
      res.status = 200;
      res.set_content(garbage, "application/json");
      return;
    }
  }
  std::string scope;
  for (const std::string& value : scope_values)
    scope += (scope.empty() ? "" : " ") + value;
  const std::string token = mint(scope, options.username);
  nlohmann::ordered_json body = {{options.access_token_field ? "access_token" : "token", token},
                                 {"expires_in", options.expires_in},
                                 {"issued_at", rfc3339(std::time(nullptr))}};
  // The OAuth2 flow (and GET with offline_token=true) hands out a refresh token for later.
  if (!options.username.empty() && (post || req.get_param_value("offline_token") == "true")) {
    body["refresh_token"] = "refresh-" + options.username;
  }
  {
    const std::lock_guard lock(mutex);
    ++issued;
  }
  res.status = 200;
  res.set_content(body.dump(), "application/json");
}

// --- TokenServer -------------------------------------------------------------------------------

void TokenServer::answer_garbage(std::string body) {
  const std::lock_guard lock(state_->mutex);
  state_->garbage = std::move(body);
}

TokenServer::TokenServer(Options options) : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.options = std::move(options);
  s.key = generate_p256_key();
  const X509Ptr cert = self_signed_certificate(s.key.get());
  s.cert_pem = certificate_pem_of(cert.get());
  s.cert_der_b64 = b64(certificate_der_of(cert.get()), false);

  const auto guarded = [&s](bool post) {
    return [&s, post](const httplib::Request& req, httplib::Response& res) {
      try {
        s.handle(req, res, post);
      } catch (const std::exception& e) {
        res.status = 500;
        res.set_content(error_body("INTERNAL", e.what()).dump(), "application/json");
      }
    };
  };
  s.server.Get("/token", guarded(false));
  s.server.Post("/token", guarded(true));

  s.port = s.server.bind_to_any_port("127.0.0.1");
  if (s.port <= 0) throw std::runtime_error("token server: cannot bind 127.0.0.1");
  s.thread = std::thread([&s] {
    s.server.listen_after_bind();
    s.listen_returned = true;
  });
  // stop() is a no-op until the accept loop runs, so do not return (and risk a destructor that
  // cannot stop the thread) before it does.
  while (!s.server.is_running() && !s.listen_returned)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (!s.server.is_running()) {
    s.thread.join();
    throw std::runtime_error("token server: HTTP server did not start");
  }
}

TokenServer::~TokenServer() {
  state_->server.stop();
  if (state_->thread.joinable()) state_->thread.join();
}

int TokenServer::port() const {
  return state_->port;
}

std::string TokenServer::realm() const {
  return "http://127.0.0.1:" + std::to_string(state_->port) + "/token";
}

const TokenServer::Options& TokenServer::options() const {
  return state_->options;
}

const std::string& TokenServer::certificate_pem() const {
  return state_->cert_pem;
}

std::string TokenServer::registry_yaml() const {
  return "auth:\n  token:\n    realm: " + realm() + "\n    service: " + state_->options.service +
         "\n    issuer: " + state_->options.issuer + "\n    rootcertbundle: {{dir}}/token.crt\n";
}

std::string TokenServer::issue(std::string_view scope) const {
  return state_->mint(scope, state_->options.username);
}

std::string TokenServer::issue(std::string_view scope, const std::string& subject) const {
  return state_->mint(scope, subject);
}

std::string TokenServer::basic_authorization() const {
  return "Basic " + b64(state_->options.username + ":" + state_->options.password, false);
}

int TokenServer::tokens_issued() const {
  const std::lock_guard lock(state_->mutex);
  return state_->issued;
}

int TokenServer::refusals() const {
  const std::lock_guard lock(state_->mutex);
  return state_->refusals;
}

std::vector<std::string> TokenServer::scopes_seen() const {
  const std::lock_guard lock(state_->mutex);
  return state_->scopes;
}

}  // namespace pp::test
