#define BOOST_TEST_MODULE config_values
#include <boost/test/unit_test.hpp>
#include <cstddef>
#include <string>
#include <variant>
#include <vector>

#include "app/config/values.hpp"

namespace {

struct Fails {
  std::string problem;  // the whole message
};

// The text an operator gives, and the value it stands for or why it is refused.
template <typename T>
struct Case {
  std::string text;
  std::variant<T, Fails> expected;
};

template <typename T, typename Parse>
void check(const std::vector<Case<T>>& cases, Parse parse) {
  for (const auto& k : cases) {
    BOOST_TEST_CONTEXT("\"" << k.text << "\"") {
      T out{};
      const pp::Problem problem = parse(k.text, out);
      if (const auto* value = std::get_if<T>(&k.expected)) {
        BOOST_TEST_REQUIRE(!problem, problem.value_or(""));
        BOOST_TEST(out == *value);
      } else {
        BOOST_TEST_REQUIRE(problem.has_value());
        BOOST_TEST(*problem == std::get<Fails>(k.expected).problem);
      }
    }
  }
}

Fails not_a_duration(const std::string& text) {
  return {"\"" + text +
          "\" is not a duration (such as 30s, 1m30s, 500ms) or a whole number of seconds"};
}

}  // namespace

BOOST_AUTO_TEST_CASE(go_durations_round_up_to_seconds_within_1s_to_1h) {
  const auto range = [](const std::string& text) {
    return Fails{"\"" + text + "\" is not between 1s and 1h"};
  };
  check<int>(
      {
          {"30s", 30},
          {"1m30s", 90},
          {"500ms", 1},
          {"1.000000001s", 2},
          {"0.5h", 1800},
          {"1h", 3600},
          {"90", 90},
          {"2\u03bcs", 1},
          {"1.5h", range("1.5h")},
          {"0s", range("0s")},
          {"-1s", range("-1s")},
          {"61m", range("61m")},
          {"", not_a_duration("")},
          {"30sec", not_a_duration("30sec")},
          {"1e3s", not_a_duration("1e3s")},
          {" 30s", not_a_duration(" 30s")},
          {"1..5s", not_a_duration("1..5s")},
      },
      [](const std::string& v, int& out) { return pp::parse_timeout(v, out); });
}

// PROXY_SHUTDOWN_GRACE, PROXY_MQTT_RESUME_DELAY and PROXY_MANIFEST_TTL may be zero.
BOOST_AUTO_TEST_CASE(go_durations_with_a_lower_bound_of_zero) {
  check<int>(
      {
          {"0", 0},
          {"0s", 0},
          {"-0s", 0},
          {"1ns", 1},
          {"1h0m1s", Fails{"\"1h0m1s\" is not between 0s and 1h"}},
          {"-1ns", Fails{"\"-1ns\" is not between 0s and 1h"}},
      },
      [](const std::string& v, int& out) { return pp::parse_timeout(v, out, 0); });
}

BOOST_AUTO_TEST_CASE(sizes_are_whole_numbers_within_their_bounds) {
  check<std::size_t>(
      {
          {"0", 0u},
          {"2", 2u},
          {"002", 2u},
          {"3", Fails{"3 is outside 0..2"}},
          {"", Fails{"\"\" is not a whole number"}},
          {"+1", Fails{"\"+1\" is not a whole number"}},
          {"-1", Fails{"\"-1\" is not a whole number"}},
          {"1 ", Fails{"\"1 \" is not a whole number"}},
          {"1k", Fails{"\"1k\" is not a whole number"}},
          {"18446744073709551616", Fails{"\"18446744073709551616\" is not a whole number"}},
      },
      [](const std::string& v, std::size_t& out) { return pp::parse_size(v, 0, 2, out); });
  check<std::size_t>(
      {
          {"1", 1u},
          {"65535", 65535u},
          {"0", Fails{"0 is outside 1..65535"}},
          {"65536", Fails{"65536 is outside 1..65535"}},
      },
      [](const std::string& v, std::size_t& out) { return pp::parse_size(v, 1, 65535, out); });
}

BOOST_AUTO_TEST_CASE(bools_take_four_spellings_each) {
  check<bool>(
      {
          {"true", true},
          {"1", true},
          {"yes", true},
          {"on", true},
          {"false", false},
          {"0", false},
          {"no", false},
          {"off", false},
          {"TRUE", Fails{"\"TRUE\" is not true or false"}},
          {"y", Fails{"\"y\" is not true or false"}},
          {"", Fails{"\"\" is not true or false"}},
      },
      pp::parse_bool);
}

BOOST_AUTO_TEST_CASE(mqtt_addresses_are_stored_in_paho_s_spelling) {
  check<std::string>(
      {
          {"tcp://broker:1883", "tcp://broker:1883"},
          {"mqtt://broker:1883", "tcp://broker:1883"},
          {"mqtts://broker:8883", "ssl://broker:8883"},
          {"ssl://broker", "ssl://broker"},
          {"ws://broker:8080/mqtt", "ws://broker:8080/mqtt"},
          {"wss://broker/mqtt", "wss://broker/mqtt"},
          {"broker:1883", Fails{"\"broker:1883\" is not scheme://host:port"}},
          {"http://broker", Fails{"scheme \"http\" is not tcp, mqtt, ssl, mqtts, ws or wss"}},
          {"TCP://broker", Fails{"scheme \"TCP\" is not tcp, mqtt, ssl, mqtts, ws or wss"}},
          {"tcp://broker:1883/x", Fails{"\"tcp://broker:1883/x\" is not scheme://host[:port]"}},
          {"tcp://", Fails{"\"tcp://\" has no host"}},
          {"tcp://:1883", Fails{"\"tcp://:1883\" has no host"}},
          {"tcp://broker:0", Fails{"\"tcp://broker:0\" has an invalid port"}},
          {"tcp://broker:65536", Fails{"\"tcp://broker:65536\" has an invalid port"}},
          {"tcp://broker:", Fails{"\"tcp://broker:\" has an invalid port"}},
      },
      pp::parse_mqtt_address);
}

BOOST_AUTO_TEST_CASE(channels_are_a_list_of_topic_levels_or_plus_alone) {
  using List = std::vector<std::string>;
  const std::string wildcard = "\" contains '/', '+' or '#' (\"+\" alone means every channel)";
  check<List>(
      {
          {"+", List{"+"}},
          {"ch", List{"ch"}},
          {"a,b", List{"a", "b"}},
          {"", Fails{"\"\" has an empty channel"}},
          {"a,", Fails{"\"a,\" has an empty channel"}},
          {"a/b", Fails{"channel \"a/b" + wildcard}},
          {"a,+", Fails{"channel \"+" + wildcard}},
          {"#", Fails{"channel \"#" + wildcard}},
      },
      pp::parse_channels);
}

BOOST_AUTO_TEST_CASE(a_tenant_is_a_topic_level_or_plus) {
  const std::string wildcard = "\" contains '/', '+' or '#' (\"+\" alone means every tenant)";
  check<std::string>(
      {
          {"dom-1", "dom-1"},
          {"+", "+"},
          {"", ""},
          {"a+", Fails{"tenant \"a+" + wildcard}},
          {"a/b", Fails{"tenant \"a/b" + wildcard}},
      },
      pp::parse_tenant);
}
