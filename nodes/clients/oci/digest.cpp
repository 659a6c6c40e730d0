#include "nodes/clients/oci/digest.hpp"

#include <openssl/evp.h>

#include <stdexcept>

namespace pp::oci {

namespace {
constexpr std::string_view sha256_prefix = "sha256:";
constexpr std::string_view sha512_prefix = "sha512:";

bool is_lower_hex(std::string_view text) {
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}
}  // namespace

bool is_digest(std::string_view digest) {
  if (digest.starts_with(sha256_prefix)) {
    return digest.size() == sha256_prefix.size() + 64 && is_lower_hex(digest.substr(7));
  }
  if (digest.starts_with(sha512_prefix)) {
    return digest.size() == sha512_prefix.size() + 128 && is_lower_hex(digest.substr(7));
  }
  return false;
}

void Hasher::Free::operator()(evp_md_ctx_st* ctx) const {
  EVP_MD_CTX_free(ctx);
}

Hasher::Hasher() : Hasher(false) {}

Hasher::Hasher(bool sha512) : ctx_(EVP_MD_CTX_new()), sha512_(sha512) {
  if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), sha512 ? EVP_sha512() : EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("OpenSSL digest initialisation failed");
  }
}

Hasher Hasher::for_digest(std::string_view digest) {
  return Hasher(digest.starts_with(sha512_prefix));
}

Hasher::~Hasher() = default;
Hasher::Hasher(Hasher&&) noexcept = default;
Hasher& Hasher::operator=(Hasher&&) noexcept = default;

void Hasher::update(std::string_view bytes) {
  EVP_DigestUpdate(ctx_.get(), bytes.data(), bytes.size());
}

std::string Hasher::finish_digest() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_.get(), md, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(sha512_ ? sha512_prefix : sha256_prefix);
  for (unsigned i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

}  // namespace pp::oci
