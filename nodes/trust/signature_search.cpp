#include "nodes/trust/signature_search.hpp"

#include <memory>
#include <utility>

namespace pp::trust {
namespace {

using oci::DocumentKind;

// An artifact the registry could not serve as the layout says is a finding against it; these
// errors instead mean the registry could not be asked, so nothing is known.
bool registry_trouble(const Error& e) {
  return e.code == errc::registry_unavailable || e.code == errc::registry_error ||
         e.code == errc::unauthorized || e.code == errc::forbidden || e.code == errc::not_allowed ||
         e.code == errc::shutting_down;
}

// One search, alive through its own callbacks, one request at a time.
class Search : public std::enable_shared_from_this<Search> {
 public:
  Search(oci::Registry& registry, oci::Reference ref, std::vector<std::string> digests,
         std::vector<PublicKey> keys, SearchDone done)
      : registry_(registry),
        ref_(std::move(ref)),
        digests_(std::move(digests)),
        keys_(std::move(keys)),
        done_(std::move(done)) {}

  void next_digest() {
    if (at_ == digests_.size()) return finish();
    subject_ = digests_[at_++];
    fetch(DocumentKind::manifest, digest_tag(subject_) + ".sig",
          [self = shared_from_this()](Expected<oci::Document> d) { self->on_signatures(d); });
  }

 private:
  template <typename Then>
  void fetch(DocumentKind kind, const std::string& name, Then then) {
    registry_.fetch_document(ref_, kind, name, max_signature_artifact_size, std::move(then));
  }

  // Whether `d` failed in a way that ends the search (then it has ended).
  bool failed(const Expected<oci::Document>& d) {
    if (d || !registry_trouble(d.error())) return false;
    done_(Error{d.error().code, "looking for signatures: " + d.error().message});
    return true;
  }

  // Whether one more artifact may be examined; counts those that may not.
  bool may_examine() {
    if (examined_ < max_signature_artifacts) {
      ++examined_;
      return true;
    }
    ++skipped_;
    return false;
  }

  void found(Finding f) {
    verified_ = verified_ || f.kind == Finding::Kind::verified;
    findings_.push_back(std::move(f));
  }

  void on_signatures(Expected<oci::Document>& d) {
    if (failed(d)) return;
    if (d) {
      auto layers = simple_signing_layers(d->body);
      if (!layers) {
        found(Finding{Finding::Kind::malformed, "simplesigning", {}, layers.error().message});
      } else {
        payloads_ = std::move(layers).value();
      }
    } else if (d.error().code != errc::not_found) {
      found(Finding{Finding::Kind::malformed, "simplesigning", {}, d.error().message});
    }
    next_payload();
  }

  void next_payload() {
    while (!payloads_.empty() && !may_examine())
      payloads_.pop_back();
    if (verified_) return finish();
    if (payloads_.empty()) return referrers();
    fetch(DocumentKind::blob, payloads_.back().payload.digest,
          [self = shared_from_this()](Expected<oci::Document> d) { self->on_payload(d); });
  }

  void on_payload(Expected<oci::Document>& d) {
    if (failed(d)) return;
    const SignedPayload signed_payload = std::move(payloads_.back());
    payloads_.pop_back();
    if (!d) {
      found(Finding{Finding::Kind::malformed, "simplesigning", {}, d.error().message});
    } else {
      found(check_simple_signing(d->body, signed_payload.signature, keys_, digests_));
    }
    next_payload();
  }

  void referrers() {
    fetch(DocumentKind::referrers, subject_,
          [self = shared_from_this()](Expected<oci::Document> d) { self->on_referrers(d); });
  }

  void on_referrers(Expected<oci::Document>& d) {
    // A registry without the API answers 404, or another 4xx: the fallback tag then says.
    if (d && read_bundles(d->body) && !bundles_.empty()) return next_bundle();
    if (!d && d.error().code == errc::registry_unavailable) {
      failed(d);
      return;
    }
    fetch(DocumentKind::manifest, digest_tag(subject_),
          [self = shared_from_this()](Expected<oci::Document> f) { self->on_fallback(f); });
  }

  void on_fallback(Expected<oci::Document>& d) {
    if (failed(d)) return;
    if (d) {
      read_bundles(d->body);
    } else if (d.error().code != errc::not_found) {
      found(Finding{Finding::Kind::malformed, "bundle", {}, d.error().message});
    }
    next_bundle();
  }

  bool read_bundles(const std::string& index) {
    auto listed = bundle_referrers(index);
    if (!listed) {
      found(Finding{Finding::Kind::malformed, "bundle", {}, listed.error().message});
      return false;
    }
    bundles_ = std::move(listed).value();
    return true;
  }

  void next_bundle() {
    while (!bundles_.empty() && !may_examine())
      bundles_.pop_back();
    if (verified_) return finish();
    if (bundles_.empty()) return next_digest();
    const std::string digest = bundles_.back().digest;
    bundles_.pop_back();
    fetch(DocumentKind::manifest, digest,
          [self = shared_from_this()](Expected<oci::Document> d) { self->on_bundle_manifest(d); });
  }

  void on_bundle_manifest(Expected<oci::Document>& d) {
    if (failed(d)) return;
    if (!d) {
      found(Finding{Finding::Kind::malformed, "bundle", {}, d.error().message});
      return next_bundle();
    }
    auto layer = bundle_layer(d->body, subject_);
    if (!layer) {
      found(Finding{Finding::Kind::malformed, "bundle", {}, layer.error().message});
      return next_bundle();
    }
    if (!*layer) {  // another kind of referrer: not a signature, and not counted as one
      --examined_;
      return next_bundle();
    }
    fetch(DocumentKind::blob, (*layer)->digest,
          [self = shared_from_this()](Expected<oci::Document> b) { self->on_bundle(b); });
  }

  void on_bundle(Expected<oci::Document>& d) {
    if (failed(d)) return;
    if (!d) {
      found(Finding{Finding::Kind::malformed, "bundle", {}, d.error().message});
    } else {
      found(check_bundle(d->body, keys_, digests_));
    }
    next_bundle();
  }

  void finish() { done_(judge(findings_, keys_, skipped_)); }

  oci::Registry& registry_;
  const oci::Reference ref_;
  const std::vector<std::string> digests_;
  const std::vector<PublicKey> keys_;
  const SearchDone done_;
  std::size_t at_ = 0;
  std::string subject_;  // the digest whose artifacts are being read
  std::vector<SignedPayload> payloads_;
  std::vector<oci::Descriptor> bundles_;
  std::vector<Finding> findings_;
  std::size_t examined_ = 0, skipped_ = 0;
  bool verified_ = false;
};

}  // namespace

std::string digest_tag(const std::string& digest) {
  std::string tag = digest;
  if (const auto colon = tag.find(':'); colon != std::string::npos) tag[colon] = '-';
  return tag;
}

void search_signatures(oci::Registry& registry, const oci::Reference& ref,
                       std::vector<std::string> digests, std::vector<PublicKey> keys,
                       SearchDone done) {
  std::make_shared<Search>(registry, ref, std::move(digests), std::move(keys), std::move(done))
      ->next_digest();
}

}  // namespace pp::trust
