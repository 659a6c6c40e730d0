// A flood of hostile requests cannot grow the proxy's memory, fill its log, or hold up anyone
// else: thousands of ~60 KB request messages, published at QoS 0 as fast as `mosquitto_pub -l`
// sends them on 20 channels, each naming a registry outside the allow list (some over
// PROXY_MAX_REQUEST_BYTES). Messages past the intake are dropped unread, refusals are logged about
// once a second per channel with a count, and a good request right after the flood is served.
#define BOOST_TEST_MODULE flood
#include <boost/test/unit_test.hpp>
#include <sstream>

#include "tests/integration/stack.hpp"
#include "tests/support/metrics.hpp"

using namespace pp::test;
using namespace std::chrono_literals;

namespace {

constexpr int kChannels = 20;
constexpr int kPerChannel = 275;  // 5 500 in all
constexpr std::size_t kPad = 60'000, kOversizePad = 100'000;

std::size_t count_lines(const std::string& text, const std::string& needle = "") {
  std::istringstream in(text);
  std::size_t n = 0;
  for (std::string line; std::getline(in, line);)
    n += line.find(needle) != std::string::npos ? 1 : 0;
  return n;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_flood_of_requests_cannot_grow_memory) {
  Stack s;
  const std::string wasm = random_wasm(200'000, 81);
  s.pusher.push_wasm("good", "v1", wasm);
  ProxyProcess proxy({"PROPLET_MQTT_ADDRESS=" + s.broker.url(), "PROPLET_CHANNEL_ID=+",
                      "PROXY_REGISTRY_URL=" + s.registry.url(), "PROXY_LOG_LEVEL=info"});
  PropletClient calm(s.broker.url(), "calm");
  const std::string app = s.ref("good", "v1");
  // Once before the flood, so that "idle" includes what serving a request costs.
  calm.request(app);
  BOOST_TEST_REQUIRE((calm.wait_complete(app, 30s) == std::optional<std::string>(wasm)));
  const pid_t pid = proxy.process().pid();
  const long idle_kib = vm_rss_kib(pid).value_or(0);
  BOOST_TEST_REQUIRE(idle_kib > 0);
  const std::size_t log_before = count_lines(proxy.log());

  // One file of request lines per channel; every tenth one is over PROXY_MAX_REQUEST_BYTES.
  TempDir dir("pp-flood-");
  std::vector<std::string> files;
  int oversize = 0;
  for (int c = 0; c < kChannels; ++c) {
    std::string lines;
    for (int i = 0; i < kPerChannel; ++i) {
      const bool big = i % 10 == 9;
      oversize += big ? 1 : 0;
      lines += R"({"app_name":"evil.example/flood)" + std::to_string(c) + "-" + std::to_string(i) +
               R"(:v1","pad":")" + std::string(big ? kOversizePad : kPad, 'A') + "\"}\n";
    }
    files.push_back(dir.file("flood" + std::to_string(c) + ".txt"));
    write_file(files.back(), lines);
  }
  const auto started = std::chrono::steady_clock::now();
  std::vector<ChildProcess> publishers;
  for (int c = 0; c < kChannels; ++c) {
    const std::string topic = "channels/flood" + std::to_string(c) + "/messages/registry/proplet";
    publishers.emplace_back(
        std::vector<std::string>{"sh", "-c",
                                 "exec mosquitto_pub -h 127.0.0.1 -p " +
                                     std::to_string(s.broker.port()) + " -q 0 -t " + topic +
                                     " -l < " + files[static_cast<std::size_t>(c)]},
        std::vector<std::string>{}, dir.file("pub" + std::to_string(c) + ".log"));
  }
  for (auto& p : publishers) {
    const auto status = p.wait_exit(120s);
    BOOST_TEST_REQUIRE(status.has_value());
    BOOST_TEST(*status == 0, p.log());
  }
  const double flood_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  // Right after the flood, a good request on another channel is answered at once.
  calm.forget(app);
  calm.request(app);
  BOOST_TEST((calm.wait_complete(app, 2s) == std::optional<std::string>(wasm)));

  const long peak_kib = proxy.peak_rss_kib();
  BOOST_TEST_MESSAGE("flood of " << kChannels * kPerChannel << " messages in " << flood_s
                                 << " s: RSS " << idle_kib << " KiB idle, peak " << peak_kib
                                 << " KiB");
  BOOST_TEST(peak_kib < idle_kib + 64 * 1024);

  // A few seconds after, the flood has left nothing behind.
  const std::string metrics_url =
      "http://127.0.0.1:" + std::to_string(proxy.http_port()) + "/metrics";
  long after_kib = 0;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  for (;;) {
    after_kib = vm_rss_kib(pid).value_or(0);
    const bool drained = series(http_get(metrics_url).body, "propeller_proxy_intake") == 0;
    if ((drained && after_kib <= idle_kib * 12 / 10) || std::chrono::steady_clock::now() > deadline)
      break;
    std::this_thread::sleep_for(100ms);
  }
  BOOST_TEST_MESSAGE("RSS after the flood: " << after_kib << " KiB");
  BOOST_TEST(after_kib <= idle_kib * 12 / 10);

  // Dropped ones are counted; the rest were refused by name.
  const std::string metrics = http_get(metrics_url).body;
  const double too_large =
      series(metrics, R"(propeller_proxy_requests_dropped_total{reason="too_large"})");
  const double intake_full =
      series(metrics, R"(propeller_proxy_requests_dropped_total{reason="intake_full"})");
  const double not_allowed = series(metrics, R"(propeller_proxy_errors_total{code="not_allowed"})");
  BOOST_TEST_MESSAGE("dropped: " << too_large << " too large, " << intake_full
                                 << " with the intake full; refused not_allowed: " << not_allowed);
  BOOST_TEST(too_large > 0);
  BOOST_TEST(too_large <= oversize);
  BOOST_TEST(not_allowed > 0);
  BOOST_TEST(too_large + intake_full + not_allowed <= kChannels * kPerChannel);

  // The log holds a few lines a second of flood, not one per message, and says what it held back
  // (once the flood's last second is over: waited for).
  BOOST_TEST(proxy.wait_log("held_back=", 30s));
  const std::string log = proxy.log();
  const std::size_t lines = count_lines(log) - log_before;
  BOOST_TEST_MESSAGE("log lines during the flood: " << lines);
  BOOST_TEST(lines <= static_cast<std::size_t>(8 * (flood_s + 3)), log.substr(0, 6000));
  BOOST_TEST(count_lines(log, "request dropped unread") <= static_cast<std::size_t>(flood_s + 3));
  BOOST_TEST(proxy.process().stop(30s) == 0);
}
