#pragma once
// Reading the proxy's GET /metrics (Prometheus text format) in tests.

#include <sstream>
#include <string>

namespace pp::test {

// The value of one series in a Prometheus text exposition, or -1 when it is absent.
inline double series(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  }
  return -1;
}

}  // namespace pp::test
