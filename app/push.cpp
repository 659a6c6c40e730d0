// `propeller-proxy push FILE REF`: stores a wasm file in a registry as an OCI artifact (an
// application/wasm layer and an application/vnd.wasm.config.v0+json config, as `oras push` does),
// through the same registry client, and so the same credentials, as the proxy's pulls. With
// --sign-key it signs the manifest as `cosign sign --key` 3.x does (nodes/trust/bundle_sign.hpp):
// a Sigstore bundle attached as an OCI 1.1 referrer, listed in the fallback index at tag
// `sha256-<hex>` where the registry has no referrers API.

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>
#include <vector>

#include "app/commands.hpp"
#include "app/config/sources.hpp"
#include "app/io_wait.hpp"
#include "nodes/clients/oci/digest.hpp"
#include "nodes/clients/oci/http_io.hpp"
#include "nodes/clients/oci/registry_client.hpp"
#include "nodes/trust/bundle_sign.hpp"
#include "nodes/trust/signature_check.hpp"
#include "nodes/trust/signature_search.hpp"

namespace pp {

namespace {

constexpr const char* kConfigMediaType = "application/vnd.wasm.config.v0+json";

std::string digest_of(std::string_view bytes) {
  oci::Hasher h;
  h.update(bytes);
  return h.finish_digest();
}

// The creation time the manifests are annotated with: now, or SOURCE_DATE_EPOCH when set (the
// reproducible-builds convention), so that the same file pushed twice is the same manifest.
Expected<std::string> created_rfc3339() {
  std::time_t when = std::time(nullptr);
  if (const char* epoch = std::getenv("SOURCE_DATE_EPOCH")) {
    char* end = nullptr;
    errno = 0;
    const long long seconds = std::strtoll(epoch, &end, 10);
    if (*epoch == '\0' || *end != '\0' || errno != 0 || seconds < 0) {
      return Error{errc::invalid_request, "SOURCE_DATE_EPOCH=" + std::string(epoch) +
                                              " is not a number of seconds since 1970"};
    }
    when = static_cast<std::time_t>(seconds);
  }
  std::tm utc{};
  char buf[32];
  if (!gmtime_r(&when, &utc) || std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &utc) == 0) {
    return Error{errc::invalid_request, "SOURCE_DATE_EPOCH is out of range"};
  }
  return std::string(buf);
}

using Step = std::optional<Error>;
using Blobs = std::vector<std::pair<std::string, std::string>>;  // (digest, bytes)

// Uploads each blob in turn, unless the registry has it; the first error.
Step push_blobs(oci::RegistryClient& client, oci::HttpIo& io, const oci::Reference& ref,
                Blobs blobs) {
  for (auto& [digest, bytes] : blobs) {
    if (Step e = wait_on_io<Step>(io, [&](auto done) {
          client.push_blob(ref, digest, std::move(bytes), std::move(done));
        })) {
      return e;
    }
  }
  return std::nullopt;
}

Step push_manifest(oci::RegistryClient& client, oci::HttpIo& io, const oci::Reference& ref,
                   std::string body, const std::string& media_type) {
  return wait_on_io<Step>(io, [&](auto done) {
    client.push_manifest(ref, std::move(body), media_type, std::move(done));
  });
}

// The referrers tag schema's index grows by one entry per signature: the manifest limit of the
// distribution spec rather than the 64 KiB the proxy reads, so a long-signed module stays signable.
constexpr std::size_t kMaxFallbackIndex = 4 * 1024 * 1024;

// Signs `subject` (the pushed manifest) with `key` and attaches the bundle; what it did, for the
// output line, or why it failed.
Expected<std::string> attach_signature(oci::RegistryClient& client, oci::HttpIo& io,
                                       const oci::Reference& ref, const oci::Descriptor& subject,
                                       const trust::PrivateKey& key, const std::string& created) {
  auto statement =
      trust::cosign_sign_statement(ref.registry + "/" + ref.repository, subject.digest);
  if (!statement) return statement.error();
  auto bundle = trust::make_bundle(key, *statement);
  if (!bundle) return bundle.error();
  const oci::Descriptor bundle_desc{std::string(trust::bundle_media_type), digest_of(*bundle),
                                    bundle->size()};
  std::string manifest =
      trust::bundle_manifest(subject, bundle_desc, trust::cosign_sign_predicate_type, created);
  oci::Reference referrer = ref;
  referrer.tag.clear();
  referrer.digest = digest_of(manifest);
  const std::string summary = "signed " + subject.digest + " with key " + key.public_key().id() +
                              " (" + key.public_key().algorithm() + "): bundle " +
                              bundle_desc.digest + ", referrer " + referrer.digest;

  Blobs blobs;
  blobs.emplace_back(digest_of(trust::oci_empty_blob), trust::oci_empty_blob);
  blobs.emplace_back(bundle_desc.digest, std::move(*bundle));
  if (Step e = push_blobs(client, io, ref, std::move(blobs))) return *e;
  if (Step e = push_manifest(client, io, referrer, manifest, oci::media::oci_manifest)) return *e;

  // A registry with the referrers API lists the referrer itself; the others (404, as Debian's
  // docker-registry 2.8) need the fallback index, which readers look at when the API is absent.
  auto listing = wait_on_io<Expected<oci::Document>>(io, [&](auto done) {
    client.fetch_document(ref, oci::DocumentKind::referrers, subject.digest, kMaxFallbackIndex,
                          std::move(done));
  });
  if (listing && trust::bundle_referrers(listing->body)) return summary + " (referrers API)";
  if (!listing && listing.error().code == errc::registry_unavailable) return listing.error();

  oci::Reference tag = ref;
  tag.digest.clear();
  tag.tag = trust::digest_tag(subject.digest);
  auto current = wait_on_io<Expected<oci::Document>>(io, [&](auto done) {
    client.fetch_document(ref, oci::DocumentKind::manifest, tag.tag, kMaxFallbackIndex,
                          std::move(done));
  });
  if (!current && current.error().code != errc::not_found) return current.error();
  auto index = trust::add_to_fallback_index(
      current ? std::optional<std::string_view>(current->body) : std::nullopt, manifest);
  if (!index) return Error{index.error().code, tag.tag + ": " + index.error().message};
  if (!*index) return summary + " (already listed in " + tag.tag + ")";
  if (Step e = push_manifest(client, io, tag, std::move(**index), oci::media::oci_index)) return *e;
  return summary + " (listed in " + tag.tag + ")";
}

int fail(const std::string& message, int status) {
  std::fprintf(stderr, "propeller-proxy push: %s\n", message.c_str());
  return status;
}

}  // namespace

