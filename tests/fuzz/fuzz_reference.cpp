// libFuzzer target: an image reference (the fuzz input) through parse_reference, as a request's
// app_name is parsed. An accepted reference's canonical form must parse again, without a default
// registry, to the same reference.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "nodes/clients/oci/digest.hpp"
#include "nodes/clients/oci/reference.hpp"

namespace {

void check(bool condition) {
  if (!condition) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // The host[:port] check on its own (the proxy asks it of registry URLs).
  (void)pp::oci::is_loopback_host(text);

  const auto ref = pp::oci::parse_reference(text, "registry.local:5000");
  if (!ref) {
    check(ref.error().code == pp::errc::invalid_reference);
    return 0;
  }
  check(!ref->registry.empty() && !ref->repository.empty());
  check(!ref->manifest_selector().empty());
  check(ref->digest.empty() || pp::oci::is_digest(ref->digest));
  (void)pp::oci::is_loopback_host(ref->registry);

  const std::string canonical = ref->str();
  const auto again = pp::oci::parse_reference(canonical, "");
  check(again.ok());
  check(again->str() == canonical);
  check(again->registry == ref->registry && again->repository == ref->repository &&
        again->tag == ref->tag && again->digest == ref->digest);
  return 0;
}
