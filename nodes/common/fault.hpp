#pragma once
// Fault injection for tests. Test builds (PP_FAULT_INJECTION, on whenever the tests are built)
// give every stage a fault point where an error of the stage's own making could escape it; with
// PP_TEST_FAULT=<stage>:<text> in the environment, the point throws when the app name it is given
// contains <text>. Release builds compile the points to nothing, and ignore the variable.

#include <string_view>

namespace pp {

#ifdef PP_FAULT_INJECTION
void fault_point(std::string_view stage, std::string_view app_name);
#else
inline void fault_point(std::string_view, std::string_view) {}
#endif

}  // namespace pp
