// `propeller-proxy verify REF`: checks a reference's signatures the way the proxy would, with the
// same settings (PROXY_SIGNATURE_KEYS, _MODE, _POLICY, the registry's credentials and platform),
// and prints the verdict. Exit status: 0 when the proxy would deliver the module (verified, not
// checked for that repository, or audit mode), 1 when it would refuse it or the registry could not
// be asked, 2 for a bad reference or configuration.

#include <cstdio>

#include "app/commands.hpp"
#include "app/config/sources.hpp"
#include "app/io_wait.hpp"
#include "nodes/clients/oci/http_io.hpp"
#include "nodes/clients/oci/registry_client.hpp"
#include "nodes/stages/signature.hpp"
#include "nodes/trust/signature_search.hpp"

namespace pp {

namespace {

int fail(const std::string& message, int status) {
  std::fprintf(stderr, "propeller-proxy verify: %s\n", message.c_str());
  return status;
}

}  // namespace

int run_verify(const Config& config, const std::string& reference) {
  auto ref = oci::parse_reference(reference, config.registry_url.host);
  if (!ref) return fail(ref.error().message, kExitUsage);
  const std::string repository = policy_repository(*ref);
  const trust::TrustRule& rule = config.trust->for_repository(repository);
  if (rule.mode == trust::SignatureMode::off) {
    std::printf("%s: signatures not checked (%s is off in the signature settings)\n",
                ref->str().c_str(), repository.c_str());
    return kExitOk;
  }

  oci::HttpIo io(config.proxies);
  oci::RegistryClient client(io, registry_options(config));
  auto manifest = wait_on_io<Expected<oci::ResolvedManifest>>(
      io, [&](auto done) { client.fetch_manifest(*ref, std::move(done)); });
  if (!manifest) return fail(manifest.error().code + ": " + manifest.error().message, kExitFailure);
  std::vector<std::string> digests{manifest->digest};
  digests.insert(digests.end(), manifest->index_digests.begin(), manifest->index_digests.end());
  auto verdict = wait_on_io<Expected<trust::Verdict>>(io, [&](auto done) {
    trust::search_signatures(client, *ref, digests, rule.keys, std::move(done));
  });
  if (!verdict) return fail(verdict.error().code + ": " + verdict.error().message, kExitFailure);

  const std::string what = ref->str() + " (" + manifest->digest + ")";
  if (verdict->result == trust::Verdict::Result::verified) {
    std::printf("%s: verified: %s signature by key %s\n", what.c_str(), verdict->format.c_str(),
                verdict->key_id.c_str());
    return kExitOk;
  }
  const bool enforce = rule.mode == trust::SignatureMode::enforce;
  std::printf("%s: %s: %s; the proxy would %s\n", what.c_str(),
              std::string(trust::to_string(verdict->result)).c_str(), verdict->reason.c_str(),
              enforce ? "refuse it" : "deliver it anyway (audit mode)");
  return enforce ? kExitFailure : kExitOk;
}

}  // namespace pp
