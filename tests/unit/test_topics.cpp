// Both topic schemes: where requests are subscribed, where answers go, and which topics are
// request topics at all.
#define BOOST_TEST_MODULE topics
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include "nodes/clients/mqtt/topics.hpp"

namespace bdata = boost::unit_test::data;
using pp::mqtt::Origin;
using pp::mqtt::Topics;
using pp::mqtt::TopicScheme;

namespace {

struct OriginCase {
  std::string topic;
  std::optional<Origin> origin;
};

std::ostream& operator<<(std::ostream& os, const OriginCase& c) {
  return os << c.topic;
}

std::vector<OriginCase> origin_cases() {
  return {
      {"channels/ch-1/messages/registry/proplet", Origin{"", "ch-1"}},
      {"m/tenant-1/c/ch-1/registry/proplet", Origin{"tenant-1", "ch-1"}},
      {"m/6f1c/c/0a2b-33/registry/proplet", Origin{"6f1c", "0a2b-33"}},
      // Answers, not requests.
      {"channels/ch/messages/registry/server", std::nullopt},
      {"m/t/c/ch/registry/server", std::nullopt},
      {"m/t/c/ch/registry/status", std::nullopt},
      // Empty or extra levels.
      {"channels//messages/registry/proplet", std::nullopt},
      {"channels/a/b/messages/registry/proplet", std::nullopt},
      {"m//c/ch/registry/proplet", std::nullopt},
      {"m/t/c//registry/proplet", std::nullopt},
      {"m/t/x/c/ch/registry/proplet", std::nullopt},
      {"m/t/c/ch/x/registry/proplet", std::nullopt},
      {"m/t/ch/registry/proplet", std::nullopt},
      {"m/c/registry/proplet", std::nullopt},
      // Neither scheme.
      {"registry/proplet", std::nullopt},
      {"", std::nullopt},
  };
}

}  // namespace

BOOST_DATA_TEST_CASE(origin_of_request_table, bdata::make(origin_cases()), c) {
  const auto origin = Topics::origin_of_request(c.topic);
  BOOST_TEST(origin.has_value() == c.origin.has_value());
  if (origin && c.origin) {
    BOOST_TEST(origin->tenant == c.origin->tenant);
    BOOST_TEST(origin->channel == c.origin->channel);
    // The request topic an origin maps back to is the one it came from.
    BOOST_TEST(Topics::request(*origin) == c.topic);
  }
}

BOOST_AUTO_TEST_CASE(answers_go_where_the_request_came_from) {
  BOOST_TEST(Topics::server({"", "ch"}) == "channels/ch/messages/registry/server");
  BOOST_TEST(Topics::status({"", "ch"}) == "channels/ch/messages/registry/status");
  BOOST_TEST(Topics::server({"t", "ch"}) == "m/t/c/ch/registry/server");
  BOOST_TEST(Topics::status({"t", "ch"}) == "m/t/c/ch/registry/status");
}

BOOST_AUTO_TEST_CASE(status_topics_follow_the_setting) {
  using pp::mqtt::StatusTopic;
  struct Case {
    std::string setting;
    pp::mqtt::Origin origin;
    std::optional<std::string> topic;
  };
  const Case cases[] = {
      {"", {"", "ch"}, "channels/ch/messages/registry/status"},
      {"", {"t", "ch"}, "m/t/c/ch/registry/status"},
      {"off", {"", "ch"}, std::nullopt},
      {"fleet/status", {"", "ch"}, "fleet/status"},
      {"registry/{channel}/events", {"", "ch"}, "registry/ch/events"},
      {"m/{tenant}/c/{channel}/events/{channel}", {"t", "ch"}, "m/t/c/ch/events/ch"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.setting) {
      BOOST_TEST(!StatusTopic::problem(c.setting).has_value());
      BOOST_TEST((StatusTopic(c.setting).for_origin(c.origin) == c.topic));
    }
  }
  for (const std::string bad : {"a/#", "+/status", "$SYS/x", "x/{app}", "x/{channel", "}"}) {
    BOOST_TEST(StatusTopic::problem(bad).has_value(), bad);
  }
}

BOOST_AUTO_TEST_CASE(subscriptions_in_both_schemes) {
  using V = std::vector<std::string>;
  BOOST_TEST(
      Topics(TopicScheme::channels, "", {"a", "b"}).request_subscriptions() ==
          (V{"channels/a/messages/registry/proplet", "channels/b/messages/registry/proplet"}),
      boost::test_tools::per_element());
  BOOST_TEST(Topics(TopicScheme::channels, "ignored", {"+"}, "g").request_subscriptions() ==
                 V{"$share/g/channels/+/messages/registry/proplet"},
             boost::test_tools::per_element());
  BOOST_TEST(Topics(TopicScheme::supermq, "t", {"a", "b"}).request_subscriptions() ==
                 (V{"m/t/c/a/registry/proplet", "m/t/c/b/registry/proplet"}),
             boost::test_tools::per_element());
  BOOST_TEST(Topics(TopicScheme::supermq, "+", {"+"}, "g").request_subscriptions() ==
                 V{"$share/g/m/+/c/+/registry/proplet"},
             boost::test_tools::per_element());
}
