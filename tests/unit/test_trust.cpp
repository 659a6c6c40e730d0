#define BOOST_TEST_MODULE trust
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "nodes/clients/oci/digest.hpp"
#include "nodes/common/error.hpp"
#include "nodes/trust/dsse.hpp"
#include "nodes/trust/public_key.hpp"
#include "nodes/trust/simple_signing.hpp"
#include "tests/unit/test_keys.hpp"

namespace bdata = boost::unit_test::data;
using nlohmann::json;
using pp::trust::PublicKey;
using namespace pp::test;

namespace {

// ---- OpenSSL helpers: keys are made here, so no key material is checked in ----

// A self-signed certificate for `k`: a PEM that holds the key, but not as a PUBLIC KEY block.
std::string certificate_pem(EVP_PKEY* k) {
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), &X509_free);
  BOOST_REQUIRE(cert);
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_set_pubkey(cert.get(), k);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("test"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  BOOST_REQUIRE(X509_sign(cert.get(), k, EVP_sha256()) > 0);
  Bio bio(BIO_new(BIO_s_mem()), &BIO_free);
  BOOST_REQUIRE(PEM_write_bio_X509(bio.get(), cert.get()) == 1);
  return bio_text(bio.get());
}

// `md` nullptr for Ed25519; `pss` for an RSA-PSS signature.
std::string sign(EVP_PKEY* k, const EVP_MD* md, std::string_view message, bool pss = false) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EVP_PKEY_CTX* pctx = nullptr;
  BOOST_REQUIRE(EVP_DigestSignInit(ctx.get(), &pctx, md, nullptr, k) == 1);
  if (pss) BOOST_REQUIRE(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1);
  std::size_t len = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(message.data());
  BOOST_REQUIRE(EVP_DigestSign(ctx.get(), nullptr, &len, in, message.size()) == 1);
  std::string sig(len, '\0');
  BOOST_REQUIRE(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, in,
                               message.size()) == 1);
  sig.resize(len);
  return sig;
}

bool is_hex16(const std::string& s) {
  if (s.size() != 16) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// ---- keys and signatures ----

struct KeyCase {
  const char* name;
  const char* keygen;
  std::function<const EVP_MD*()> md;  // what the signer hashes with; nullptr for Ed25519
  const char* algorithm;
};

std::ostream& operator<<(std::ostream& os, const KeyCase& c) {
  return os << c.name;
}

const KeyCase key_cases[] = {
    {"ecdsa p-256 sha-256", "P-256", [] { return EVP_sha256(); }, "ecdsa-p256"},
    {"ecdsa p-384 sha-384", "P-384", [] { return EVP_sha384(); }, "ecdsa-p384"},
    // What `cosign sign --key` produces for a P-384 key: cosign hashes with SHA-256 for every key.
    {"ecdsa p-384 sha-256 (cosign)", "P-384", [] { return EVP_sha256(); }, "ecdsa-p384"},
    {"rsa 2048 pkcs1 sha-256", "RSA2048", [] { return EVP_sha256(); }, "rsa-2048"},
    {"ed25519", "ED25519", [] { return static_cast<const EVP_MD*>(nullptr); }, "ed25519"},
};

}  // namespace

BOOST_DATA_TEST_CASE(verify_accepts_only_the_right_message_key_and_signature,
                     bdata::make(key_cases), c) {
  const Pkey a = keygen(c.keygen);
  const Pkey b = keygen(c.keygen);
  const PublicKey key = load_public(a.get());
  const PublicKey other = load_public(b.get());
  BOOST_TEST(key.algorithm() == c.algorithm);

  // The id: 16 hex digits, the same for the same key however loaded, another for another key.
  BOOST_TEST(is_hex16(key.id()));
  BOOST_TEST(load_public(a.get()).id() == key.id());
  BOOST_TEST(other.id() != key.id());

  const std::string message = R"({"critical":{"type":"cosign container image signature"}})";
  const std::string sig = sign(a.get(), c.md(), message);
  BOOST_TEST(key.verify(message, sig));
  BOOST_TEST(!key.verify(message + " ", sig));  // another message
  BOOST_TEST(!key.verify("", sig));
  BOOST_TEST(!other.verify(message, sig));                          // another key of the same type
  BOOST_TEST(!key.verify(message, ""));                             // empty signature
  BOOST_TEST(!key.verify(message, sig.substr(0, sig.size() - 1)));  // truncated
  BOOST_TEST(!key.verify(message, sig.substr(0, sig.size() / 2)));
  BOOST_TEST(!key.verify(message, sig + '\0'));  // trailing garbage
  std::string flipped = sig;
  flipped[flipped.size() / 2] = static_cast<char>(flipped[flipped.size() / 2] ^ 0x01);
  BOOST_TEST(!key.verify(message, flipped));
  BOOST_TEST(!key.verify(message, std::string(sig.size(), '\x30')));  // garbage of the same size
  BOOST_TEST(!key.verify(message, "not a signature at all"));
  // A copy shares the key and verifies the same.
  const PublicKey copy = key;
  BOOST_TEST(copy.verify(message, sig));
}