int run_push(const Config& config, const std::string& file, const std::string& reference,
             const std::string& sign_key) {
  auto ref = oci::parse_reference(reference, config.registry_url.host);
  if (!ref) return fail(ref.error().message, kExitUsage);
  // Before anything is uploaded: a key that cannot sign must not leave an unsigned module behind.
  std::optional<trust::PrivateKey> signer;
  if (!sign_key.empty()) {
    auto key = trust::PrivateKey::load(sign_key);
    if (!key) return fail("--sign-key: " + key.error().message, kExitUsage);
    signer = std::move(key).value();
  }
  const auto created = created_rfc3339();
  if (!created) return fail(created.error().message, kExitUsage);

  std::ifstream in(file, std::ios::binary);
  if (!in) return fail("cannot read " + file, kExitFailure);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  std::string wasm = std::move(buffer).str();

  const std::string config_blob = "{}";
  const oci::Descriptor config_desc{kConfigMediaType, digest_of(config_blob), config_blob.size()};
  const oci::Descriptor layer{"application/wasm", digest_of(wasm), wasm.size()};
  const nlohmann::json manifest = {
      {"schemaVersion", 2},
      {"mediaType", oci::media::oci_manifest},
      {"config",
       {{"mediaType", config_desc.media_type},
        {"digest", config_desc.digest},
        {"size", config_desc.size}}},
      {"layers",
       {{{"mediaType", layer.media_type},
         {"digest", layer.digest},
         {"size", layer.size},
         {"annotations",
          {{"org.opencontainers.image.title", std::filesystem::path(file).filename().string()}}}}}},
      {"annotations", {{"org.opencontainers.image.created", *created}}},
  };
  std::string manifest_body = manifest.dump();
  const oci::Descriptor subject{oci::media::oci_manifest, digest_of(manifest_body),
                                manifest_body.size()};
  if (!ref->digest.empty() && ref->digest != subject.digest) {
    return fail("the reference pins " + ref->digest + " but the manifest is " + subject.digest,
                kExitUsage);
  }

  oci::HttpIo io(config.proxies);
  oci::RegistryClient client(io, registry_options(config));
  const auto started = std::chrono::steady_clock::now();
  Blobs blobs;
  blobs.emplace_back(config_desc.digest, config_blob);
  blobs.emplace_back(layer.digest, std::move(wasm));
  Step e = push_blobs(client, io, *ref, std::move(blobs));
  if (!e) e = push_manifest(client, io, *ref, std::move(manifest_body), oci::media::oci_manifest);
  if (e) return fail(e->code + ": " + e->message, kExitFailure);
  std::string signed_line;
  if (signer) {
    auto attached = attach_signature(client, io, *ref, subject, *signer, *created);
    // The module is stored either way; the message says so, so that the push is simply repeated.
    if (!attached) {
      return fail("pushed " + subject.digest + " but could not sign it: " + attached.error().code +
                      ": " + attached.error().message,
                  kExitFailure);
    }
    signed_line = *attached + "\n";
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - started)
                      .count();
  std::printf("pushed %s: manifest %s, layer %s (%llu bytes) in %lld ms\n%s", ref->str().c_str(),
              subject.digest.c_str(), layer.digest.c_str(),
              static_cast<unsigned long long>(layer.size), static_cast<long long>(ms),
              signed_line.c_str());
  return kExitOk;
}

}  // namespace pp
