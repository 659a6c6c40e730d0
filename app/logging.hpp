#pragma once
#include <string>

namespace pp {
// Installs the process's logger: one line per event on stderr, at `level`.
void setup_logging(const std::string& level);
}  // namespace pp
