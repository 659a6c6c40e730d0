#include "tests/unit/fake_registry.hpp"

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "nodes/clients/oci/digest.hpp"

namespace pp::test {

namespace {

std::string sha256_of(const std::string& bytes) {
  oci::Hasher h;
  h.update(bytes);
  return h.finish_digest();
}

// What HttpIo::abort_all makes of every exchange of the real client: it ends, with an error.
Error aborted() {
  return Error{errc::registry_unavailable, "the I/O thread was aborted (shutting down)"};
}

// One blob GET: steps through the blob on the I/O thread, one slice per task so that other work
// there interleaves, as curl's transfers do.
class BlobCall : public oci::Registry::Call, public std::enable_shared_from_this<BlobCall> {
 public:
  BlobCall(oci::HttpIo& io, std::shared_ptr<FakeRegistry::State> state, std::string digest,
           std::shared_ptr<oci::BlobSink> sink, std::optional<oci::ByteRange> range)
      : io_(io),
        state_(std::move(state)),
        digest_(std::move(digest)),
        sink_(std::move(sink)),
        range_(range) {}

  void start() { schedule(); }
  void resume() override {
    if (!paused_) return;
    paused_ = false;
    schedule();
  }
  void cancel() override { end(Error{errc::registry_unavailable, "cancelled"}); }

 private:
  void schedule() {
    io_.post([self = shared_from_this()] { self->step(); });
  }

  void step() {
    if (!sink_ || paused_) return;
    if (io_.aborted()) return end(aborted());
    std::optional<Error> failure;
    std::size_t slice = 0;
    {
      std::lock_guard lock(state_->mutex);
      // Polled: a hold stalls the response mid-stream as a slow registry does, and a poll also
      // notices an abort.
      if (state_->held.contains(digest_)) {
        io_.post_after(std::chrono::milliseconds(1), [self = shared_from_this()] { self->step(); });
        return;
      }
      if (!body_) {
        if (auto f = state_->failing_blobs.find(digest_); f != state_->failing_blobs.end()) {
          failure = f->second;
        } else {
          body_ = body();
        }
      }
      slice = state_->slice;
    }
    if (failure) return end(std::move(failure));
    if (!*body_)
      return end(Error{errc::not_found, "blob " + digest_ + ": HTTP 404 (BLOB_UNKNOWN)"});
    const std::string& bytes = **body_;
    if (offset_ == bytes.size()) return end(std::nullopt);
    const std::size_t n = std::min(slice, bytes.size() - offset_);
    const std::size_t taken = sink_->on_data(bytes.data() + offset_, n);
    if (taken == oci::HttpHandler::kPause) {
      paused_ = true;  // the same bytes are offered again after resume(), as curl does
      return;
    }
    if (taken != n) return end(Error{errc::registry_unavailable, "aborted by the receiver"});
    offset_ += n;
    schedule();
  }

  // The response body (under the state's lock): the blob, or the range of it, perhaps corrupted;
  // null for an unknown blob.
  std::shared_ptr<const std::string> body() const {
    const auto it = state_->blobs.find(digest_);
    if (it == state_->blobs.end()) return nullptr;
    std::string bytes = *it->second;
    if (state_->corrupt.contains(digest_) && !bytes.empty()) bytes[bytes.size() / 2] ^= 0x5a;
    if (range_) {
      const auto offset = std::min<std::uint64_t>(range_->offset, bytes.size());
      bytes = bytes.substr(offset, range_->length);
    }
    return std::make_shared<const std::string>(std::move(bytes));
  }

  void end(std::optional<Error> error) {
    if (!sink_) return;
    auto sink = std::move(sink_);
    sink_.reset();
    sink->on_end(std::move(error));
  }