BOOST_AUTO_TEST_CASE(the_hash_is_the_algorithms_not_the_signers) {
  const std::string message = "payload";
  // P-256 is SHA-256 only.
  const Pkey p256 = keygen("P-256");
  BOOST_TEST(!load_public(p256.get()).verify(message, sign(p256.get(), EVP_sha384(), message)));
  BOOST_TEST(!load_public(p256.get()).verify(message, sign(p256.get(), EVP_sha512(), message)));
  // RSA is PKCS#1 v1.5 with SHA-256: no PSS, no other hash.
  const Pkey rsa = keygen("RSA2048");
  const PublicKey rsa_key = load_public(rsa.get());
  BOOST_TEST(!rsa_key.verify(message, sign(rsa.get(), EVP_sha256(), message, /*pss=*/true)));
  BOOST_TEST(!rsa_key.verify(message, sign(rsa.get(), EVP_sha512(), message)));
  // P-384 takes SHA-384 or SHA-256, nothing else.
  const Pkey p384 = keygen("P-384");
  BOOST_TEST(!load_public(p384.get()).verify(message, sign(p384.get(), EVP_sha512(), message)));
}

BOOST_AUTO_TEST_CASE(algorithm_names_rsa_bits) {
  Pkey k(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{3072}), &EVP_PKEY_free);
  BOOST_REQUIRE(k);
  BOOST_TEST(load_public(k.get()).algorithm() == "rsa-3072");
}

namespace {

struct Refusal {
  const char* name;
  std::function<std::string()> pem;
  const char* says;
};

std::ostream& operator<<(std::ostream& os, const Refusal& r) {
  return os << r.name;
}

const Refusal refusals[] = {
    {"empty", [] { return std::string(); }, "not a PEM public key"},
    {"garbage", [] { return std::string("hello, I am a key"); }, "not a PEM public key"},
    {"garbage in a PUBLIC KEY block",
     [] { return std::string("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"); },
     "does not parse"},
    {"oversize", [] { return std::string(100 * 1024, 'A'); }, "far more than a key"},
    {"private key", [] { return private_pem(keygen("P-256").get()); }, "PRIVATE KEY block"},
    {"certificate", [] { return certificate_pem(keygen("P-256").get()); }, "CERTIFICATE block"},
    {"ec secp256k1", [] { return public_pem(keygen("secp256k1").get()); }, "secp256k1"},
    {"rsa 1024", [] { return public_pem(keygen("RSA1024").get()); }, "1024 bits"},
    {"x25519 (not a signing key)",
     [] {
       Pkey k(EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519"), &EVP_PKEY_free);
       return public_pem(k.get());
     },
     "unsupported algorithm"},
};

}  // namespace

BOOST_DATA_TEST_CASE(from_pem_refuses, bdata::make(refusals), r) {
  const auto key = PublicKey::from_pem(r.pem());
  BOOST_REQUIRE(!key.ok());
  BOOST_TEST(key.error().code == pp::errc::proxy_error);
  BOOST_TEST(key.error().message.find(r.says) != std::string::npos, key.error().message);
}

BOOST_AUTO_TEST_CASE(load_names_the_file_and_what_is_wrong) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("pp-test-trust-" + std::to_string(static_cast<long>(::getpid())));
  std::filesystem::create_directories(dir);
  const auto write = [&](const char* name, const std::string& text) {
    const auto path = (dir / name).string();
    std::ofstream(path, std::ios::binary) << text;
    return path;
  };
  const Pkey k = keygen("ED25519");
  const std::string good = write("cosign.pub", public_pem(k.get()));
  const auto loaded = PublicKey::load(good);
  BOOST_REQUIRE(loaded.ok());
  BOOST_TEST(loaded->id() == load_public(k.get()).id());

