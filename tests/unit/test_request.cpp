#define BOOST_TEST_MODULE request
#include <boost/test/unit_test.hpp>
#include <string>

#include "nodes/stages/request.hpp"

namespace {
const std::string kTopic = "channels/ch-1/messages/registry/proplet";
// The limit the service is configured with here (PROXY_MAX_REQUEST_BYTES).
constexpr std::size_t kMaxBytes = 64 * 1024;
}  // namespace

BOOST_AUTO_TEST_CASE(valid_requests) {
  struct Case {
    std::string payload, app_name;
  };
  const Case cases[] = {
      {R"({"app_name":"127.0.0.1:5000/hello:v1"})", "127.0.0.1:5000/hello:v1"},
      {R"({"app_name":"hello"})", "hello"},
      {R"(  {"app_name" : "a/b@sha256:00", "extra": [1, 2]} )", "a/b@sha256:00"},
      {R"({"app_name":"x","chunks":null,"digest":null})", "x"},
      {R"({"app_name":"caf\u00e9"})", "caf\xc3\xa9"},  // validity of the reference is fetch's job
  };
  for (const auto& k : cases) {
    BOOST_TEST_CONTEXT(k.payload) {
      const auto r = pp::parse_request(pp::Incoming{kTopic, k.payload}, kMaxBytes);
      BOOST_TEST(!r.error.has_value());
      BOOST_TEST(r.request.app_name == k.app_name);
      BOOST_TEST(r.request.origin.channel == "ch-1");
      BOOST_TEST(r.request.origin.tenant == "");
    }
  }
}

BOOST_AUTO_TEST_CASE(invalid_requests_say_why) {
  struct Case {
    std::string topic, payload, message;
  };
  const Case cases[] = {
      {kTopic, "", "not valid JSON"},
      {kTopic, "hello", "not valid JSON"},
      {kTopic, R"({"app_name":)", "not valid JSON"},
      {kTopic, "[1,2]", "not a JSON object"},
      {kTopic, "\"x\"", "not a JSON object"},
      {kTopic, "{}", "has no \"app_name\""},
      {kTopic, R"({"app":"x"})", "has no \"app_name\""},
      {kTopic, R"({"app_name":5})", "is not a string"},
      {kTopic, R"({"app_name":null})", "is not a string"},
      {kTopic, R"({"app_name":["x"]})", "is not a string"},
      {kTopic, R"({"app_name":""})", "is empty"},
      {kTopic, R"({"app_name":"a\nb"})", "control character"},
      {kTopic, R"({"app_name":"a\u0000b"})", "control character"},
      {kTopic, "{\"app_name\":\"" + std::string(1025, 'a') + "\"}", "longer than 1024"},
      {kTopic, std::string(kMaxBytes + 1, ' '), "exceeds the limit"},
      {"channels/ch/messages/registry/server", R"({"app_name":"x"})", "not a request topic"},
      {"channels//messages/registry/proplet", R"({"app_name":"x"})", "not a request topic"},
      {"channels/a/b/messages/registry/proplet", R"({"app_name":"x"})", "not a request topic"},
      {kTopic, R"({"app_name":"x","chunks":3})", "not an array of chunk indices"},
      {kTopic, R"({"app_name":"x","chunks":[]})", "\"chunks\" is empty"},
      {kTopic, R"({"app_name":"x","chunks":[1,-2]})", "holds -2, not a chunk index"},
      {kTopic, R"({"app_name":"x","chunks":[1.5]})", "holds 1.5, not a chunk index"},
      {kTopic, R"({"app_name":"x","chunks":["1"]})", "holds \"1\", not a chunk index"},
      {kTopic, R"({"app_name":"x","chunks":[[1]]})", "holds array, not a chunk index"},
      {kTopic, R"({"app_name":"x","chunks":[{"a":1}]})", "holds object, not a chunk index"},
      {kTopic, R"({"app_name":"x","chunks":[")" + std::string(100, 'z') + R"("]})",
       "holds string, not a chunk index"},
      // Found by fuzz_request: describing this element used to recurse 20 000 deep.
      {kTopic,
       R"({"app_name":"x","chunks":)" + std::string(20'001, '[') + std::string(20'001, ']') + "}",
       "holds array, not a chunk index"},
      {kTopic, R"({"app_name":"x","digest":"abc"})", "\"digest\" is not a digest"},
      {kTopic, R"({"app_name":"x","digest":7})", "\"digest\" is not a digest"},
  };
  for (const auto& k : cases) {
    BOOST_TEST_CONTEXT(k.topic << " " << k.payload.substr(0, 60)) {
      const auto r = pp::parse_request(pp::Incoming{k.topic, k.payload}, kMaxBytes);
      BOOST_TEST_REQUIRE(r.error.has_value());
      BOOST_TEST(r.error->code == pp::errc::invalid_request);
      BOOST_TEST(r.error->message.find(k.message) != std::string::npos, r.error->message);
    }
  }
}

BOOST_AUTO_TEST_CASE(resend_requests) {
  struct Case {
    std::string payload;
    std::vector<std::uint64_t> chunks = {};
    std::string digest = {};
  };
  const std::string d = "sha256:" + std::string(64, 'a');
  const Case cases[] = {
      {R"({"app_name":"x","chunks":[3]})", {3}},
      {R"({"app_name":"x","chunks":[9,3,9,0]})", {0, 3, 9}},  // sorted, once each
      {R"({"app_name":"x","digest":")" + d + "\"}", {}, d},
      {R"({"app_name":"x","chunks":[1],"digest":")" + d + "\"}", {1}, d},
  };
  for (const auto& k : cases) {
    BOOST_TEST_CONTEXT(k.payload) {
      const auto r = pp::parse_request(pp::Incoming{kTopic, k.payload}, kMaxBytes);
      BOOST_TEST(!r.error.has_value());
      BOOST_TEST(r.request.chunks == k.chunks, boost::test_tools::per_element());
      BOOST_TEST(r.request.digest == k.digest);
    }
  }
}

// PROXY_MAX_REQUEST_BYTES: a payload over the limit is refused unread, whatever it holds.
BOOST_AUTO_TEST_CASE(the_size_limit_is_the_configured_one) {
  const std::string ok = R"({"app_name":"x"})";
  BOOST_TEST(!pp::parse_request(pp::Incoming{kTopic, ok}, ok.size()).error.has_value());
  const auto r = pp::parse_request(pp::Incoming{kTopic, ok}, ok.size() - 1);
  BOOST_TEST_REQUIRE(r.error.has_value());
  BOOST_TEST(r.error->message.find("exceeds the limit of 15 (PROXY_MAX_REQUEST_BYTES)") !=
             std::string::npos);
  BOOST_TEST(r.request.app_name.empty());
  BOOST_TEST(r.request.origin.channel == "ch-1");  // still answered on its channel
}

BOOST_AUTO_TEST_CASE(rejection_keeps_what_was_parsed_for_the_answer) {
  const auto r = pp::parse_request(pp::Incoming{kTopic, R"({"app_name":5})"}, kMaxBytes);
  BOOST_TEST(r.request.origin.channel == "ch-1");
  const auto s = pp::parse_request(pp::Incoming{"m/t-1/c/ch-2/registry/proplet", "{}"}, kMaxBytes);
  BOOST_TEST(s.request.origin.tenant == "t-1");
  BOOST_TEST(s.request.origin.channel == "ch-2");
}
