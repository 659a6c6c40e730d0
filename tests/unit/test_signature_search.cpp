#define BOOST_TEST_MODULE signature_search
#include <atomic>
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "nodes/clients/oci/http_io.hpp"
#include "nodes/clients/oci/reference.hpp"
#include "nodes/common/error.hpp"
#include "nodes/trust/signature_check.hpp"
#include "nodes/trust/signature_search.hpp"
#include "tests/unit/cosign_artifacts.hpp"
#include "tests/unit/fake_registry.hpp"
#include "tests/unit/test_keys.hpp"
#include "tests/unit/verdict_print.hpp"

namespace bdata = boost::unit_test::data;
using nlohmann::json;
using pp::Error;
using pp::oci::DocumentKind;
using pp::trust::Verdict;
using namespace pp::test;

namespace {

const std::string repo = "acme/app";
const std::string module_digest = "sha256:" + std::string(64, 'a');
const std::string index_digest = "sha256:" + std::string(64, 'c');
const std::string other_digest = "sha256:" + std::string(64, 'b');
const std::string bundle_type(pp::trust::bundle_media_type);

// Made once per process: "trusted" is the key the searches trust, "other" is not.
const Signer& trusted_signer() {
  static const Signer s = make_signer("P-256");
  return s;
}

const Signer& other_signer() {
  static const Signer s = make_signer("P-256");
  return s;
}

// A repository in a FakeRegistry, and the artifacts the tests publish in it.
class Repository {
 public:
  void put(DocumentKind kind, const std::string& name, const std::string& body) {
    registry.put_document(repo, kind, name, body);
  }
  void fail(DocumentKind kind, const std::string& name, Error error) {
    registry.fail_document(repo, kind, name, std::move(error));
  }

  // A payload blob; its layer in a signature manifest.
  json payload(const std::string& bytes, const std::string& signature_base64) {
    const std::string digest = digest_of(bytes);
    put(DocumentKind::blob, digest, bytes);
    return signed_layer(digest, bytes.size(), signature_base64);
  }
  // cosign sign --key (1.x, 2.x): a payload naming `named`, signed by `s`.
  json signed_payload(const Signer& s, const std::string& named) {
    const std::string bytes = simple_signing_payload(named).dump();
    return payload(bytes, base64(s.sign(bytes)));
  }
  // The manifest at sha256-<hex>.sig for `subject`.
  void signatures(const std::string& subject, json layers) {
    put(DocumentKind::manifest, pp::trust::digest_tag(subject) + ".sig",
        signature_manifest(std::move(layers)).dump());
  }

  // A bundle blob and its referrer manifest of `subject`; the referrer's index entry.
  json bundle(const std::string& subject, const json& bundle) {
    const std::string text = bundle.dump();
    const std::string blob = digest_of(text);
    put(DocumentKind::blob, blob, text);
    const std::string manifest =
        bundle_manifest({descriptor(bundle_type, blob, text.size())}, subject).dump();
    put(DocumentKind::manifest, digest_of(manifest), manifest);
    return referrer(digest_of(manifest), manifest.size(), bundle_type);
  }
  // cosign attest --key: a DSSE bundle for `subject` by `s`.
  json signed_bundle(const Signer& s, const std::string& subject) {
    return bundle(subject, dsse_bundle(s, {subject}));
  }
  void referrers(const std::string& subject, json manifests) {
    put(DocumentKind::referrers, subject, referrers_index(std::move(manifests)).dump());
  }
  void fallback(const std::string& subject, json manifests) {
    put(DocumentKind::manifest, pp::trust::digest_tag(subject),
        referrers_index(std::move(manifests)).dump());
  }

  // search_signatures for `digests` with the trusted key; what `done` was called with, which
  // must be once.
  pp::Expected<Verdict> search(std::vector<std::string> digests = {module_digest}) {
    struct Calls {
      std::promise<pp::Expected<Verdict>> result;
      std::atomic<int> count{0};
    };
    // Shared with the callback, which outlives this call if the deadline passes.
    auto calls = std::make_shared<Calls>();
    const pp::oci::Reference ref{"registry.test", repo, "v1", ""};
    pp::trust::search_signatures(registry, ref, std::move(digests), {trusted_signer().key},
                                 [calls](pp::Expected<Verdict> v) {
                                   if (calls->count++ == 0) calls->result.set_value(std::move(v));
                                 });
    auto future = calls->result.get_future();
    BOOST_REQUIRE(future.wait_for(std::chrono::seconds(20)) == std::future_status::ready);
    // Whatever the search would still do runs on the I/O thread before this task.
    std::promise<void> drained;
    io_.post([&drained] { drained.set_value(); });
    BOOST_REQUIRE(drained.get_future().wait_for(std::chrono::seconds(20)) ==
                  std::future_status::ready);
    BOOST_TEST(calls->count.load() == 1);
    return future.get();
  }