  const std::string missing = (dir / "absent.pub").string();
  const auto absent = PublicKey::load(missing);
  BOOST_REQUIRE(!absent.ok());
  BOOST_TEST(absent.error().message.find(missing) != std::string::npos);
  BOOST_TEST(absent.error().message.find("unreadable") != std::string::npos);

  const std::string bad = write("bad.pub", private_pem(k.get()));
  const auto refused = PublicKey::load(bad);
  BOOST_REQUIRE(!refused.ok());
  BOOST_TEST(refused.error().message.find(bad) != std::string::npos);
  BOOST_TEST(refused.error().message.find("not a PEM public key") != std::string::npos);

  const std::string big = write("big.pub", std::string(100 * 1024, 'A'));
  const auto oversize = PublicKey::load(big);
  BOOST_REQUIRE(!oversize.ok());
  BOOST_TEST(oversize.error().message.find(big) != std::string::npos);
  std::filesystem::remove_all(dir);
}

// ---- the simple signing payload ----

namespace {

const std::string good_digest = "sha256:" + std::string(64, 'a');

json simple_signing(const std::string& digest = good_digest) {
  return {{"critical",
           {{"identity", {{"docker-reference", "ghcr.io/acme/app"}}},
            {"image", {{"docker-manifest-digest", digest}}},
            {"type", "cosign container image signature"}}},
          {"optional", nullptr}};
}

struct PayloadCase {
  const char* name;
  std::function<std::string()> payload;
  bool ok;
};

std::ostream& operator<<(std::ostream& os, const PayloadCase& c) {
  return os << c.name;
}

std::string without(const json::json_pointer& at) {
  json j = simple_signing();
  j[at.parent_pointer()].erase(at.back());
  return j.dump();
}

std::string with(const json::json_pointer& at, json value) {
  json j = simple_signing();
  j[at] = std::move(value);
  return j.dump();
}

const PayloadCase payload_cases[] = {
    {"valid", [] { return simple_signing().dump(); }, true},
    {"valid, sha512", [] { return simple_signing("sha512:" + std::string(128, '0')).dump(); },
     true},
    {"valid, optional annotations",
     [] {
       return with("/optional"_json_pointer, {{"creator", "ci"}});
     },
     true},
    {"valid, no optional", [] { return without("/optional"_json_pointer); }, true},
    {"not json", [] { return std::string("{\"critical\":"); }, false},
    {"not an object", [] { return std::string("[1,2]"); }, false},
    {"empty", [] { return std::string(); }, false},
    {"no critical", [] { return without("/critical"_json_pointer); }, false},
    {"critical not an object", [] { return with("/critical"_json_pointer, "x"); }, false},
    {"no identity", [] { return without("/critical/identity"_json_pointer); }, false},
    {"no docker-reference",
     [] { return without("/critical/identity/docker-reference"_json_pointer); }, false},
    {"docker-reference not a string",
     [] { return with("/critical/identity/docker-reference"_json_pointer, 7); }, false},
    {"no image", [] { return without("/critical/image"_json_pointer); }, false},
    {"no digest", [] { return without("/critical/image/docker-manifest-digest"_json_pointer); },
     false},
    {"digest not a string",
     [] { return with("/critical/image/docker-manifest-digest"_json_pointer, json::array()); },
     false},
    {"no type", [] { return without("/critical/type"_json_pointer); }, false},
    {"type not a string", [] { return with("/critical/type"_json_pointer, true); }, false},
    {"wrong type", [] { return with("/critical/type"_json_pointer, "atomic container signature"); },
     false},
    {"digest uppercase", [] { return simple_signing("sha256:" + std::string(64, 'A')).dump(); },
     false},
    {"digest short", [] { return simple_signing("sha256:" + std::string(63, 'a')).dump(); }, false},
    {"digest without algorithm", [] { return simple_signing(std::string(64, 'a')).dump(); }, false},
    {"digest md5", [] { return simple_signing("md5:" + std::string(32, 'a')).dump(); }, false},
    {"optional a string", [] { return with("/optional"_json_pointer, "x"); }, false},
    {"oversize",
     [] {
       return with("/optional"_json_pointer,
                   {{"pad", std::string(pp::trust::max_simple_signing_size, 'x')}});
     },
     false},
};

}  // namespace

