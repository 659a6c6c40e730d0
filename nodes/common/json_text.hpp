#pragma once
// JSON text written by hand on hot or dependency-free paths (chunk framing, log lines).

#include <string>
#include <string_view>

namespace pp {

// Appends `s` to `out` as a JSON string literal, quotes included. Bytes are copied as they are
// (valid UTF-8 stays valid); quotes, backslashes and control characters are escaped.
inline void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20) {
      out += "\\u00";
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

}  // namespace pp
