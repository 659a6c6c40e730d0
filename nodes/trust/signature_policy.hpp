#pragma once
// Which modules have their signatures checked, and against which keys, per repository.
//
// PROXY_SIGNATURE_MODE and PROXY_SIGNATURE_KEYS set the default for every repository; the policy
// file (PROXY_SIGNATURE_POLICY) sets it for some. Its format:
//
//   # Comment lines and blank lines are ignored; a '#' after a space or tab starts a comment too.
//   # <repository pattern> <mode> [key file ...]     (fields separated by spaces or tabs)
//   ghcr.io/acme/test-*   off
//   ghcr.io/acme/*        enforce  keys/acme.pub keys/acme-ci.pub
//   127.0.0.1:5000/*      audit
//
// A pattern is matched against the whole "registry/repository" of a module; '*' matches any run
// of characters, '/' included, and everything else only itself. Docker Hub is written as the proxy
// names it: "registry-1.docker.io/library/hello". The first rule that matches decides; a module
// that none matches gets the default. Modes: off (no check), audit (check and log, deliver
// anyway), enforce (deliver only what a key verifies). A rule without key files uses
// PROXY_SIGNATURE_KEYS; a relative key file is relative to the policy file's directory.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nodes/common/error.hpp"
#include "nodes/trust/public_key.hpp"

namespace pp::trust {

enum class SignatureMode { off, audit, enforce };

// "off", "audit" or "enforce", exactly (lower case); proxy_error otherwise: a mode is the proxy's
// own configuration.
Expected<SignatureMode> parse_signature_mode(std::string_view text);
std::string_view to_string(SignatureMode mode);

// `*` matches any run of characters, '/' included; everything else literally; whole string.
bool repository_matches(std::string_view pattern, std::string_view repository);

// Enough for one rule per team or registry; more is a list to generate, not to read.
inline constexpr std::size_t max_policy_rules = 256;
// Well above 256 rules with a few keys each.
inline constexpr std::size_t max_policy_size = 64 * 1024;

struct PolicyRule {
  std::string
      pattern;  // matched against "registry/repository": "ghcr.io/acme/app", "127.0.0.1:5000/app"
  SignatureMode mode;
  std::vector<std::string> key_paths;  // relative ones resolved against the policy file's
                                       // directory; empty = the PROXY_SIGNATURE_KEYS keys
  int line;                            // 1-based, for messages
};

// The rules of a policy file, in file order. proxy_error naming `source` and the line for a
// missing or unknown mode, a pattern with a character no repository has (only a-z 0-9 . _ / : -
// and *), key files on an "off" rule (they would suggest a check that is not made), more than
// max_policy_rules rules; naming `source` for a text over max_policy_size.
Expected<std::vector<PolicyRule>> parse_signature_policy(std::string_view text,
                                                         std::string_view source,
                                                         std::string_view base_dir);

// What one repository gets, resolved once at start.
struct TrustRule {
  std::string pattern;  // "*" for the default rule (PROXY_SIGNATURE_MODE and PROXY_SIGNATURE_KEYS)
  SignatureMode mode = SignatureMode::off;
  std::vector<PublicKey> keys;  // empty exactly when mode is off; one per distinct key id
  // The keys' ids sorted, deduplicated, joined by ','; empty when off. Part of the cache key of
  // verdicts: another key set means verify again.
  std::string keyset;
};

class SignaturePolicy {
 public:
  SignaturePolicy();  // everything off

  // key_paths: PROXY_SIGNATURE_KEYS. mode: PROXY_SIGNATURE_MODE; unset means enforce when
  // key_paths is non-empty, else off. policy_path: PROXY_SIGNATURE_POLICY, empty for none. Every
  // key file is loaded once, however many rules name it. proxy_error naming the setting and the
  // file (the proxy cannot start with it): a key that does not load, an empty key path, audit or
  // enforce without keys, a policy file that cannot be read or parsed.
  static Expected<SignaturePolicy> load(const std::vector<std::string>& key_paths,
                                        std::optional<SignatureMode> mode,
                                        const std::string& policy_path);

  // The first policy rule matching `repository` ("registry/repository"), else the default rule.
  const TrustRule& for_repository(std::string_view repository) const;
  // Whether any rule checks signatures (the proxy then needs to look for them at all).
  bool enabled() const;
  // PROXY_SIGNATURE_MODE and PROXY_SIGNATURE_KEYS, for what no policy rule matches.
  const TrustRule& default_rule() const { return default_; }
  std::size_t policy_rules() const { return rules_.size(); }

  // Every key file, once, in first-configured order (PROXY_SIGNATURE_KEYS, then the policy's),
  // for the start-up log line "trusted key <id> (<algorithm>) from <path>".
  struct ConfiguredKey {
    std::string path;
    PublicKey key;
  };
  const std::vector<ConfiguredKey>& keys() const { return keys_; }

 private:
  TrustRule default_;
  std::vector<TrustRule> rules_;  // the policy file's, in its order
  std::vector<ConfiguredKey> keys_;
};

}  // namespace pp::trust