BOOST_DATA_TEST_CASE(simple_signing_payloads, bdata::make(payload_cases), c) {
  const auto parsed = pp::trust::parse_simple_signing(c.payload());
  BOOST_TEST(parsed.ok() == c.ok);
  if (parsed.ok()) {
    BOOST_TEST(parsed->docker_reference == "ghcr.io/acme/app");
    BOOST_TEST(pp::oci::is_digest(parsed->manifest_digest));
  } else {
    BOOST_TEST(parsed.error().code == pp::errc::signature_invalid);
  }
}

BOOST_AUTO_TEST_CASE(simple_signing_returns_the_fields) {
  const auto parsed = pp::trust::parse_simple_signing(simple_signing().dump());
  BOOST_REQUIRE(parsed.ok());
  BOOST_TEST(parsed->docker_reference == "ghcr.io/acme/app");
  BOOST_TEST(parsed->manifest_digest == good_digest);
}

// ---- DSSE ----

BOOST_AUTO_TEST_CASE(dsse_pae_vectors) {
  // The DSSE spec's own vector (protocol.md, "Test Vectors").
  BOOST_TEST(pp::trust::dsse_pae("http://example.com/HelloWorld", "hello world") ==
             "DSSEv1 29 http://example.com/HelloWorld 11 hello world");
  // Empty parts still have their lengths and separators.
  BOOST_TEST(pp::trust::dsse_pae("", "") == "DSSEv1 0  0 ");
  // Lengths are bytes, not characters; the payload is bytes (NUL included), taken as is.
  const std::string payload("a\0b", 3);
  BOOST_TEST(pp::trust::dsse_pae("t\xc3\xa9", payload) ==
             std::string("DSSEv1 3 t\xc3\xa9 3 a\0b", 18));
  const std::string big(1234, 'x');
  BOOST_TEST(pp::trust::dsse_pae(pp::trust::in_toto_payload_type, big) ==
             "DSSEv1 28 application/vnd.in-toto+json 1234 " + big);
}

BOOST_AUTO_TEST_CASE(dsse_pae_signed_and_verified) {
  // What a DSSE verifier does with these pieces: the signature is over PAE, not the payload.
  const Pkey k = keygen("P-256");
  const PublicKey key = load_public(k.get());
  const std::string statement = R"({"_type":"https://in-toto.io/Statement/v1"})";
  const std::string pae = pp::trust::dsse_pae(pp::trust::in_toto_payload_type, statement);
  const std::string sig = sign(k.get(), EVP_sha256(), pae);
  BOOST_TEST(key.verify(pae, sig));
  BOOST_TEST(!key.verify(statement, sig));
  BOOST_TEST(!key.verify(pp::trust::dsse_pae("application/json", statement), sig));
}

namespace {

// The spec's example envelope (protocol.md).
json spec_envelope() {
  return json::parse(R"({"payload": "aGVsbG8gd29ybGQ=",
 "payloadType": "http://example.com/HelloWorld",
 "signatures": [{"sig": "A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHqJPcIAriEGAHTVeCUjW2JIZA=="}]})");
}

struct EnvelopeCase {
  const char* name;
  std::function<json()> envelope;
  bool ok;
};

std::ostream& operator<<(std::ostream& os, const EnvelopeCase& c) {
  return os << c.name;
}

json envelope_with(const char* key, json value) {
  json j = spec_envelope();
  j[key] = std::move(value);
  return j;
}

json envelope_without(const char* key) {
  json j = spec_envelope();
  j.erase(key);
  return j;
}

json envelope_signatures(json signatures) {
  return envelope_with("signatures", std::move(signatures));
}

