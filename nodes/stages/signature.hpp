#pragma once
// signature-check, between manifest-resolve and layer-select: when the module's repository has its
// signatures checked (trust::SignaturePolicy), looks for them in its registry for the digests the
// reference resolved to (the manifest, then the indexes followed: a valid signature on either is
// accepted, since `cosign sign` given a tag of a multi-platform image signs the index) and notes
// the verdict on the transfer, for its Module, its completed status and the cache. In enforce mode
// a module without a verified signature goes no further: layer-select gets the refusal in place of
// the manifest, before a byte of the module is downloaded or a chunk published. A registry that
// cannot be asked gives no verdict: layer-select then gets the registry's error, and serves what
// the cache verified before, if anything (ModuleResolution::start_from_cache).

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "nodes/clients/oci/reference.hpp"
#include "nodes/clients/oci/registry_client.hpp"
#include "nodes/common/error.hpp"
#include "nodes/common/refusal_log.hpp"
#include "nodes/model/metrics.hpp"
#include "nodes/model/transfer.hpp"
#include "nodes/stages/manifest_resolve.hpp"
#include "nodes/trust/signature_policy.hpp"

namespace pp {

class SignatureStage {
 public:
  // `refusals_kept`: how long a refusal is remembered, so that requests for a module that failed
  // its check are refused without searching the registry again (PROXY_MANIFEST_TTL: signatures are
  // often pushed just after the image).
  SignatureStage(oci::Registry& registry, const trust::SignaturePolicy& policy, Metrics& metrics,
                 std::chrono::seconds refusals_kept)
      : registry_(registry), policy_(policy), metrics_(metrics), refusals_kept_(refusals_kept) {}

  // `reply` gets `m` back (at once when there is nothing to check, else on the I/O thread), its
  // transfer's `signature` set, or with the error that refuses the module in its place.
  void check(ManifestResolved m, std::function<void(ManifestResolved)> reply);
  // Logs what the audit warnings held back (see RefusalLog), and forgets the repositories that
  // held back nothing, so that what the log keeps stays bounded; call about once a second.
  void flush_log(RefusalLog::Clock::time_point now);

 private:
  void judged(ManifestResolved& m, const trust::TrustRule& rule, Expected<trust::Verdict> verdict,
              const std::string& checked);
  // Sets `m`'s verdict, and the refusal in place of its manifest if `verdict` refuses it.
  static void note(ManifestResolved& m, const trust::TrustRule& rule,
                   trust::CheckedSignature verdict);

  oci::Registry& registry_;
  const trust::SignaturePolicy& policy_;
  Metrics& metrics_;
  const std::chrono::seconds refusals_kept_;
  // Refused in enforce mode, by the digests checked and the keyset; bounded (see check).
  std::mutex refused_mutex_;
  std::unordered_map<std::string, trust::CheckedSignature> refused_;
  // Audit-mode warnings, per repository: a fleet asking for an unsigned module in a loop must not
  // fill the log with them.
  RefusalLog audit_log_;
};

// What a policy rule's pattern is matched against: "registry/repository", the registry in lower
// case (host names are case-insensitive; repositories are lower case already).
std::string policy_repository(const oci::Reference& ref);

// Why a module with `verdict` may not be delivered from `ref` in `mode`: unsigned or
// signature_invalid, with what was found; nullopt when it may (verified, or audit mode).
std::optional<Error> signature_refusal(const trust::Verdict& verdict, trust::SignatureMode mode,
                                       const oci::Reference& ref);

}  // namespace pp