  oci::HttpIo& io_;
  std::shared_ptr<FakeRegistry::State> state_;
  const std::string digest_;
  std::shared_ptr<oci::BlobSink> sink_;  // reset once on_end has been called
  const std::optional<oci::ByteRange> range_;
  std::optional<std::shared_ptr<const std::string>> body_;  // set at the first slice
  std::size_t offset_ = 0;
  bool paused_ = false;
};

}  // namespace

FakeRegistry::FakeRegistry(oci::HttpIo& io, std::string host) : io_(io), host_(std::move(host)) {}

oci::Descriptor FakeRegistry::push(const std::string& repository, const std::string& tag,
                                   const std::string& module) {
  const std::string config = "{}";
  const oci::Descriptor layer{"application/wasm", sha256_of(module), module.size()};
  const nlohmann::json doc = {
      {"schemaVersion", 2},
      {"mediaType", oci::media::oci_manifest},
      {"config",
       {{"mediaType", "application/vnd.wasm.config.v0+json"},
        {"digest", sha256_of(config)},
        {"size", config.size()}}},
      {"layers",
       {{{"mediaType", layer.media_type}, {"digest", layer.digest}, {"size", layer.size}}}}};
  const std::string body = doc.dump();
  auto parsed = oci::parse_manifest(body, oci::media::oci_manifest);
  if (!parsed) throw std::runtime_error("manifest not accepted: " + parsed.error().message);
  const oci::ResolvedManifest resolved{std::move(parsed).value(), sha256_of(body), {}};
  std::lock_guard lock(state_->mutex);
  state_->manifests[repository + ":" + tag] = resolved;
  state_->manifests[repository + "@" + resolved.digest] = resolved;
  state_->blobs[layer.digest] = std::make_shared<const std::string>(module);
  state_->blobs[resolved.manifest.config.digest] = std::make_shared<const std::string>(config);
  return layer;
}

void FakeRegistry::hold_blob(const std::string& digest) {
  std::lock_guard lock(state_->mutex);
  state_->held.insert(digest);
}

void FakeRegistry::release_blob(const std::string& digest) {
  std::lock_guard lock(state_->mutex);
  state_->held.erase(digest);
}

void FakeRegistry::fail_manifests(const std::string& repository, Error error) {
  std::lock_guard lock(state_->mutex);
  state_->failing_manifests.insert_or_assign(repository, std::move(error));
}

void FakeRegistry::fail_blob(const std::string& digest, Error error) {
  std::lock_guard lock(state_->mutex);
  state_->failing_blobs.insert_or_assign(digest, std::move(error));
}

void FakeRegistry::corrupt_blob(const std::string& digest) {
  std::lock_guard lock(state_->mutex);
  state_->corrupt.insert(digest);
}

namespace {
std::string document_key(const std::string& repository, oci::DocumentKind kind,
                         const std::string& name) {
  return repository + " " + std::to_string(static_cast<int>(kind)) + " " + name;
}
}  // namespace

void FakeRegistry::put_document(const std::string& repository, oci::DocumentKind kind,
                                const std::string& name, std::string body,
                                std::string content_type) {
  std::lock_guard lock(state_->mutex);
  std::string digest = sha256_of(body);
  state_->documents[document_key(repository, kind, name)] =
      oci::Document{std::move(body), std::move(content_type), std::move(digest)};
}

void FakeRegistry::fail_document(const std::string& repository, oci::DocumentKind kind,
                                 const std::string& name, Error error) {
  std::lock_guard lock(state_->mutex);
  state_->failing_documents.insert_or_assign(document_key(repository, kind, name),
                                             std::move(error));
}

void FakeRegistry::fetch_document(const oci::Reference& ref, oci::DocumentKind kind,
                                  const std::string& name, std::size_t max_bytes,
                                  DocumentCallback done) {
  {
    std::lock_guard lock(state_->mutex);
    ++state_->document_gets[ref.repository];
  }
  io_.post([&io = io_, state = state_, key = document_key(ref.repository, kind, name), kind, name,
            max_bytes, done = std::move(done)] {
    if (io.aborted()) return done(aborted());
    std::optional<Expected<oci::Document>> answer;
    {
      std::lock_guard lock(state->mutex);
      if (auto f = state->failing_documents.find(key); f != state->failing_documents.end()) {
        answer.emplace(f->second);
      } else if (auto d = state->documents.find(key); d != state->documents.end()) {
        answer.emplace(d->second);
      } else if (auto b = state->blobs.find(name);
                 kind == oci::DocumentKind::blob && b != state->blobs.end()) {
        answer.emplace(oci::Document{*b->second, "application/octet-stream", name});
      } else {
        answer.emplace(Error{errc::not_found, key + ": HTTP 404"});
      }
    }
    if (*answer && (*answer)->body.size() > max_bytes) {
      answer.emplace(Error{errc::too_large, key + " is larger than the limit"});
    }
    done(std::move(*answer));
  });
}

void FakeRegistry::set_slice(std::size_t bytes) {
  std::lock_guard lock(state_->mutex);
  state_->slice = std::max<std::size_t>(bytes, 1);
}

std::size_t FakeRegistry::manifest_gets(const std::string& repository) const {
  std::lock_guard lock(state_->mutex);
  const auto it = state_->manifest_gets.find(repository);
  return it == state_->manifest_gets.end() ? 0 : it->second;
}

std::size_t FakeRegistry::blob_gets(const std::string& digest) const {
  std::lock_guard lock(state_->mutex);
  const auto it = state_->blob_gets.find(digest);
  return it == state_->blob_gets.end() ? 0 : it->second;
}

std::size_t FakeRegistry::document_gets(const std::string& repository) const {
  std::lock_guard lock(state_->mutex);
  const auto it = state_->document_gets.find(repository);
  return it == state_->document_gets.end() ? 0 : it->second;
}

void FakeRegistry::fetch_manifest(const oci::Reference& ref, ManifestCallback done) {
  {
    std::lock_guard lock(state_->mutex);
    ++state_->manifest_gets[ref.repository];
  }
  const std::string key = ref.repository + (ref.digest.empty() ? ":" + ref.tag : "@" + ref.digest);
  io_.post([&io = io_, state = state_, repository = ref.repository, key, done = std::move(done)] {
    if (io.aborted()) return done(aborted());
    std::optional<Expected<oci::ResolvedManifest>> answer;
    {
      std::lock_guard lock(state->mutex);
      if (auto f = state->failing_manifests.find(repository); f != state->failing_manifests.end()) {
        answer.emplace(f->second);
      } else if (auto m = state->manifests.find(key); m != state->manifests.end()) {
        answer.emplace(m->second);
      } else {
        answer.emplace(Error{errc::not_found, "manifest " + key + ": HTTP 404 (MANIFEST_UNKNOWN)"});
      }
    }
    done(std::move(*answer));
  });
}

std::shared_ptr<oci::Registry::Call> FakeRegistry::fetch_blob(const oci::Reference&,
                                                              const std::string& digest,
                                                              std::shared_ptr<oci::BlobSink> sink,
                                                              std::optional<oci::ByteRange> range) {
  {
    std::lock_guard lock(state_->mutex);
    ++state_->blob_gets[digest];
  }
  auto call = std::make_shared<BlobCall>(io_, state_, digest, std::move(sink), range);
  call->start();
  return call;
}

}  // namespace pp::test
