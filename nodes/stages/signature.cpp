#include "nodes/stages/signature.hpp"

#include "nodes/clients/oci/ascii.hpp"
#include "nodes/common/fault.hpp"
#include "nodes/common/log.hpp"
#include "nodes/trust/signature_search.hpp"

namespace pp {

std::string policy_repository(const oci::Reference& ref) {
  return oci::ascii::lower(ref.registry) + "/" + ref.repository;
}

std::optional<Error> signature_refusal(const trust::Verdict& verdict, trust::SignatureMode mode,
                                       const oci::Reference& ref) {
  if (verdict.result == trust::Verdict::Result::verified || mode != trust::SignatureMode::enforce) {
    return std::nullopt;
  }
  const bool none = verdict.result == trust::Verdict::Result::unsigned_module;
  return Error{none ? errc::unsigned_module : errc::signature_invalid,
               ref.str() + ": " + verdict.reason};
}

namespace {
// Refusals remembered at most: a few per module a fleet asks for; past it they are all forgotten
// (and found again by searching), which bounds the memory a stream of unsigned tags can take.
constexpr std::size_t kMaxRefusalsKept = 1024;
}  // namespace

void SignatureStage::check(ManifestResolved m, std::function<void(ManifestResolved)> reply) {
  const TransferPtr t = m.transfer;
  fault_point("signature-check", t->request.app_name);
  const trust::TrustRule& rule = policy_.for_repository(policy_repository(t->ref));
  // Nothing to check, or nothing to check it on: layer-select decides what a registry error means.
  if (rule.mode == trust::SignatureMode::off || m.error || t->failed.load()) {
    return reply(std::move(m));
  }
  std::vector<std::string> digests{m.value->digest};
  digests.insert(digests.end(), m.value->index_digests.begin(), m.value->index_digests.end());
  std::string checked = rule.keyset;
  for (const std::string& d : digests)
    checked += "\n" + d;
  {
    std::lock_guard lock(refused_mutex_);
    if (auto it = refused_.find(checked); it != refused_.end()) {
      if (std::chrono::system_clock::now() - it->second.checked_at < refusals_kept_) {
        note(m, rule, it->second);
        return reply(std::move(m));
      }
      refused_.erase(it);
    }
  }
  trust::search_signatures(registry_, t->ref, std::move(digests), rule.keys,
                           [this, m = std::move(m), &rule, checked = std::move(checked),
                            reply = std::move(reply)](Expected<trust::Verdict> verdict) mutable {
                             judged(m, rule, std::move(verdict), checked);
                             reply(std::move(m));
                           });
}

void SignatureStage::judged(ManifestResolved& m, const trust::TrustRule& rule,
                            Expected<trust::Verdict> verdict, const std::string& checked) {
  const Transfer& t = *m.transfer;
  const bool enforce = rule.mode == trust::SignatureMode::enforce;
  if (!verdict) {
    metrics_.signatures_error.fetch_add(1, std::memory_order_relaxed);
    const Error& e = verdict.error();
    if (enforce) {
      // The registry's code, kept: layer-select serves what the cache verified when it is down.
      m.error =
          Error{e.code, "signatures of " + t.ref.str() + " could not be looked for: " + e.message};
      m.value.reset();
      return;
    }
    verdict = trust::Verdict{trust::Verdict::Result::invalid,
                             {},
                             {},
                             "signatures could not be looked for: " + e.message};
  } else {
    switch (verdict->result) {
      case trust::Verdict::Result::verified:
        metrics_.signatures_verified.fetch_add(1, std::memory_order_relaxed);
        break;
      case trust::Verdict::Result::unsigned_module:
        metrics_.signatures_unsigned.fetch_add(1, std::memory_order_relaxed);
        break;
      case trust::Verdict::Result::invalid:
        metrics_.signatures_invalid.fetch_add(1, std::memory_order_relaxed);
        break;
    }
  }
  if (verdict->result == trust::Verdict::Result::verified) {
    log::debug("signature verified", {{"app_name", t.request.app_name},
                                      {"manifest", m.value->digest},
                                      {"key", verdict->key_id},
                                      {"format", verdict->format}});
  } else if (!enforce) {
    RefusalLog::HeldBack held_back;
    if (audit_log_.note(policy_repository(t.ref), std::string(trust::to_string(verdict->result)),
                        RefusalLog::Clock::now(), held_back)) {
      log::warn("module delivered without a verified signature (PROXY_SIGNATURE_MODE audit)",
                {{"app_name", t.request.app_name},
                 {"reference", t.ref.str()},
                 {"manifest", m.value->digest},
                 {"reason", verdict->reason},
                 log::if_set("held_back", held_back.describe())});
    }
  }
  trust::CheckedSignature result{*verdict, rule.keyset, std::chrono::system_clock::now()};
  if (enforce && verdict->result != trust::Verdict::Result::verified &&
      refusals_kept_.count() > 0) {
    std::lock_guard lock(refused_mutex_);
    if (refused_.size() >= kMaxRefusalsKept) refused_.clear();
    refused_[checked] = result;
  }
  note(m, rule, std::move(result));
}

void SignatureStage::flush_log(RefusalLog::Clock::time_point now) {
  for (const auto& s : audit_log_.flush(now)) {
    log::warn("modules delivered without a verified signature, without a line of their own",
              {log::if_set("repository", s.channel), {"held_back", s.held_back.describe()}});
  }
}

void SignatureStage::note(ManifestResolved& m, const trust::TrustRule& rule,
                          trust::CheckedSignature verdict) {
  // The transfer is this stage's until it replies.
  if (auto refusal = signature_refusal(verdict.verdict, rule.mode, m.transfer->ref)) {
    m.error = std::move(refusal);
    m.value.reset();
  }
  m.transfer->signature = std::move(verdict);
}

}  // namespace pp