const EnvelopeCase envelope_cases[] = {
    {"the spec's envelope", [] { return spec_envelope(); }, true},
    {"keyid",
     [] {
       return envelope_signatures({{{"sig", "AQID"}, {"keyid", "k1"}}});
     },
     true},
    {"empty keyid",
     [] {
       return envelope_signatures({{{"sig", "AQID"}, {"keyid", ""}}});
     },
     true},
    {"url-safe, unpadded base64",
     [] {
       return envelope_signatures({{{"sig", "-_8"}}});
     },
     true},
    {"two signatures",
     [] {
       return envelope_signatures({{{"sig", "AQID"}}, {{"sig", "BAUG"}}});
     },
     true},
    {"empty payload", [] { return envelope_with("payload", ""); }, true},
    {"not an object", [] { return json::array(); }, false},
    {"no payload", [] { return envelope_without("payload"); }, false},
    {"payload not a string", [] { return envelope_with("payload", 1); }, false},
    {"payload not base64", [] { return envelope_with("payload", "aGVsbG8gd29ybGQ!"); }, false},
    {"payload mixed alphabets", [] { return envelope_with("payload", "+-AA"); }, false},
    {"payload with whitespace", [] { return envelope_with("payload", "aGVs bG8="); }, false},
    {"no payloadType", [] { return envelope_without("payloadType"); }, false},
    {"empty payloadType", [] { return envelope_with("payloadType", ""); }, false},
    {"payloadType not a string", [] { return envelope_with("payloadType", json::object()); },
     false},
    {"no signatures", [] { return envelope_without("signatures"); }, false},
    {"signatures empty", [] { return envelope_signatures(json::array()); }, false},
    {"signatures an object",
     [] {
       return envelope_signatures({{"sig", "AQID"}});
     },
     false},
    {"signature not an object", [] { return envelope_signatures({"AQID"}); }, false},
    {"signature without sig",
     [] {
       return envelope_signatures({{{"keyid", "k"}}});
     },
     false},
    {"sig not a string",
     [] {
       return envelope_signatures({{{"sig", 5}}});
     },
     false},
    {"sig empty",
     [] {
       return envelope_signatures({{{"sig", ""}}});
     },
     false},
    {"sig not base64",
     [] {
       return envelope_signatures({{{"sig", "A"}}});
     },
     false},
    {"keyid not a string",
     [] {
       return envelope_signatures({{{"sig", "AQID"}, {"keyid", 1}}});
     },
     false},
    {"too many signatures",
     [] {
       json sigs = json::array();
       for (std::size_t i = 0; i <= pp::trust::max_dsse_signatures; ++i)
         sigs.push_back({{"sig", "AQID"}});
       return envelope_signatures(sigs);
     },
     false},
};

}  // namespace

BOOST_DATA_TEST_CASE(dsse_envelopes, bdata::make(envelope_cases), c) {
  const auto parsed = pp::trust::parse_dsse_envelope(c.envelope());
  BOOST_TEST(parsed.ok() == c.ok);
  if (!parsed.ok()) BOOST_TEST(parsed.error().code == pp::errc::signature_invalid);
}

BOOST_AUTO_TEST_CASE(dsse_envelope_decodes) {
  const auto spec = pp::trust::parse_dsse_envelope(spec_envelope());
  BOOST_REQUIRE(spec.ok());
  BOOST_TEST(spec->payload == "hello world");
  BOOST_TEST(spec->payload_type == "http://example.com/HelloWorld");
  BOOST_REQUIRE(spec->signatures.size() == 1u);
  BOOST_TEST(spec->signatures[0].sig.size() == 64u);  // raw r || s, P-256
  BOOST_TEST(spec->signatures[0].keyid.empty());

  const auto url = pp::trust::parse_dsse_envelope(
      envelope_signatures({{{"sig", "-_8"}, {"keyid", "k1"}}, {{"sig", "AQID"}}}));
  BOOST_REQUIRE(url.ok());
  BOOST_REQUIRE(url->signatures.size() == 2u);
  BOOST_TEST(url->signatures[0].sig == std::string("\xfb\xff"));
  BOOST_TEST(url->signatures[0].keyid == "k1");
  BOOST_TEST(url->signatures[1].sig == std::string("\x01\x02\x03"));
}

// ---- in-toto statements ----

