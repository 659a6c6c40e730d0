#pragma once
// Content digests as OCI uses them: "sha256:<64 hex>" and "sha512:<128 hex>" (the two algorithms
// the image spec registers), computed incrementally with OpenSSL (SHA extensions where present).

#include <memory>
#include <string>
#include <string_view>

struct evp_md_ctx_st;

namespace pp::oci {

// "sha256:" + 64 or "sha512:" + 128 lowercase hex digits.
bool is_digest(std::string_view digest);

class Hasher {
 public:
  Hasher();  // sha256
  // The algorithm `digest` names ("sha256:…", "sha512:…"); sha256 for anything else, which
  // is_digest() has refused before a hasher is made for it.
  static Hasher for_digest(std::string_view digest);
  ~Hasher();
  Hasher(Hasher&&) noexcept;
  Hasher& operator=(Hasher&&) noexcept;

  void update(std::string_view bytes);
  // "<algorithm>:<lowercase hex>"; the hasher is spent afterwards.
  std::string finish_digest();

 private:
  explicit Hasher(bool sha512);
  struct Free {
    void operator()(evp_md_ctx_st* ctx) const;
  };
  std::unique_ptr<evp_md_ctx_st, Free> ctx_;
  bool sha512_ = false;
};

}  // namespace pp::oci
