// What a requester hears on the status topic: resolving, downloading, sending (at most once a
// second, with the chunks acknowledged so far), then completed or failed; "busy" when too many
// requests wait; and the shutdown grace.
#define BOOST_TEST_MODULE status
#include <signal.h>

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/integration/stack.hpp"

using namespace pp::test;
using namespace std::chrono_literals;

namespace {

constexpr auto kTimeout = 20s;

std::vector<std::string> states(const std::vector<nlohmann::json>& messages) {
  std::vector<std::string> out;
  for (const auto& m : messages)
    out.push_back(m.value("state", "?"));
  return out;
}

// When the proxy logged the first line holding `needle`.
std::optional<std::chrono::system_clock::time_point> line_time(const std::string& log,
                                                               const std::string& needle) {
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    if (line.find(needle) != std::string::npos) return log_line_time(line);
  }
  return std::nullopt;
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items)
    out += item + " ";
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_transfer_reports_each_state_in_order) {
  Stack s;
  const std::string wasm = random_wasm(600'000, 91);
  const Desc layer = s.pusher.push_wasm("status", "v1", wasm);
  // Small chunks and a narrow window, so that sending takes a while.
  s.start_proxy({"PROXY_CHUNK_SIZE=1000", "PROXY_CHUNK_WINDOW=2"});
  PropletClient client(s.broker.url(), s.channel);
  const std::string app = s.ref("status", "v1");
  const auto started = std::chrono::steady_clock::now();
  client.request(app);
  BOOST_TEST_REQUIRE(client.wait_complete(app, 60s).has_value());
  const auto final_status = client.wait_status(app, kTimeout);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  BOOST_TEST_REQUIRE(final_status.has_value());

  const auto messages = client.status_messages(app);
  const auto seen = states(messages);
  BOOST_TEST_REQUIRE(seen.size() >= 4u, joined(seen));
  BOOST_TEST(seen[0] == "resolving", joined(seen));
  BOOST_TEST(seen[1] == "downloading", joined(seen));
  BOOST_TEST(seen[2] == "sending", joined(seen));
  BOOST_TEST(seen.back() == "completed", joined(seen));
  std::uint64_t last_sent = 0;
  for (std::size_t i = 2; i + 1 < messages.size(); ++i) {
    BOOST_TEST(seen[i] == "sending", joined(seen));
    const auto sent = messages[i].value("chunks_sent", std::uint64_t{0});
    BOOST_TEST(sent > last_sent);  // progress moves forward
    BOOST_TEST(sent < 600u);       // and is never the whole module
    last_sent = sent;
    BOOST_TEST(messages[i].value("total_chunks", 0) == 600);
  }
  // At most one "sending" a second (plus the first).
  BOOST_TEST(seen.size() - 3 <= static_cast<std::size_t>(seconds) + 2, seconds << " s");
  BOOST_TEST(messages[1].value("digest", "") == layer.digest);
  BOOST_TEST(messages.back().value("digest", "") == layer.digest);
  BOOST_TEST(messages.back().value("size", 0) == 600'000);
  BOOST_TEST(messages.back().value("total_chunks", 0) == 600);
}

BOOST_AUTO_TEST_CASE(failures_report_what_was_reached) {
  Stack s;
  s.start_proxy();
  PropletClient client(s.broker.url(), s.channel);
  const std::string missing = s.ref("nothing-here", "v1");
  client.request(missing);
  const auto failed = client.wait_status(missing, kTimeout);
  BOOST_TEST_REQUIRE(failed.has_value());
  BOOST_TEST(joined(states(client.status_messages(missing))) == "resolving failed ");
  BOOST_TEST(failed->at("error").value("code", "") == "not_found");
  // A request refused outright was never resolving.
  client.publish_raw(client.request_topic(), R"({"app_name":"bad ref!"})");
  BOOST_TEST_REQUIRE(client.wait_status("bad ref!", kTimeout).has_value());
  BOOST_TEST(joined(states(client.status_messages("bad ref!"))) == "failed ");
  client.publish_raw(client.request_topic(), R"({"app_name":"x","extra":)");
  BOOST_TEST(s.proxy->wait_log("code=invalid_request", kTimeout));
}

// One transfer slot and one place in the queue: a request for a third app hears "busy" at once,
// and the first two still complete. (A second request for a queued app joins it instead.)
BOOST_AUTO_TEST_CASE(past_the_queue_limit_a_request_hears_busy) {
  Stack s;
  Registry slow;
  RegistryPusher slow_pusher(slow.url());
  const std::string a = random_wasm(5000, 92), b = random_wasm(6000, 93);
  slow_pusher.push_wasm("a", "v1", a);
  slow_pusher.push_wasm("b", "v1", b);
  slow_pusher.push_wasm("c", "v1", random_wasm(100, 94));
  s.start_proxy(
      {"PROXY_MAX_TRANSFERS=1", "PROXY_QUEUE_LIMIT=1", "PROXY_REGISTRY_ALLOW=" + slow.host()});
  PropletClient client(s.broker.url(), s.channel);
  const std::string app_a = slow.host() + "/a:v1", app_b = slow.host() + "/b:v1",
                    app_c = slow.host() + "/c:v1";

  BOOST_TEST_REQUIRE(kill(slow.pid(), SIGSTOP) == 0);
  client.request(app_a);  // takes the slot, stuck on the frozen registry
  BOOST_TEST(s.proxy->wait_log("request accepted app_name=" + app_a, kTimeout));
  client.request(app_b);  // waits
  BOOST_TEST(s.proxy->wait_log("request accepted app_name=" + app_b, kTimeout));
  client.request(app_b);  // joins the waiting transfer of b
  client.request(app_c);  // one too many
  const auto busy = client.wait_status(app_c, kTimeout);
  BOOST_TEST_REQUIRE(busy.has_value());
  BOOST_TEST(busy->at("error").value("code", "") == "busy");
  BOOST_TEST(busy->at("error").value("message", "").find("PROXY_QUEUE_LIMIT") != std::string::npos);

  BOOST_TEST_REQUIRE(kill(slow.pid(), SIGCONT) == 0);
  BOOST_TEST((client.wait_complete(app_a, kTimeout) == std::optional<std::string>(a)));
  BOOST_TEST((client.wait_complete(app_b, kTimeout) == std::optional<std::string>(b)));
  BOOST_TEST(s.proxy->wait_log("transfer completed app_name=" + app_b, kTimeout));
  BOOST_TEST(s.proxy->log().find("requests=2") != std::string::npos);
}

// SIGTERM waits PROXY_SHUTDOWN_GRACE for running transfers, then fails them with shutting_down
// and still exits 0.
BOOST_AUTO_TEST_CASE(shutdown_cancels_after_the_grace_and_says_so) {
  Stack s;
  Registry frozen;
  RegistryPusher frozen_pusher(frozen.url());
  frozen_pusher.push_wasm("held", "v1", random_wasm(5000, 94));
  s.start_proxy({"PROXY_SHUTDOWN_GRACE=1s", "PROXY_REGISTRY_ALLOW=" + frozen.host()});
  PropletClient client(s.broker.url(), s.channel);
  const std::string app = frozen.host() + "/held:v1";
  BOOST_TEST_REQUIRE(kill(frozen.pid(), SIGSTOP) == 0);
  client.request(app);
  BOOST_TEST(s.proxy->wait_log("request accepted app_name=" + app, kTimeout));
  const auto stopping = std::chrono::steady_clock::now();
  BOOST_TEST(s.proxy->process().stop(20s) == 0);
  // At least the grace: the client's stopwatch runs around the proxy's wait.
  BOOST_TEST((std::chrono::steady_clock::now() - stopping >= 900ms));
  // And not much more, on the proxy's clock (the client's also counts the time the loaded machine
  // takes to deliver the signal and to let the test see the exit).
  const auto shutting_down = line_time(s.proxy->log(), " info shutting down ");
  const auto stopped = line_time(s.proxy->log(), " info stopped");
  BOOST_TEST_REQUIRE((shutting_down && stopped), s.proxy->log());
  BOOST_TEST((*stopped - *shutting_down < 8s));
  const auto status = client.wait_status(app, kTimeout);
  BOOST_TEST_REQUIRE(status.has_value());
  BOOST_TEST(status->at("error").value("code", "") == "shutting_down");
  BOOST_TEST(s.proxy->log().find("stopped") != std::string::npos);
  s.proxy.reset();  // stopped already
  kill(frozen.pid(), SIGCONT);
}

// PROXY_STATUS_TOPIC moves status messages to a topic of the operator's choosing, or turns them
// off; chunks stay where proplets expect them.
BOOST_AUTO_TEST_CASE(the_status_topic_is_configurable) {
  Stack s;
  const std::string wasm = random_wasm(3000, 95);
  s.pusher.push_wasm("moved", "v1", wasm);
  const std::string app = s.ref("moved", "v1");
  s.start_proxy({"PROXY_STATUS_TOPIC=fleet/{channel}/status"});
  PropletClient client(s.broker.url(), s.channel);
  PropletClient watcher(s.broker.url(), "fleet/" + s.channel + "/");  // .../status only matters
  client.request(app);
  BOOST_TEST((client.wait_complete(app, kTimeout) == std::optional<std::string>(wasm)));
  const auto status = watcher.wait_status(app, kTimeout);
  BOOST_TEST_REQUIRE(status.has_value());
  BOOST_TEST(status->value("state", "") == "completed");
  // Whatever else the proxy publishes for the request (on either topic) has arrived by now.
  s.drain(client);
  BOOST_TEST_REQUIRE(watcher.sync());
  BOOST_TEST(joined(states(watcher.status_messages(app))) ==
             "resolving downloading completed ");  // one chunk: nothing to report between
  BOOST_TEST(client.status_messages(app).empty());

  s.start_proxy({"PROXY_STATUS_TOPIC=off"});
  client.forget(app);
  watcher.forget(app);
  client.request(app);
  BOOST_TEST((client.wait_complete(app, kTimeout) == std::optional<std::string>(wasm)));
  BOOST_TEST(s.proxy->wait_log("transfer completed", kTimeout));
  // A status message would have followed the last chunk, and come before the markers' answers.
  s.drain(client);
  BOOST_TEST_REQUIRE(watcher.sync());
  BOOST_TEST(client.status_messages(app).empty());
  BOOST_TEST(watcher.status_messages(app).empty());
}
