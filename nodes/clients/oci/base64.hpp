#pragma once
// Strict base64 decoding for what the OCI side reads: registry auth files ("auth" entries) and
// signature material (DSSE envelopes, whose spec lets signers use either alphabet). The chunk
// encoder in nodes/model has its own fast encoder; this one is for small, untrusted inputs.

#include <optional>
#include <string>
#include <string_view>

namespace pp::oci {

enum class Base64Alphabet {
  standard,  // RFC 4648 section 4: '+' and '/'
  url_safe,  // RFC 4648 section 5: '-' and '_'
};

// Padding may be omitted, but when present it must complete the last quantum; no whitespace, no
// '=' inside, no stray bits in the last character (so every input has one decoding and one
// encoding). nullopt for anything else.
std::optional<std::string> base64_decode(std::string_view in,
                                         Base64Alphabet alphabet = Base64Alphabet::standard);

}  // namespace pp::oci
