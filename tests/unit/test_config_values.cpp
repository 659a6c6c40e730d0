#define BOOST_TEST_MODULE config_values
#include <boost/test/unit_test.hpp>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "app/config/values.hpp"

namespace {

struct Refusal {
  std::string text, message;
};
using Refusals = std::vector<Refusal>;

// Texts refused for the same reason, which the message gives after the text in quotes.
Refusals quoted(const std::string& problem, const std::vector<std::string>& texts) {
  Refusals out;
  for (const auto& text : texts)
    out.push_back({text, "\"" + text + "\" " + problem});
  return out;
}

// What `parse` makes of each text an operator may give: the value of the valid ones, the whole
// message for the others.
template <typename T, typename Parse>
void check(Parse parse, const std::vector<std::pair<std::string, T>>& values,
           const std::vector<Refusals>& refusals) {
  for (const auto& [text, value] : values) {
    BOOST_TEST_CONTEXT("\"" << text << "\"") {
      T out{};
      const pp::Problem problem = parse(text, out);
      BOOST_TEST_REQUIRE(!problem, problem.value_or(""));
      BOOST_TEST(out == value);
    }
  }
  for (const auto& group : refusals) {
    for (const auto& [text, message] : group) {
      BOOST_TEST_CONTEXT("\"" << text << "\"") {
        T out{};
        const pp::Problem problem = parse(text, out);
        BOOST_TEST_REQUIRE(problem.has_value());
        BOOST_TEST(*problem == message);
      }
    }
  }
}

const std::string kNotADuration =
    "is not a duration (such as 30s, 1m30s, 500ms) or a whole number of seconds";

}  // namespace

BOOST_AUTO_TEST_CASE(go_durations_round_up_to_seconds_within_1s_to_1h) {
  check<int>([](const std::string& v, int& out) { return pp::parse_timeout(v, out); },
             {{"30s", 30},
              {"1m30s", 90},
              {"500ms", 1},
              {"1.000000001s", 2},
              {"0.5h", 1800},
              {"1h", 3600},
              {"90", 90},
              {"2\u03bcs", 1}},
             {quoted("is not between 1s and 1h", {"1.5h", "0s", "-1s", "61m"}),
              quoted(kNotADuration, {"", "30sec", "1e3s", " 30s", "1..5s"})});
}

// PROXY_SHUTDOWN_GRACE, PROXY_MQTT_RESUME_DELAY and PROXY_MANIFEST_TTL may be zero.
BOOST_AUTO_TEST_CASE(go_durations_with_a_lower_bound_of_zero) {
  check<int>([](const std::string& v, int& out) { return pp::parse_timeout(v, out, 0); },
             {{"0", 0}, {"0s", 0}, {"-0s", 0}, {"1ns", 1}},
             {quoted("is not between 0s and 1h", {"1h0m1s", "-1ns"})});
}

BOOST_AUTO_TEST_CASE(sizes_are_whole_numbers_within_their_bounds) {
  check<std::size_t>(
      [](const std::string& v, std::size_t& out) { return pp::parse_size(v, 0, 2, out); },
      {{"0", 0u}, {"2", 2u}, {"002", 2u}},
      {{{"3", "3 is outside 0..2"}},
       quoted("is not a whole number", {"", "+1", "-1", "1 ", "1k", "18446744073709551616"})});
  check<std::size_t>(
      [](const std::string& v, std::size_t& out) { return pp::parse_size(v, 1, 65535, out); },
      {{"1", 1u}, {"65535", 65535u}},
      {{{"0", "0 is outside 1..65535"}, {"65536", "65536 is outside 1..65535"}}});
}

BOOST_AUTO_TEST_CASE(bools_take_four_spellings_each) {
  check<bool>(pp::parse_bool,
              {{"true", true},
               {"1", true},
               {"yes", true},
               {"on", true},
               {"false", false},
               {"0", false},
               {"no", false},
               {"off", false}},
              {quoted("is not true or false", {"TRUE", "y", ""})});
}

BOOST_AUTO_TEST_CASE(mqtt_addresses_are_stored_in_paho_s_spelling) {
  const std::string scheme = "\" is not tcp, mqtt, ssl, mqtts, ws or wss";
  check<std::string>(
      pp::parse_mqtt_address,
      {{"tcp://broker:1883", "tcp://broker:1883"},
       {"mqtt://broker:1883", "tcp://broker:1883"},
       {"mqtts://broker:8883", "ssl://broker:8883"},
       {"ssl://broker", "ssl://broker"},
       {"ws://broker:8080/mqtt", "ws://broker:8080/mqtt"},
       {"wss://broker/mqtt", "wss://broker/mqtt"}},
      {quoted("is not scheme://host:port", {"broker:1883"}),
       {{"http://broker", "scheme \"http" + scheme}, {"TCP://broker", "scheme \"TCP" + scheme}},
       quoted("is not scheme://host[:port]", {"tcp://broker:1883/x"}),
       quoted("has no host", {"tcp://", "tcp://:1883"}),
       quoted("has an invalid port", {"tcp://broker:0", "tcp://broker:65536", "tcp://broker:"})});
}

BOOST_AUTO_TEST_CASE(channels_are_a_list_of_topic_levels_or_plus_alone) {
  using List = std::vector<std::string>;
  const std::string wildcard = "\" contains '/', '+' or '#' (\"+\" alone means every channel)";
  check<List>(pp::parse_channels, {{"+", {"+"}}, {"ch", {"ch"}}, {"a,b", {"a", "b"}}},
              {quoted("has an empty channel", {"", "a,"}),
               {{"a/b", "channel \"a/b" + wildcard},
                {"a,+", "channel \"+" + wildcard},
                {"#", "channel \"#" + wildcard}}});
}

BOOST_AUTO_TEST_CASE(a_tenant_is_a_topic_level_or_plus) {
  const std::string wildcard = "\" contains '/', '+' or '#' (\"+\" alone means every tenant)";
  check<std::string>(pp::parse_tenant, {{"dom-1", "dom-1"}, {"+", "+"}, {"", ""}},
                     {{{"a+", "tenant \"a+" + wildcard}, {"a/b", "tenant \"a/b" + wildcard}}});
}
