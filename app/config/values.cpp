#include "app/config/values.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <iterator>
#include <string_view>
#include <utility>

namespace pp {

Problem parse_size(const std::string& v, std::size_t min, std::size_t max, std::size_t& out) {
  std::size_t n = 0;
  const auto r = std::from_chars(v.data(), v.data() + v.size(), n);
  if (r.ec != std::errc{} || r.ptr != v.data() + v.size()) {
    return "\"" + v + "\" is not a whole number";
  }
  if (n < min || n > max) {
    return std::to_string(n) + " is outside " + std::to_string(min) + ".." + std::to_string(max);
  }
  out = n;
  return std::nullopt;
}

Problem parse_bool(const std::string& v, bool& out) {
  if (v == "true" || v == "1" || v == "yes" || v == "on") {
    out = true;
  } else if (v == "false" || v == "0" || v == "no" || v == "off") {
    out = false;
  } else {
    return "\"" + v + "\" is not true or false";
  }
  return std::nullopt;
}

Problem parse_mqtt_address(const std::string& v, std::string& out) {
  const auto sep = v.find("://");
  if (sep == std::string::npos) return "\"" + v + "\" is not scheme://host:port";
  std::string scheme = v.substr(0, sep);
  if (scheme == "mqtt") scheme = "tcp";
  if (scheme == "mqtts") scheme = "ssl";
  if (scheme != "tcp" && scheme != "ssl" && scheme != "ws" && scheme != "wss") {
    return "scheme \"" + v.substr(0, sep) + "\" is not tcp, mqtt, ssl, mqtts, ws or wss";
  }
  const std::string rest = v.substr(sep + 3);
  const auto slash = rest.find('/');
  if (slash != std::string::npos && scheme != "ws" && scheme != "wss") {
    return "\"" + v + "\" is not scheme://host[:port]";
  }
  const std::string authority = rest.substr(0, slash);
  const auto colon = authority.rfind(':');
  if (authority.empty() || colon == 0) return "\"" + v + "\" has no host";
  if (colon != std::string::npos) {
    std::size_t port = 0;
    if (parse_size(authority.substr(colon + 1), 1, 65535, port)) {
      return "\"" + v + "\" has an invalid port";
    }
  }
  out = scheme + "://" + rest;
  return std::nullopt;
}

Problem parse_channels(const std::string& v, std::vector<std::string>& out) {
  out.clear();
  if (v == "+") {  // every channel: answers go to the channel each request came from
    out.push_back(v);
    return std::nullopt;
  }
  std::size_t start = 0;
  while (start <= v.size()) {
    const auto comma = std::min(v.find(',', start), v.size());
    std::string ch = v.substr(start, comma - start);
    if (ch.empty()) return "\"" + v + "\" has an empty channel";
    if (ch.find_first_of("/+#") != std::string::npos) {
      return "channel \"" + ch + "\" contains '/', '+' or '#' (\"+\" alone means every channel)";
    }
    out.push_back(std::move(ch));
    start = comma + 1;
  }
  return std::nullopt;
}

Problem parse_tenant(const std::string& v, std::string& out) {
  if (v != "+" && v.find_first_of("/+#") != std::string::npos) {
    return "tenant \"" + v + "\" contains '/', '+' or '#' (\"+\" alone means every tenant)";
  }
  out = v;
  return std::nullopt;
}

Problem parse_timeout(const std::string& v, int& out, std::uint64_t min_s) {
  constexpr std::uint64_t kSecond = 1'000'000'000, kMaxS = 3600;
  const std::uint64_t kMinS = min_s;
  const std::string range = "\"" + v + "\" is not between " + std::to_string(min_s) + "s and 1h";
  const std::string syntax =
      "\"" + v + "\" is not a duration (such as 30s, 1m30s, 500ms) or a whole number of seconds";
  std::string_view rest = v;
  bool negative = false;
  if (!rest.empty() && (rest.front() == '-' || rest.front() == '+')) {
    negative = rest.front() == '-';
    rest.remove_prefix(1);
  }
  if (rest.empty()) return syntax;
  // Saturates: a value past the cap is out of range whatever follows, but what follows must still
  // be well-formed.
  constexpr std::uint64_t kCap = std::uint64_t{1} << 62;
  const auto add = [&](std::uint64_t a, std::uint64_t b) { return std::min(kCap, a + b); };
  const auto mul = [&](std::uint64_t a, std::uint64_t b) {
    return b && a > kCap / b ? kCap : a * b;
  };
  std::uint64_t ns = 0;
  if (rest.find_first_not_of("0123456789") == std::string_view::npos) {
    for (const char d : rest) {
      ns = add(mul(ns, 10), static_cast<std::uint64_t>(d - '0'));
    }
    ns = mul(ns, kSecond);
  } else {
    static const std::pair<std::string_view, std::uint64_t> units[] = {
        {"ns", 1},       {"us", 1000},   {"\u00b5s", 1000},   {"\u03bcs", 1000},
        {"ms", 1000000}, {"s", kSecond}, {"m", 60 * kSecond}, {"h", 3600 * kSecond},
    };
    while (!rest.empty()) {
      std::uint64_t whole = 0, fraction = 0, scale = 1;
      std::size_t digits = 0;
      while (!rest.empty() && rest.front() >= '0' && rest.front() <= '9') {
        whole = add(mul(whole, 10), static_cast<std::uint64_t>(rest.front() - '0'));
        rest.remove_prefix(1);
        ++digits;
      }
      if (!rest.empty() && rest.front() == '.') {
        rest.remove_prefix(1);
        while (!rest.empty() && rest.front() >= '0' && rest.front() <= '9') {
          if (scale < kSecond * kSecond) {  // further digits are below a nanosecond anyway
            fraction = fraction * 10 + static_cast<std::uint64_t>(rest.front() - '0');
            scale *= 10;
          }
          rest.remove_prefix(1);
          ++digits;
        }
      }
      if (digits == 0) return syntax;
      const auto unit_end = std::min(rest.find_first_of("0123456789."), rest.size());
      const std::string_view unit = rest.substr(0, unit_end);
      rest.remove_prefix(unit_end);
      const auto* found = std::find_if(std::begin(units), std::end(units),
                                       [&](const auto& u) { return u.first == unit; });
      if (found == std::end(units)) return syntax;
      ns = add(ns, mul(whole, found->second));
      ns = add(ns, static_cast<std::uint64_t>(static_cast<long double>(fraction) *
                                              static_cast<long double>(found->second) /
                                              static_cast<long double>(scale)));
    }
  }
  const std::uint64_t seconds = ns / kSecond + (ns % kSecond != 0);
  if ((negative && ns != 0) || seconds < kMinS || seconds > kMaxS) return range;
  out = static_cast<int>(seconds);
  return std::nullopt;
}

}  // namespace pp