 private:
  pp::oci::HttpIo io_;

 public:
  FakeRegistry registry{io_};
};

// ---- outcomes over the layouts ----

struct SearchCase {
  const char* name;
  std::function<void(Repository&)> publish;
  std::vector<std::string> digests;
  std::optional<Verdict::Result> result;  // nullopt: the search ends with `error`
  const char* format;                     // verified: "simplesigning" or "bundle"
  std::vector<std::string> says;          // parts of the reason, or of the error's message
  const char* error = "";
};

std::ostream& operator<<(std::ostream& os, const SearchCase& c) {
  return os << c.name;
}

const Error unavailable{pp::errc::registry_unavailable, "connection refused"};
const Error unauthorized{pp::errc::unauthorized, "HTTP 401"};

const SearchCase search_cases[] = {
    {"simple signing at sha256-<hex>.sig",
     [](Repository& r) {
       r.signatures(module_digest, {r.signed_payload(trusted_signer(), module_digest)});
     },
     {module_digest},
     Verdict::Result::verified,
     "simplesigning",
     {}},
    {"bundle through the referrers API",
     [](Repository& r) {
       r.referrers(module_digest, {r.signed_bundle(trusted_signer(), module_digest)});
     },
     {module_digest},
     Verdict::Result::verified,
     "bundle",
     {}},
    {"bundle at the fallback tag sha256-<hex> (no referrers API)",
     [](Repository& r) {
       r.fallback(module_digest, {r.signed_bundle(trusted_signer(), module_digest)});
     },
     {module_digest},
     Verdict::Result::verified,
     "bundle",
     {}},
    {"the referrers API lists no bundle: the fallback tag",
     [](Repository& r) {
       r.referrers(module_digest,
                   {referrer(other_digest, 10, std::string("application/spdx+json"))});
       r.fallback(module_digest, {r.signed_bundle(trusted_signer(), module_digest)});
     },
     {module_digest},
     Verdict::Result::verified,
     "bundle",
     {}},
    {"the referrers answer is not an index: the fallback tag",
     [](Repository& r) {
       r.put(DocumentKind::referrers, module_digest, "<html>");
       r.fallback(module_digest, {r.signed_bundle(trusted_signer(), module_digest)});
     },
     {module_digest},
     Verdict::Result::verified,
     "bundle",
     {}},
    // Credentials scoped to the manifests but not the referrers API: the fallback tag still says.
    {"the referrers API refuses (401): the fallback tag",
     [](Repository& r) {
       r.fail(DocumentKind::referrers, module_digest, unauthorized);
       r.fallback(module_digest, {r.signed_bundle(trusted_signer(), module_digest)});
     },
     {module_digest},
     Verdict::Result::verified,
     "bundle",
     {}},
    {"the index's digest is signed, not the manifest's",
     [](Repository& r) {
       r.signatures(index_digest, {r.signed_payload(trusted_signer(), index_digest)});
     },
     {module_digest, index_digest},
     Verdict::Result::verified,
     "simplesigning",
     {}},
    {"the index's bundle",
     [](Repository& r) {
       r.referrers(index_digest, {r.signed_bundle(trusted_signer(), index_digest)});
     },
     {module_digest, index_digest},
     Verdict::Result::verified,
     "bundle",
     {}},
    {"nothing at all (every answer a 404)",
     [](Repository&) {},
     {module_digest, index_digest},
     Verdict::Result::unsigned_module,
     "",
     {"no signature found"}},
    {"an empty signature manifest and an empty referrers index",
     [](Repository& r) {
       r.signatures(module_digest, json::array());
       r.referrers(module_digest, json::array());
       r.fallback(module_digest, json::array());
     },
     {module_digest},
     Verdict::Result::unsigned_module,
     "",
     {"no signature found"}},
    {"only a keyless bundle",
     [](Repository& r) {
       r.referrers(
           module_digest,
           {r.bundle(module_digest, dsse_bundle(other_signer(), {module_digest},
                                                certificate_material(other_signer().pkey.get())))});
     },
     {module_digest},
     Verdict::Result::unsigned_module,
     "",
     {"1 keyless bundle"}},
    {"signed by another key",
     [](Repository& r) {
       r.signatures(module_digest, {r.signed_payload(other_signer(), module_digest)});
       r.referrers(module_digest, {r.signed_bundle(other_signer(), module_digest)});
     },
     {module_digest},
     Verdict::Result::invalid,
     "",
     {"2 signatures", "2 by other keys"}},
    {"signed for another module",
     [](Repository& r) {
       r.signatures(module_digest, {r.signed_payload(trusted_signer(), other_digest)});
     },
     {module_digest},
     Verdict::Result::invalid,
     "",
     {"1 for another module (" + other_digest + ")"}},
    {"a payload listed but absent",
     [](Repository& r) { r.signatures(module_digest, {signed_layer(other_digest, 10, "c2ln")}); },
     {module_digest},
     Verdict::Result::invalid,
     "",
     {"1 malformed", "404"}},
    {"a payload over 64 KiB is a malformed finding",
     [](Repository& r) {
       r.signatures(
           module_digest,
           {r.payload(std::string(pp::trust::max_signature_artifact_size + 1, ' '), "c2ln")});
     },
     {module_digest},
     Verdict::Result::invalid,
     "",
     {"1 malformed (", "is larger"}},
    {"a payload over 64 KiB does not end the search",
     [](Repository& r) {
       r.signatures(
           module_digest,
           {r.payload(std::string(pp::trust::max_signature_artifact_size + 1, ' '), "c2ln")});
       r.referrers(module_digest, {r.signed_bundle(trusted_signer(), module_digest)});
     },
     {module_digest},
     Verdict::Result::verified,
     "bundle",
     {}},
    {"a signature manifest that is not one, then a bundle",
     [](Repository& r) {
       r.put(DocumentKind::manifest, pp::trust::digest_tag(module_digest) + ".sig", "{}");
       r.referrers(module_digest, {r.signed_bundle(trusted_signer(), module_digest)});
     },
     {module_digest},
     Verdict::Result::verified,
     "bundle",
     {}},
    {"a bundle manifest for another subject",
     [](Repository& r) {
       json entry = r.signed_bundle(trusted_signer(), other_digest);
       r.referrers(module_digest, {entry});
     },
     {module_digest},
     Verdict::Result::invalid,
     "",
     {"1 malformed", "subject is " + other_digest.substr(0, 20)}},
    {"registry unavailable at the .sig manifest",
     [](Repository& r) {
       r.fail(DocumentKind::manifest, pp::trust::digest_tag(module_digest) + ".sig", unavailable);
       r.referrers(module_digest, {r.signed_bundle(trusted_signer(), module_digest)});
     },
     {module_digest},
     std::nullopt,
     "",
     {"looking for signatures", "connection refused"},
     pp::errc::registry_unavailable},
    {"401 at the .sig manifest",
     [](Repository& r) {
       r.fail(DocumentKind::manifest, pp::trust::digest_tag(module_digest) + ".sig", unauthorized);
     },
     {module_digest},
     std::nullopt,
     "",
     {"looking for signatures", "HTTP 401"},
     pp::errc::unauthorized},
    {"registry unavailable at the referrers API",
     [](Repository& r) {
       r.fail(DocumentKind::referrers, module_digest, unavailable);
       r.fallback(module_digest, {r.signed_bundle(trusted_signer(), module_digest)});
     },
     {module_digest},
     std::nullopt,
     "",
     {"looking for signatures"},
     pp::errc::registry_unavailable},
    {"403 at a payload blob",
     [](Repository& r) {
       const std::string bytes = simple_signing_payload(module_digest).dump();
       r.signatures(module_digest, {r.payload(bytes, base64(trusted_signer().sign(bytes)))});
       r.fail(DocumentKind::blob, digest_of(bytes), {pp::errc::forbidden, "HTTP 403"});
     },
     {module_digest},
     std::nullopt,
     "",
     {"HTTP 403"},
     pp::errc::forbidden},
};

}  // namespace

