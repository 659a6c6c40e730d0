#pragma once
// An OCI registry in memory, behind the oci::Registry seam: manifests and blobs pushed by the test,
// served on the pipeline's real HttpIo thread as the registry client would serve them (blobs in
// slices, with the sink's pause, resume and cancel, ranges, and HttpIo::abort_all ending every
// request), and faults the test asks for. No socket is opened.

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "nodes/clients/oci/registry_client.hpp"
#include "nodes/common/error.hpp"

namespace pp::test {

class FakeRegistry : public oci::Registry {
 public:
  // `io` runs every callback, as the product's RegistryClient's does; it must outlive the calls
  // this registry starts (the pipeline's teardown waits for them).
  explicit FakeRegistry(oci::HttpIo& io, std::string host = "registry.test");

  // Stores `module` as the one `application/wasm` layer of an OCI image manifest for
  // repository:tag (the manifest is also reachable by its digest) and returns the layer's
  // descriptor. The manifest goes through the product's own parser, so it is one the proxy reads.
  oci::Descriptor push(const std::string& repository, const std::string& tag,
                       const std::string& module);

  // GETs of `digest` stall (before their next slice) until released; they still end if the I/O
  // thread is aborted, as the real client's exchanges do.
  void hold_blob(const std::string& digest);
  void release_blob(const std::string& digest);
  // Every later GET of the manifests of `repository` (or of blob `digest`) ends with `error`.
  void fail_manifests(const std::string& repository, Error error);
  void fail_blob(const std::string& digest, Error error);
  // Blob `digest` is served with one byte changed: its size is right, its digest is not.
  void corrupt_blob(const std::string& digest);
  // Serves `body` to fetch_document(kind, name) for `repository` (blobs pushed are served too).
  void put_document(const std::string& repository, oci::DocumentKind kind, const std::string& name,
                    std::string body, std::string content_type = "application/json");
  // fetch_document(kind, name) for `repository` ends with `error` (before any document is looked
  // up).
  void fail_document(const std::string& repository, oci::DocumentKind kind, const std::string& name,
                     Error error);
  // Bytes per on_data call (the real client's receive buffer is at most 128 KiB).
  void set_slice(std::size_t bytes);

  std::size_t manifest_gets(const std::string& repository) const;
  std::size_t blob_gets(const std::string& digest) const;
  // fetch_document calls of `repository`, all kinds and names.
  std::size_t document_gets(const std::string& repository) const;

  const std::string& default_registry() const override { return host_; }
  oci::HttpIo& io() override { return io_; }
  void fetch_manifest(const oci::Reference& ref, ManifestCallback done) override;
  void fetch_document(const oci::Reference& ref, oci::DocumentKind kind, const std::string& name,
                      std::size_t max_bytes, DocumentCallback done) override;
  std::shared_ptr<Call> fetch_blob(const oci::Reference& ref, const std::string& digest,
                                   std::shared_ptr<oci::BlobSink> sink,
                                   std::optional<oci::ByteRange> range = std::nullopt) override;

  // Shared with the calls in flight, which may end after the registry is gone.
  struct State {
    mutable std::mutex mutex;
    std::map<std::string, oci::ResolvedManifest> manifests;  // "repo:tag", "repo@digest"
    std::map<std::string, std::shared_ptr<const std::string>> blobs;
    std::map<std::string, oci::Document> documents;  // "repo kind name"
    std::set<std::string> held;
    std::set<std::string> corrupt;
    std::map<std::string, Error> failing_manifests;  // by repository
    std::map<std::string, Error> failing_blobs;
    std::map<std::string, Error> failing_documents;    // "repo kind name"
    std::map<std::string, std::size_t> manifest_gets;  // by repository
    std::map<std::string, std::size_t> blob_gets;
    std::map<std::string, std::size_t> document_gets;  // by repository
    std::size_t slice = 4096;
  };

 private:
  oci::HttpIo& io_;
  const std::string host_;
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

}  // namespace pp::test
