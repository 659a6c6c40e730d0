#include "nodes/trust/signature_policy.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <system_error>
#include <utility>

namespace pp::trust {
namespace {

namespace fs = std::filesystem;

Error config_error(std::string message) {
  return Error{errc::proxy_error, std::move(message)};
}

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

// What a repository is made of (the reference grammar's lower case), plus the wildcard.
bool is_pattern_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '/' ||
         c == ':' || c == '-' || c == '*';
}

// 'c', or its code for a character that would not show in a log line.
std::string shown(char c) {
  if (c > ' ' && c < 0x7f) return std::string{'\'', c, '\''};
  char code[8];
  std::snprintf(code, sizeof code, "0x%02x", static_cast<unsigned char>(c));
  return code;
}

// The fields of a line, up to a '#' that begins one: a '#' inside a field (a key file's name)
// is part of it.
std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> fields;
  std::size_t at = 0;
  while (true) {
    while (at < line.size() && is_blank(line[at]))
      ++at;
    if (at == line.size() || line[at] == '#') return fields;
    const std::size_t start = at;
    while (at < line.size() && !is_blank(line[at]))
      ++at;
    fields.push_back(line.substr(start, at - start));
  }
}

TrustRule make_rule(std::string pattern, SignatureMode mode, const std::vector<PublicKey>& keys) {
  TrustRule rule;
  rule.pattern = std::move(pattern);
  rule.mode = mode;
  if (mode == SignatureMode::off) return rule;
  std::vector<std::string> ids;
  for (const PublicKey& key : keys) {
    std::string id = key.id();
    if (std::find(ids.begin(), ids.end(), id) != ids.end()) continue;
    ids.push_back(std::move(id));
    rule.keys.push_back(key);
  }
  std::sort(ids.begin(), ids.end());
  for (const std::string& id : ids)
    rule.keyset += (rule.keyset.empty() ? "" : ",") + id;
  return rule;
}

// The file's first max_policy_size + 1 bytes: enough for the parser to refuse a larger one.
Expected<std::string> read_policy(const std::string& path) {
  const std::string setting = "PROXY_SIGNATURE_POLICY " + path;
  std::error_code ec;
  // A directory opens and reads as empty: it would be a policy without rules.
  if (fs::is_directory(path, ec)) return config_error(setting + " is a directory, not a file");
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  std::string text(max_policy_size + 1, '\0');
  if (in) in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad() || (!in && !in.eof())) {
    const int err = errno;
    return config_error(setting + " is unreadable" +
                        (err ? ": " + std::generic_category().message(err) : std::string()));
  }
  text.resize(static_cast<std::size_t>(in.gcount()));
  return text;
}

}  // namespace

Expected<SignatureMode> parse_signature_mode(std::string_view text) {
  if (text == "off") return SignatureMode::off;
  if (text == "audit") return SignatureMode::audit;
  if (text == "enforce") return SignatureMode::enforce;
  return config_error("\"" + std::string(text) +
                      "\" is not a signature mode (off, audit or enforce)");
}

std::string_view to_string(SignatureMode mode) {
  switch (mode) {
    case SignatureMode::off:
      return "off";
    case SignatureMode::audit:
      return "audit";
    case SignatureMode::enforce:
      return "enforce";
  }
  return "unknown";
}