BOOST_DATA_TEST_CASE(search_outcomes, bdata::make(search_cases), c) {
  Repository r;
  c.publish(r);
  const auto outcome = r.search(c.digests);
  if (!c.result) {
    BOOST_REQUIRE(!outcome.ok());
    BOOST_TEST(outcome.error().code == c.error);
    for (const std::string& part : c.says) {
      BOOST_TEST(has(outcome.error().message, part), outcome.error().message);
    }
    return;
  }
  BOOST_REQUIRE_MESSAGE(outcome.ok(), (outcome.ok() ? "" : outcome.error().message));
  BOOST_TEST(outcome->result == *c.result);
  BOOST_TEST(outcome->format == c.format);
  if (*c.result == Verdict::Result::verified) {
    BOOST_TEST(outcome->key_id == trusted_signer().key.id());
  }
  for (const std::string& part : c.says) {
    BOOST_TEST(has(outcome->reason, part), outcome->reason);
  }
}

// ---- how much is read ----

BOOST_AUTO_TEST_CASE(at_most_16_artifacts_are_examined) {
  Repository r;
  json layers = json::array();
  for (int i = 0; i < 20; ++i) {
    layers.push_back(r.signed_payload(other_signer(), module_digest));
  }
  r.signatures(module_digest, layers);
  const auto outcome = r.search();
  BOOST_REQUIRE(outcome.ok());
  BOOST_TEST(outcome->result == Verdict::Result::invalid);
  BOOST_TEST(has(outcome->reason, "16 signatures"), outcome->reason);
  BOOST_TEST(has(outcome->reason, "4 more not examined (16 at most)"), outcome->reason);
  // The .sig manifest, 16 payloads, the referrers API and the fallback tag.
  BOOST_TEST(r.registry.document_gets(repo) == 19u);
}

