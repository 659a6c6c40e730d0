#include "nodes/common/fault.hpp"

#ifdef PP_FAULT_INJECTION
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace pp {

void fault_point(std::string_view stage, std::string_view app_name) {
  static const std::string spec = [] {
    const char* v = std::getenv("PP_TEST_FAULT");
    return std::string(v ? v : "");
  }();
  const auto colon = spec.find(':');
  if (colon == std::string::npos || std::string_view(spec).substr(0, colon) != stage) return;
  if (app_name.find(std::string_view(spec).substr(colon + 1)) == std::string_view::npos) return;
  throw std::runtime_error("fault injected by PP_TEST_FAULT into " + std::string(stage));
}

}  // namespace pp
#endif
