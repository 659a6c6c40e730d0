// Lets BOOST_TEST compare and print std::optional values (Boost 1.74 has no printer for them).
// Include after <boost/test/unit_test.hpp>.
#pragma once

#include <optional>
#include <ostream>

namespace boost::test_tools::tt_detail {
template <typename T>
struct print_log_value<std::optional<T>> {
  void operator()(std::ostream& os, const std::optional<T>& v) {
    if (v) {
      print_log_value<T>()(os, *v);
    } else {
      os << "nullopt";
    }
  }
};
}  // namespace boost::test_tools::tt_detail
