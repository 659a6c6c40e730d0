#include "nodes/stages/resolution.hpp"

#include <chrono>

#include "nodes/common/log.hpp"
#include "nodes/stages/signature.hpp"

namespace pp {

std::string chunks_out_of_range(const Request& r, std::uint64_t total) {
  return "chunk " + std::to_string(r.chunks.back()) + " does not exist: " + r.app_name + " has " +
         std::to_string(total) + " chunks (0.." + std::to_string(total - 1) + ")";
}

std::optional<Error> ModuleResolution::start(Transfer& t, std::string manifest_digest,
                                             oci::Descriptor blob, bool resolved) const {
  if (resolved && cache_) {
    const BlobCache::Resolution r{manifest_digest, blob, std::chrono::system_clock::now(),
                                  t.module_file == nullptr, t.signature};
    cache_->remember(t.ref.str(), r);
    // So that the manifest's digest, once seen, serves without the registry too (for an index,
    // the digest of the platform's manifest).
    if (t.ref.digest.empty()) {
      oci::Reference pinned = t.ref;
      pinned.tag.clear();
      pinned.digest = manifest_digest;
      cache_->remember(pinned.str(), r);
    }
  }
  if (!t.module_file && cache_ && t.read_cache()) {
    if (auto cached = cache_->find(blob)) {
      t.module_file = std::move(cached);
      t.from_cache = true;
    }
  }
  t.module = std::make_shared<const Module>(std::move(manifest_digest), std::move(blob),
                                            t.request.app_name, t.chunk_size, t.signature);
  const Module& m = *t.module;
  if (!t.request.digest.empty() && t.request.digest != m.blob.digest) {
    return Error{errc::digest_mismatch, "the request pins " + t.request.digest + ", but " +
                                            t.ref.str() + " is now " + m.blob.digest};
  }
  if (!t.request.chunks.empty() && t.request.chunks.back() >= m.total_chunks) {
    return Error{errc::invalid_request, chunks_out_of_range(t.request, m.total_chunks)};
  }
  // Last: from here on the schedule lets requests join.
  if (t.request.chunks.empty()) {
    t.schedule.start_stream(m.total_chunks, m.blob.digest);
  } else {
    t.schedule.start_selection(m.total_chunks, m.blob.digest, t.request.chunks);
  }
  log::debug("resolved", {{"app_name", t.request.app_name},
                          {"manifest", m.manifest_digest},
                          {"digest", m.blob.digest},
                          {"size", m.blob.size},
                          {"chunks", m.total_chunks}});
  return std::nullopt;
}

ModuleResolution::FromCache ModuleResolution::start_from_cache(
    Transfer& t, bool registry_down, const std::string& manifest_digest) const {
  if (!cache_ || !t.read_cache()) return {};
  const auto resolution = cache_->resolution(t.ref.str());
  if (!resolution) return {};
  if (!manifest_digest.empty() && resolution->manifest_digest != manifest_digest) return {};
  // Kept under a larger PROXY_MAX_BLOB_SIZE: the registry path says too_large.
  if (resolution->module.size > max_blob_size_) return {};
  // A manifest just fetched makes the resolution current, whatever its age.
  if (manifest_digest.empty() &&
      !cache_->usable(*resolution, !t.ref.digest.empty(), registry_down)) {
    return {};
  }
  if (auto answer = signature_from_cache(t, *resolution, registry_down)) return *answer;
  auto file = cache_->find(resolution->module);
  // Not cached (evicted, or too large to keep) but known: downloaded by its digest, which spares
  // the manifest request (the one a registry such as Docker Hub counts as a pull). Unless the
  // registry is down, or the module must be unpacked from its layer again.
  if (!file && (registry_down || !resolution->is_blob)) return {};
  t.module_file = std::move(file);
  t.from_cache = t.module_file != nullptr;
  if (registry_down && t.ref.digest.empty()) {
    log::warn(
        "registry unreachable; serving the tag as it resolved before",
        {{"app_name", t.request.app_name},
         {"digest", resolution->module.digest},
         {"resolved_s_ago",
          static_cast<long long>(std::chrono::duration_cast<std::chrono::seconds>(
                                     std::chrono::system_clock::now() - resolution->resolved_at)
                                     .count())}});
  }
  return {true, start(t, resolution->manifest_digest, resolution->module, false)};
}

std::optional<ModuleResolution::FromCache> ModuleResolution::signature_from_cache(
    Transfer& t, const BlobCache::Resolution& r, bool registry_down) const {
  // Checked just now, by signature-check, for the manifest the registry named.
  if (t.signature) return std::nullopt;
  const trust::TrustRule& rule = policy_.for_repository(policy_repository(t.ref));
  if (rule.mode == trust::SignatureMode::off) return std::nullopt;
  const auto now = std::chrono::system_clock::now();
  const auto& kept = r.signature;
  const bool known = kept && kept->keyset == rule.keyset;
  const bool holds = known && (kept->verdict.result == trust::Verdict::Result::verified ||
                               now - kept->checked_at < manifest_ttl_);
  if (!holds && !registry_down) return FromCache{};
  if (known) {
    t.signature = *kept;
    if (auto refusal = signature_refusal(kept->verdict, rule.mode, t.ref)) {
      return FromCache{true, std::move(refusal)};
    }
    return std::nullopt;
  }
  const std::string why =
      "the registry is unreachable, and the cache holds no signature verdict "
      "of " +
      r.manifest_digest + " for the trusted keys";
  if (rule.mode == trust::SignatureMode::enforce) {
    return FromCache{true, Error{errc::registry_unavailable, t.ref.str() + ": " + why}};
  }
  t.signature = trust::CheckedSignature{
      trust::Verdict{trust::Verdict::Result::invalid, {}, {}, "signatures not checked: " + why},
      rule.keyset, now};
  return std::nullopt;
}

Error ModuleResolution::too_large(const Transfer& t, const oci::Descriptor& layer) const {
  return Error{errc::too_large,
               "blob " + layer.digest + " of " + t.ref.str() + " is " + std::to_string(layer.size) +
                   " bytes, over PROXY_MAX_BLOB_SIZE (" + std::to_string(max_blob_size_) + ")"};
}

}  // namespace pp
