// libFuzzer target: an auth file's text (the fuzz input: docker's config.json, containers'
// auth.json) through credentials_from_json for a few registries.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "nodes/clients/oci/auth_file.hpp"

namespace {

void check(bool condition) {
  if (!condition) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  for (const std::string_view registry : {"registry-1.docker.io", "127.0.0.1:5000", "ghcr.io"}) {
    const auto creds = pp::oci::credentials_from_json(json, registry);
    // An entry is usable only with a user name or an identity token.
    if (creds) check(!creds->username.empty() || !creds->identity_token.empty());
  }
  return 0;
}
