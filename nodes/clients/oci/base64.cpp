#include "nodes/clients/oci/base64.hpp"

#include <cstddef>
#include <cstdint>

namespace pp::oci {
namespace {

int base64_value(char c, Base64Alphabet alphabet) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  const bool url = alphabet == Base64Alphabet::url_safe;
  if (c == (url ? '-' : '+')) return 62;
  if (c == (url ? '_' : '/')) return 63;
  return -1;
}

}  // namespace

std::optional<std::string> base64_decode(std::string_view in, Base64Alphabet alphabet) {
  std::size_t padding = 0;
  while (padding < in.size() && padding < 3 && in[in.size() - 1 - padding] == '=')
    ++padding;
  if (padding > 0 && (padding > 2 || in.size() % 4 != 0)) return std::nullopt;
  in.remove_suffix(padding);
  if (in.size() % 4 == 1) return std::nullopt;

  std::string out;
  out.reserve(in.size() / 4 * 3 + 2);
  std::uint32_t bits = 0;
  int nbits = 0;
  for (char c : in) {
    const int v = base64_value(c, alphabet);
    if (v < 0) return std::nullopt;
    bits = (bits << 6) | static_cast<std::uint32_t>(v);
    nbits += 6;
    if (nbits >= 8) {
      nbits -= 8;
      out.push_back(static_cast<char>((bits >> nbits) & 0xffu));
    }
  }
  if ((bits & ((1u << nbits) - 1u)) != 0) return std::nullopt;  // non-canonical final character
  return out;
}

}  // namespace pp::oci