BOOST_AUTO_TEST_CASE(the_limit_spans_both_layouts) {
  Repository r;
  json layers = json::array(), bundles = json::array();
  for (int i = 0; i < 10; ++i) {
    layers.push_back(r.signed_payload(other_signer(), module_digest));
    bundles.push_back(r.bundle(module_digest, message_bundle(other_signer(), std::to_string(i))));
  }
  r.signatures(module_digest, layers);
  r.referrers(module_digest, bundles);
  const auto outcome = r.search();
  BOOST_REQUIRE(outcome.ok());
  BOOST_TEST(outcome->result == Verdict::Result::invalid);
  BOOST_TEST(has(outcome->reason, "16 signatures"), outcome->reason);
  BOOST_TEST(has(outcome->reason, "4 more not examined"), outcome->reason);
}

// Payloads are examined last first; the first verified one ends the search, so what comes after
// it would fail the search if it were asked for.
BOOST_AUTO_TEST_CASE(the_first_verified_signature_ends_the_search) {
  Repository r;
  r.signatures(module_digest, {r.signed_payload(other_signer(), module_digest),
                               r.signed_payload(trusted_signer(), module_digest)});
  r.fail(DocumentKind::referrers, module_digest, unavailable);
  const auto outcome = r.search({module_digest, index_digest});
  BOOST_REQUIRE(outcome.ok());
  BOOST_TEST(outcome->result == Verdict::Result::verified);
  BOOST_TEST(outcome->format == "simplesigning");
  // The .sig manifest and one payload.
  BOOST_TEST(r.registry.document_gets(repo) == 2u);
}

BOOST_AUTO_TEST_CASE(the_first_verified_bundle_ends_the_search) {
  Repository r;
  r.referrers(module_digest, {r.signed_bundle(other_signer(), module_digest),
                              r.signed_bundle(trusted_signer(), module_digest)});
  r.fail(DocumentKind::manifest, pp::trust::digest_tag(index_digest) + ".sig", unavailable);
  const auto outcome = r.search({module_digest, index_digest});
  BOOST_REQUIRE(outcome.ok());
  BOOST_TEST(outcome->result == Verdict::Result::verified);
  BOOST_TEST(outcome->format == "bundle");
  // The .sig manifest (404), the referrers API, one bundle manifest and its bundle.
  BOOST_TEST(r.registry.document_gets(repo) == 4u);
}

// An SBOM's manifest costs a request, but is not a signature and not counted against the limit.
BOOST_AUTO_TEST_CASE(referrers_that_are_not_bundles_are_not_counted) {
  Repository r;
  json entries = json::array();
  json not_a_bundle =
      bundle_manifest({descriptor("application/spdx+json", other_digest)}, module_digest);
  not_a_bundle["artifactType"] = "application/spdx+json";
  const std::string body = not_a_bundle.dump();
  r.put(DocumentKind::manifest, digest_of(body), body);
  // Listed without an artifactType, so only its manifest says what it is.
  for (int i = 0; i < 20; ++i)
    entries.push_back(referrer(digest_of(body), body.size(), {}));
  entries.insert(entries.begin(), r.signed_bundle(trusted_signer(), module_digest));
  r.referrers(module_digest, entries);
  const auto outcome = r.search();
  BOOST_REQUIRE(outcome.ok());
  BOOST_TEST(outcome->result == Verdict::Result::verified, outcome->reason);
}
