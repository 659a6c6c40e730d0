// libFuzzer target: what a module's repository serves as its signatures (signature_check.hpp),
// through the parsers and checks that read it. The first input byte picks the parser ('0'..'6';
// any other byte wraps around), the rest is the artifact:
//   '0' a simple-signing payload with its signature: "<annotation's base64>\n<payload bytes>"
//   '1' a simple-signing payload, signed here with the trusted key, so the payload's parser is
//       reached past the signature
//   '2' a Sigstore bundle, checked as is
//   '3' an in-toto statement, put in a DSSE bundle signed here with the trusted key (the same
//       reason as '1')
//   '4' the manifest at sha256-<hex>.sig (simple_signing_layers)
//   '5' a referrers answer or fallback index (bundle_referrers)
//   '6' a referrer manifest of module_digest (bundle_layer)
// The trusted key is made at start-up, so the fuzzer cannot know it: an artifact it signs is never
// verified unless the harness signed it.
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "nodes/clients/oci/digest.hpp"
#include "nodes/trust/dsse.hpp"
#include "nodes/trust/public_key.hpp"
#include "nodes/trust/signature_check.hpp"
#include "nodes/trust/simple_signing.hpp"
#include "tests/unit/openssl_write.hpp"

namespace {

using pp::test::base64;
using pp::trust::Finding;
using Kind = Finding::Kind;

void check(bool condition) {
  if (!condition) __builtin_trap();
}

const std::string module_digest = "sha256:" + std::string(64, 'a');
const std::string index_digest = "sha256:" + std::string(64, 'c');
const std::array<std::string, 2> digests = {module_digest, index_digest};

struct Trusted {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey{nullptr, &EVP_PKEY_free};
  std::vector<pp::trust::PublicKey> keys;
};

const Trusted& trusted() {
  static const Trusted t = [] {
    Trusted made;
    made.pkey.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    check(made.pkey != nullptr);
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
    check(bio && PEM_write_bio_PUBKEY(bio.get(), made.pkey.get()) == 1);
    char* pem_data = nullptr;
    const long pem_size = BIO_get_mem_data(bio.get(), &pem_data);
    const std::string pem(pem_data, static_cast<std::size_t>(pem_size));
    auto key = pp::trust::PublicKey::from_pem(pem);
    check(key.ok());
    made.keys.push_back(std::move(key).value());
    return made;
  }();
  return t;
}

std::string sign(std::string_view message) {
  auto sig = pp::test::signature_of(trusted().pkey.get(), EVP_sha256(), message);
  check(sig.has_value());
  return std::move(*sig);
}

bool listed(const std::string& digest) {
  return std::find(digests.begin(), digests.end(), digest) != digests.end();
}

void check_finding(const Finding& f, std::string_view format) {
  check(f.format == format);
  const bool signer_named = f.kind == Kind::verified || f.kind == Kind::other_digest;
  check(signer_named == !f.key_id.empty());
  if (signer_named) check(f.key_id == trusted().keys.front().id());
  if (f.kind == Kind::other_digest) check(!listed(f.detail));
}

// What a payload signed by the trusted key proves is what its parser reads in it.
void signed_payload(std::string_view payload) {
  const Finding f =
      pp::trust::check_simple_signing(payload, base64(sign(payload)), trusted().keys, digests);
  check_finding(f, "simplesigning");
  const auto claim = pp::trust::parse_simple_signing(payload);
  if (payload.size() > pp::trust::max_signature_artifact_size || !claim) {
    check(f.kind == Kind::malformed);
    return;
  }
  check(f.kind == (listed(claim->manifest_digest) ? Kind::verified : Kind::other_digest));
}

// The same for an in-toto statement in a DSSE bundle signed by the trusted key.
void signed_statement(std::string_view statement) {
  const std::string type(pp::trust::in_toto_payload_type);
  const nlohmann::json bundle = {
      {"mediaType", pp::trust::bundle_media_type},
      {"verificationMaterial", {{"publicKey", {{"hint", ""}}}}},
      {"dsseEnvelope",
       {{"payload", base64(statement)},
        {"payloadType", type},
        {"signatures", {{{"sig", base64(sign(pp::trust::dsse_pae(type, statement)))}}}}}}};
  const std::string text = bundle.dump();
  const Finding f = pp::trust::check_bundle(text, trusted().keys, digests);
  check_finding(f, "bundle");
  const auto subjects = pp::trust::in_toto_subject_digests(statement);
  if (text.size() > pp::trust::max_signature_artifact_size || !subjects) {
    check(f.kind == Kind::malformed);
    return;
  }
  const bool named = std::any_of(subjects->begin(), subjects->end(), listed);
  check(f.kind == (named ? Kind::verified : Kind::other_digest));
}

void check_descriptor(const pp::oci::Descriptor& d) {
  check(pp::oci::is_digest(d.digest));
}

template <typename T>
void check_refusal(const pp::Expected<T>& parsed) {
  if (!parsed) check(parsed.error().code == pp::errc::signature_invalid);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (static_cast<unsigned char>(data[0] - '0') % 7) {
    case 0: {
      const std::size_t newline = std::min(body.find('\n'), body.size());
      const std::string_view payload = body.substr(std::min(newline + 1, body.size()));
      const Finding f = pp::trust::check_simple_signing(payload, body.substr(0, newline),
                                                        trusted().keys, digests);
      check_finding(f, "simplesigning");
      check(f.kind == Kind::other_key || f.kind == Kind::malformed);
      break;
    }
    case 1:
      signed_payload(body);
      break;
    case 2: {
      const Finding f = pp::trust::check_bundle(body, trusted().keys, digests);
      check_finding(f, "bundle");
      check(f.kind != Kind::verified && f.kind != Kind::other_digest);
      break;
    }
    case 3:
      signed_statement(body);
      break;
    case 4: {
      const auto layers = pp::trust::simple_signing_layers(body);
      check_refusal(layers);
      if (layers) {
        for (const auto& layer : *layers) {
          check(layer.payload.media_type == pp::trust::simple_signing_media_type);
          check_descriptor(layer.payload);
        }
      }
      break;
    }
    case 5: {
      const auto bundles = pp::trust::bundle_referrers(body);
      check_refusal(bundles);
      if (bundles) std::for_each(bundles->begin(), bundles->end(), check_descriptor);
      break;
    }
    default: {
      const auto layer = pp::trust::bundle_layer(body, module_digest);
      check_refusal(layer);
      if (layer && *layer) {
        check((*layer)->media_type == pp::trust::bundle_media_type);
        check_descriptor(**layer);
      }
      break;
    }
  }
  return 0;
}
