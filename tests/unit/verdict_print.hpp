#pragma once
// What the signature tests share to state what they expect of a verdict: Boost.Test prints a
// result by its metric label, and reasons and messages are checked by the parts they must hold.

#include <boost/test/unit_test.hpp>
#include <ostream>
#include <string>
#include <string_view>

#include "nodes/trust/signature_check.hpp"

namespace boost::test_tools::tt_detail {
template <>
struct print_log_value<pp::trust::Verdict::Result> {
  void operator()(std::ostream& os, pp::trust::Verdict::Result r) { os << pp::trust::to_string(r); }
};
}  // namespace boost::test_tools::tt_detail

namespace pp::test {

inline bool has(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

}  // namespace pp::test
