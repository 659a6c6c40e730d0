// `propeller-proxy push FILE REF`: stores a wasm file in a registry as an OCI artifact (an
// application/wasm layer and an application/vnd.wasm.config.v0+json config, as `oras push` does),
// through the same registry client, and so the same credentials, as the proxy's pulls.

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <sstream>

#include "app/commands.hpp"
#include "app/config/sources.hpp"
#include "nodes/clients/oci/digest.hpp"
#include "nodes/clients/oci/http_io.hpp"
#include "nodes/clients/oci/registry_client.hpp"

namespace pp {

namespace {

constexpr const char* kConfigMediaType = "application/vnd.wasm.config.v0+json";

std::string digest_of(std::string_view bytes) {
  oci::Hasher h;
  h.update(bytes);
  return h.finish_digest();
}

std::string utc_now_rfc3339() {
  const std::time_t now = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return buf;
}

// Runs one asynchronous registry operation to completion (the CLI has nothing else to do).
std::optional<Error> wait(const std::function<void(oci::RegistryClient::Done)>& start) {
  std::promise<std::optional<Error>> promise;
  auto result = promise.get_future();
  start([&promise](std::optional<Error> e) { promise.set_value(std::move(e)); });
  return result.get();
}

int fail(const std::string& message, int status) {
  std::fprintf(stderr, "propeller-proxy push: %s\n", message.c_str());
  return status;
}

}  // namespace

int run_push(const Config& config, const std::string& file, const std::string& reference) {
  auto ref = oci::parse_reference(reference, config.registry_url.host);
  if (!ref) return fail(ref.error().message, kExitUsage);

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
      {"annotations", {{"org.opencontainers.image.created", utc_now_rfc3339()}}},
  };
  std::string manifest_body = manifest.dump();
  const std::string manifest_digest = digest_of(manifest_body);
  if (!ref->digest.empty() && ref->digest != manifest_digest) {
    return fail("the reference pins " + ref->digest + " but the manifest is " + manifest_digest,
                kExitUsage);
  }

  oci::HttpIo io(config.proxies);
  oci::RegistryClient client(io, registry_options(config));
  const auto started = std::chrono::steady_clock::now();
  if (auto e = wait([&](auto done) {
        client.push_blob(*ref, config_desc.digest, config_blob, std::move(done));
      })) {
    return fail(e->code + ": " + e->message, kExitFailure);
  }
  if (auto e = wait([&](auto done) {
        client.push_blob(*ref, layer.digest, std::move(wasm), std::move(done));
      })) {
    return fail(e->code + ": " + e->message, kExitFailure);
  }
  if (auto e = wait([&](auto done) {
        client.push_manifest(*ref, std::move(manifest_body), oci::media::oci_manifest,
                             std::move(done));
      })) {
    return fail(e->code + ": " + e->message, kExitFailure);
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - started)
                      .count();
  std::printf("pushed %s: manifest %s, layer %s (%llu bytes) in %lld ms\n", ref->str().c_str(),
              manifest_digest.c_str(), layer.digest.c_str(),
              static_cast<unsigned long long>(layer.size), static_cast<long long>(ms));
  return kExitOk;
}

}  // namespace pp