namespace {

const std::string hex_a(64, 'a');
const std::string hex_b(64, 'b');

json statement(json subjects, const std::string& type = "https://in-toto.io/Statement/v1") {
  return {{"_type", type},
          {"subject", std::move(subjects)},
          {"predicateType", "https://slsa.dev/provenance/v1"},
          {"predicate", json::object()}};
}

json subject(const std::string& name, json digest) {
  return {{"name", name}, {"digest", std::move(digest)}};
}

struct StatementCase {
  const char* name;
  std::function<std::string()> text;
  std::vector<std::string> digests;  // empty: refused
};

std::ostream& operator<<(std::ostream& os, const StatementCase& c) {
  return os << c.name;
}

const StatementCase statement_cases[] = {
    {"v1, one subject",
     [] {
       return statement({subject("app", {{"sha256", hex_a}})}).dump();
     },
     {"sha256:" + hex_a}},
    {"v0.1",
     [] {
       return statement({subject("app", {{"sha256", hex_a}})}, "https://in-toto.io/Statement/v0.1")
           .dump();
     },
     {"sha256:" + hex_a}},
    {"two subjects, in order",
     [] {
       return statement({subject("a", {{"sha256", hex_a}}), subject("b", {{"sha256", hex_b}})})
           .dump();
     },
     {"sha256:" + hex_a, "sha256:" + hex_b}},
    {"a subject without sha256 is skipped",
     [] {
       return statement({subject("a", {{"sha512", std::string(128, 'c')}}),
                         subject("b", {{"sha256", hex_b}, {"sha512", std::string(128, 'c')}})})
           .dump();
     },
     {"sha256:" + hex_b}},
    {"not json", [] { return std::string("{"); }, {}},
    {"not an object", [] { return std::string("\"x\""); }, {}},
    {"no _type",
     [] {
       json j = statement({subject("a", {{"sha256", hex_a}})});
       j.erase("_type");
       return j.dump();
     },
     {}},
    {"another _type",
     [] {
       return statement({subject("a", {{"sha256", hex_a}})}, "https://in-toto.io/Statement/v2")
           .dump();
     },
     {}},
    {"_type not a string",
     [] {
       json j = statement({subject("a", {{"sha256", hex_a}})});
       j["_type"] = 1;
       return j.dump();
     },
     {}},
    {"no subject",
     [] {
       json j = statement(json::array());
       j.erase("subject");
       return j.dump();
     },
     {}},
    {"subject an object",
     [] {
       return statement(subject("a", {{"sha256", hex_a}})).dump();
     },
     {}},
    {"no subjects", [] { return statement(json::array()).dump(); }, {}},
    {"subject not an object", [] { return statement({"a"}).dump(); }, {}},
    {"subject without digest",
     [] {
       return statement({{{"name", "a"}}}).dump();
     },
     {}},
    {"digest not an object",
     [] { return statement({subject("a", "sha256:" + hex_a)}).dump(); },
     {}},
    {"sha256 not a string",
     [] {
       return statement({subject("a", {{"sha256", 1}})}).dump();
     },
     {}},
    {"sha256 uppercase",
     [] {
       return statement({subject("a", {{"sha256", std::string(64, 'A')}})}).dump();
     },
     {}},
    {"sha256 short",
     [] {
       return statement({subject("a", {{"sha256", std::string(63, 'a')}})}).dump();
     },
     {}},
    {"sha256 with prefix",
     [] {
       return statement({subject("a", {{"sha256", "sha256:" + hex_a}})}).dump();
     },
     {}},
    {"only sha512 subjects",
     [] {
       return statement({subject("a", {{"sha512", std::string(128, 'c')}})}).dump();
     },
     {}},
    {"oversize",
     [] {
       json j = statement({subject("a", {{"sha256", hex_a}})});
       j["predicate"]["pad"] = std::string(pp::trust::max_in_toto_statement_size, 'x');
       return j.dump();
     },
     {}},
};

}  // namespace

BOOST_DATA_TEST_CASE(in_toto_statements, bdata::make(statement_cases), c) {
  const auto digests = pp::trust::in_toto_subject_digests(c.text());
  BOOST_TEST(digests.ok() == !c.digests.empty());
  if (digests.ok()) {
    BOOST_TEST(*digests == c.digests, boost::test_tools::per_element());
  } else {
    BOOST_TEST(digests.error().code == pp::errc::signature_invalid);
  }
}
