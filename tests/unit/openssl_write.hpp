#pragma once
// What the signature tests and the fuzz target write with OpenSSL: base64 and signatures (the
// product only decodes and verifies). Header-only and without Boost.Test, so that the fuzz targets
// can use it too; a failure is an empty result for the caller to assert on.

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace pp::test {

// Standard alphabet, padded.
inline std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return out;
}

// `k`'s signature over `message`, hashed with `md` (nullptr for Ed25519); `pss` for RSA-PSS.
inline std::optional<std::string> signature_of(EVP_PKEY* k, const EVP_MD* md,
                                               std::string_view message, bool pss = false) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EVP_PKEY_CTX* pctx = nullptr;
  const auto* in = reinterpret_cast<const unsigned char*>(message.data());
  std::size_t len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), &pctx, md, nullptr, k) != 1 ||
      (pss && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1) ||
      EVP_DigestSign(ctx.get(), nullptr, &len, in, message.size()) != 1) {
    return std::nullopt;
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, in,
                     message.size()) != 1) {
    return std::nullopt;
  }
  sig.resize(len);
  return sig;
}

}  // namespace pp::test
