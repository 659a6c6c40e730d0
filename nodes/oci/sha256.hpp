#pragma once
// Incremental sha256 (OpenSSL; uses the CPU's SHA extensions where present).

#include <memory>
#include <string>
#include <string_view>

struct evp_md_ctx_st;

namespace pp::oci {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;

  void update(std::string_view bytes);
  // "sha256:<64 lowercase hex>"; the hasher is spent afterwards.
  std::string finish_digest();

 private:
  struct Free {
    void operator()(evp_md_ctx_st* ctx) const;
  };
  std::unique_ptr<evp_md_ctx_st, Free> ctx_;
};

}  // namespace pp::oci
