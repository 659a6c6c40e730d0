// libFuzzer target: a WWW-Authenticate header value (the fuzz input) through
// parse_www_authenticate and find_challenge, as a registry's 401 answer is read.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "nodes/clients/oci/auth_challenge.hpp"

namespace {

void check(bool condition) {
  if (!condition) __builtin_trap();
}

bool is_lowercase(const std::string& s) {
  for (const char c : s) {
    if (c >= 'A' && c <= 'Z') return false;
  }
  return true;
}

// Values go into token URLs and log lines: no CR, LF, NUL or other control character but HTAB.
bool is_clean_value(const std::string& s) {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view header(reinterpret_cast<const char*>(data), size);
  const auto challenges = pp::oci::parse_www_authenticate(header);
  for (const auto& c : challenges) {
    check(!c.scheme.empty() && is_lowercase(c.scheme));
    for (const auto& [key, value] : c.params) {
      check(is_lowercase(key) && is_clean_value(value));
    }
  }
  for (const std::string_view scheme : {"Bearer", "Basic"}) {
    const pp::oci::Challenge* found = pp::oci::find_challenge(challenges, scheme);
    if (found == nullptr) continue;
    check(found->scheme.size() == scheme.size());
    const auto realm = found->params.find("realm");
    if (realm != found->params.end()) (void)pp::oci::pull_scope(realm->second);
  }
  return 0;
}