// With '*' the only wildcard, a mismatch needs to retry only from the latest '*' (matching one
// more character with it): earlier stars could only take characters the latest one can take too.
bool repository_matches(std::string_view pattern, std::string_view repository) {
  constexpr std::size_t none = std::string_view::npos;
  std::size_t p = 0;
  std::size_t r = 0;
  std::size_t star = none;   // the latest '*' in pattern
  std::size_t star_end = 0;  // where in repository the run it matches ends now
  while (r < repository.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_end = r;
    } else if (p < pattern.size() && pattern[p] == repository[r]) {
      ++p;
      ++r;
    } else if (star != none) {
      p = star + 1;
      r = ++star_end;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*')
    ++p;
  return p == pattern.size();
}

Expected<std::vector<PolicyRule>> parse_signature_policy(std::string_view text,
                                                         std::string_view source,
                                                         std::string_view base_dir) {
  if (text.size() > max_policy_size) {
    return config_error(std::string(source) + ": more than " + std::to_string(max_policy_size) +
                        " bytes, far more than a policy");
  }
  std::vector<PolicyRule> rules;
  std::size_t at = 0;
  for (int number = 1; at < text.size(); ++number) {
    const std::size_t end = std::min(text.find('\n', at), text.size());
    std::string_view line = text.substr(at, end - at);
    at = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // written on Windows
    const std::vector<std::string_view> fields = split_fields(line);
    if (fields.empty()) continue;

    const auto fail = [&](const std::string& what) {
      return config_error(std::string(source) + " line " + std::to_string(number) + ": " + what);
    };
    if (rules.size() == max_policy_rules)
      return fail("more than " + std::to_string(max_policy_rules) + " rules");
    const std::string pattern(fields[0]);
    for (char c : pattern) {
      if (!is_pattern_char(c)) {
        return fail("the pattern \"" + pattern + "\" has " + shown(c) +
                    ", which no repository has (a-z 0-9 . _ / : - and *)");
      }
    }
    if (fields.size() < 2) return fail("\"" + pattern + "\" has no mode (off, audit or enforce)");
    const auto mode = parse_signature_mode(fields[1]);
    if (!mode) return fail(mode.error().message);
    if (*mode == SignatureMode::off && fields.size() > 2)
      return fail("\"" + pattern + "\" is off, which takes no key files");

    PolicyRule rule{pattern, *mode, {}, number};
    for (std::size_t i = 2; i < fields.size(); ++i)
      rule.key_paths.push_back((fs::path(base_dir) / fs::path(fields[i])).string());
    rules.push_back(std::move(rule));
  }
  return rules;
}

SignaturePolicy::SignaturePolicy() {
  default_.pattern = "*";
}

Expected<SignaturePolicy> SignaturePolicy::load(const std::vector<std::string>& key_paths,
                                                std::optional<SignatureMode> mode,
                                                const std::string& policy_path) {
  SignaturePolicy policy;
  // Each file is read once; every rule naming it shares its PublicKey. `setting` says where the
  // path was configured, for the message.
  const auto key_file = [&](const std::string& path,
                            const std::string& setting) -> Expected<PublicKey> {
    if (path.empty()) return config_error(setting + ": an empty key file path");
    for (const ConfiguredKey& known : policy.keys_) {
      if (known.path == path) return known.key;
    }
    auto key = PublicKey::load(path);
    if (!key) return config_error(setting + ": " + key.error().message);
    policy.keys_.push_back({path, *key});
    return key;
  };

  std::vector<PublicKey> default_keys;
  for (const std::string& path : key_paths) {
    auto key = key_file(path, "PROXY_SIGNATURE_KEYS");
    if (!key) return key.error();
    default_keys.push_back(std::move(key).value());
  }
  const SignatureMode default_mode =
      mode.value_or(key_paths.empty() ? SignatureMode::off : SignatureMode::enforce);
  if (default_mode != SignatureMode::off && default_keys.empty()) {
    return config_error("PROXY_SIGNATURE_MODE=" + std::string(to_string(default_mode)) +
                        " needs PROXY_SIGNATURE_KEYS");
  }
  policy.default_ = make_rule("*", default_mode, default_keys);
  if (policy_path.empty()) return policy;

  auto text = read_policy(policy_path);
  if (!text) return text.error();
  const auto rules =
      parse_signature_policy(*text, policy_path, fs::path(policy_path).parent_path().string());
  if (!rules) return config_error("PROXY_SIGNATURE_POLICY " + rules.error().message);
  for (const PolicyRule& rule : *rules) {
    const std::string setting =
        "PROXY_SIGNATURE_POLICY " + policy_path + " line " + std::to_string(rule.line);
    std::vector<PublicKey> keys = rule.key_paths.empty() ? default_keys : std::vector<PublicKey>{};
    for (const std::string& path : rule.key_paths) {
      auto key = key_file(path, setting);
      if (!key) return key.error();
      keys.push_back(std::move(key).value());
    }
    if (rule.mode != SignatureMode::off && keys.empty()) {
      return config_error(setting + ": \"" + rule.pattern + "\" is " +
                          std::string(to_string(rule.mode)) +
                          " but names no key files, and PROXY_SIGNATURE_KEYS is empty");
    }
    policy.rules_.push_back(make_rule(rule.pattern, rule.mode, keys));
  }
  return policy;
}

const TrustRule& SignaturePolicy::for_repository(std::string_view repository) const {
  for (const TrustRule& rule : rules_) {
    if (repository_matches(rule.pattern, repository)) return rule;
  }
  return default_;
}

bool SignaturePolicy::enabled() const {
  return default_.mode != SignatureMode::off ||
         std::any_of(rules_.begin(), rules_.end(),
                     [](const TrustRule& rule) { return rule.mode != SignatureMode::off; });
}

}  // namespace pp::trust
