#include "nodes/trust/bundle_sign.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>

#include "nodes/clients/oci/digest.hpp"
#include "nodes/trust/dsse.hpp"
#include "nodes/trust/signature_check.hpp"

namespace pp::trust {
namespace {

// Ordered: the documents read as cosign's and @sigstore/sign's do (mediaType first), for people.
using json = nlohmann::ordered_json;

constexpr std::string_view private_key_labels[] = {
    "-----BEGIN PRIVATE KEY-----",
    "-----BEGIN EC PRIVATE KEY-----",
    "-----BEGIN RSA PRIVATE KEY-----",
};

Error key_error(std::string message) {
  return Error{errc::proxy_error, std::move(message)};
}

// Never asks for a passphrase: a CLI run by a fleet's scripts must not stop at a prompt.
int no_passphrase(char*, int, int, void*) {
  return -1;
}

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(std::max(n, 0)));
  return out;
}

std::string sha256_bytes(std::string_view bytes) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), md.data(), &len, EVP_sha256(), nullptr) != 1) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(md.data()), len);
}

std::string digest_of(std::string_view bytes) {
  oci::Hasher h;
  h.update(bytes);
  return h.finish_digest();
}

json descriptor(const oci::Descriptor& d) {
  return json{{"mediaType", d.media_type}, {"digest", d.digest}, {"size", d.size}};
}

Error not_an_index(std::string what) {
  return Error{errc::signature_invalid, "the fallback index " + std::move(what)};
}

}  // namespace

PrivateKey::PrivateKey(std::shared_ptr<evp_pkey_st> key, PublicKey public_key, std::string hint)
    : key_(std::move(key)), public_(std::move(public_key)), hint_(std::move(hint)) {}

Expected<PrivateKey> PrivateKey::from_pem(std::string_view pem) {
  // As read_key_file's limit: an RSA 4096 key is 3.3 KiB, and OpenSSL takes the length as an int.
  if (pem.size() > 64 * 1024) {
    return key_error("not a PEM private key: " + std::to_string(pem.size()) +
                     " bytes, far more than a key");
  }
  // "-----BEGIN ENCRYPTED PRIVATE KEY-----", "Proc-Type: 4,ENCRYPTED", cosign's
  // "ENCRYPTED SIGSTORE PRIVATE KEY": each would need a passphrase.
  if (pem.find("ENCRYPTED") != std::string_view::npos) {
    return key_error("an encrypted private key (" + pem_label(pem) +
                     "): only unencrypted PEM keys are read, as `openssl genpkey` writes them "
                     "(cosign's own key files are encrypted)");
  }
  const bool labelled = std::any_of(std::begin(private_key_labels), std::end(private_key_labels),
                                    [&](std::string_view l) { return pem.find(l) != pem.npos; });
  if (!labelled) {
    return key_error("not a PEM private key (found " + pem_label(pem) +
                     "; expected -----BEGIN PRIVATE KEY-----)");
  }
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  if (!bio) return key_error("out of memory reading a private key");
  EVP_PKEY* raw = PEM_read_bio_PrivateKey(bio.get(), nullptr, &no_passphrase, nullptr);
  ERR_clear_error();
  if (raw == nullptr) return key_error("not a PEM private key (the key block does not parse)");
  std::shared_ptr<evp_pkey_st> key(raw, &EVP_PKEY_free);

  // Its public half goes through PublicKey's own checks, so push signs with exactly the keys the
  // proxy accepts (curves, RSA sizes) and names them the same way.
  std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new(BIO_s_mem()), &BIO_free);
  char* text = nullptr;
  const long len =
      out && PEM_write_bio_PUBKEY(out.get(), raw) == 1 ? BIO_get_mem_data(out.get(), &text) : 0;
  ERR_clear_error();
  if (len <= 0) return key_error("the private key has no public key OpenSSL can write");
  auto public_key = PublicKey::from_pem(std::string_view(text, static_cast<std::size_t>(len)));
  if (!public_key) return public_key.error();
  if (public_key->kind() == PublicKey::Algorithm::ecdsa_p384) {
    return key_error(
        "unsupported algorithm for signing: ECDSA P-384 (Sigstore's algorithm registry pairs it "
        "with SHA-384, @sigstore/verify 2.x checks SHA-256: no signature satisfies both; use "
        "P-256, RSA or Ed25519)");
  }
  std::string hint = base64(sha256_bytes(public_key->spki()));
  return PrivateKey(std::move(key), std::move(public_key).value(), std::move(hint));
}

Expected<PrivateKey> PrivateKey::load(const std::string& path) {
  return load_key_file<PrivateKey>(path, "private key");
}

Expected<std::string> PrivateKey::sign(std::string_view message) const {
  // Pure Ed25519 takes no digest: it hashes the message itself, and EVP_DigestSign is one-shot.
  const EVP_MD* md = public_.kind() == PublicKey::Algorithm::ed25519 ? nullptr : EVP_sha256();
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
  const auto* data = reinterpret_cast<const unsigned char*>(message.data());
  std::size_t len = 0;
  bool ok = ctx && EVP_DigestSignInit(ctx.get(), &pctx, md, nullptr, key_.get()) == 1;
  // PKCS#1 v1.5 is OpenSSL's default for RSA; set anyway, as it is the one scheme verified.
  if (ok && public_.kind() == PublicKey::Algorithm::rsa) {
    ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1;
  }
  ok = ok && EVP_DigestSign(ctx.get(), nullptr, &len, data, message.size()) == 1;
  std::string signature(len, '\0');
  ok = ok && EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &len,
                            data, message.size()) == 1;
  ERR_clear_error();
  if (!ok) return key_error("signing with the " + public_.algorithm() + " key failed");
  signature.resize(len);  // an ECDSA signature's DER is often shorter than the maximum
  return signature;
}

Expected<std::string> cosign_sign_statement(std::string_view name, std::string_view digest) {
  constexpr std::string_view sha256 = "sha256:";
  if (!oci::is_digest(digest) || !digest.starts_with(sha256)) {
    return Error{errc::invalid_reference, "not a sha256 digest: " + std::string(digest)};
  }
  const json statement = {
      {"_type", "https://in-toto.io/Statement/v1"},
      {"subject",
       json::array({json{{"name", name}, {"digest", {{"sha256", digest.substr(sha256.size())}}}}})},
      {"predicateType", cosign_sign_predicate_type},
      {"predicate", json::object()},
  };
  return statement.dump();
}

Expected<std::string> make_bundle(const PrivateKey& key, std::string_view statement) {
  auto signature = key.sign(dsse_pae(in_toto_payload_type, statement));
  if (!signature) return signature.error();
  const json envelope = {
      {"payload", base64(statement)},
      {"payloadType", in_toto_payload_type},
      {"signatures", json::array({json{{"sig", base64(*signature)}, {"keyid", key.hint()}}})},
  };
  const json bundle = {
      {"mediaType", bundle_media_type},
      {"verificationMaterial",
       {{"publicKey", {{"hint", key.hint()}}}, {"timestampVerificationData", json::object()}}},
      {"dsseEnvelope", envelope},
  };
  return bundle.dump();
}

std::string bundle_manifest(const oci::Descriptor& subject, const oci::Descriptor& bundle,
                            std::string_view predicate_type, std::string_view created) {
  const oci::Descriptor empty{std::string(oci_empty_media_type), digest_of(oci_empty_blob),
                              oci_empty_blob.size()};
  const json manifest = {
      {"schemaVersion", 2},
      {"mediaType", oci::media::oci_manifest},
      {"artifactType", bundle_media_type},
      {"config", descriptor(empty)},
      {"layers", json::array({descriptor(bundle)})},
      {"subject", descriptor(subject)},
      {"annotations",
       {{"dev.sigstore.bundle.content", "dsse-envelope"},
        {"dev.sigstore.bundle.predicateType", predicate_type},
        {"org.opencontainers.image.created", created}}},
  };
  return manifest.dump();
}

Expected<std::optional<std::string>> add_to_fallback_index(std::optional<std::string_view> index,
                                                           std::string_view manifest) {
  const json referrer = json::parse(manifest, nullptr, /*allow_exceptions=*/false);
  if (!referrer.is_object()) {
    return Error{errc::signature_invalid, "the referrer manifest is not a JSON object"};
  }
  json entry = descriptor(oci::Descriptor{referrer.value("mediaType", oci::media::oci_manifest),
                                          digest_of(manifest), manifest.size()});
  if (const auto it = referrer.find("artifactType"); it != referrer.end()) {
    entry["artifactType"] = *it;
  }
  if (const auto it = referrer.find("annotations"); it != referrer.end()) {
    entry["annotations"] = *it;
  }

  json doc = {
      {"schemaVersion", 2}, {"mediaType", oci::media::oci_index}, {"manifests", json::array()}};
  if (index) {
    doc = json::parse(*index, nullptr, /*allow_exceptions=*/false);
    if (!doc.is_object()) return not_an_index("is not a JSON object");
    const auto type = doc.find("mediaType");
    if (type != doc.end() && *type != oci::media::oci_index) {
      return not_an_index("is a " + type->dump() + ", not an image index");
    }
    if (!doc.contains("manifests") || !doc["manifests"].is_array()) {
      return not_an_index("has no manifests array");
    }
  }
  json& manifests = doc["manifests"];
  const bool listed = std::any_of(manifests.begin(), manifests.end(), [&](const json& m) {
    return m.is_object() && m.value("digest", std::string()) == entry["digest"];
  });
  if (listed) return std::optional<std::string>();
  manifests.push_back(std::move(entry));
  return std::optional<std::string>(doc.dump());
}

}  // namespace pp::trust
