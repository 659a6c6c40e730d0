// Broker faults: a broker restart in the middle of a transfer pauses it, and it resumes from its
// first unacknowledged chunk once the proxy is connected again, without a second download; a
// subscriber that never reads holds up nobody. (A broker down at start: test_operability.)
#define BOOST_TEST_MODULE mqtt_faults
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <stdexcept>
#include <thread>

#include "tests/integration/stack.hpp"
#include "tests/support/fault_relay.hpp"
#include "tests/support/loopback_server.hpp"

using namespace pp::test;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_CASE(a_broker_restart_mid_transfer_resumes_it) {
  Stack s;
  const std::string big = random_wasm(64u << 20, 601), small = random_wasm(70'000, 602);
  s.pusher.push_wasm("big", "v1", big);
  s.pusher.push_wasm("small", "v1", small);
  // The relay holds the blob at 16 MiB until the test lets the rest through: the transfer is still
  // under way when the broker restarts, however slow the machine.
  FaultRelay relay({.target_port = s.registry.port(), .budget = 16u << 20});
  s.start_proxy({"PROXY_REGISTRY_URL=http://" + relay.host(), "PROXY_MAX_TRANSFERS=1"});
  PropletClient client(s.broker.url(), s.channel, 1, /*keep_bytes=*/true);
  const std::string app = relay.host() + "/big:v1", queued = relay.host() + "/small:v1";
  client.request(app);
  client.request(queued);  // waits for the transfer slot, across the restart
  BOOST_TEST_REQUIRE(client.wait_message_count(8, 60s));

  s.broker.stop();
  BOOST_TEST_REQUIRE(s.proxy->wait_log("lost the MQTT broker", 30s));
  // More of the blob arrives while the broker is away: its chunks are cut, meet the lost
  // connection and are parked, until the window is full and the download pauses.
  relay.allow(8u << 20);
  std::this_thread::sleep_for(500ms);
  s.broker.start();
  BOOST_TEST_REQUIRE(client.wait_connected(60s));
  BOOST_TEST_REQUIRE(s.proxy->wait_log("publishing chunks held while the broker was away", 60s));
  // The proplet may have missed chunks published before it was back, so it asks again, as a
  // proplet whose connection dropped does: it joins the transfer under way.
  client.request(app);
  BOOST_TEST_REQUIRE(s.proxy->wait_log("request joined", 60s));
  relay.open();
  BOOST_TEST((client.wait_complete(app, 120s) == std::optional<std::string>(big)));
  BOOST_TEST((client.wait_complete(queued, 60s) == std::optional<std::string>(small)));
  BOOST_TEST(s.proxy->wait_log("transfer completed app_name=" + queued, 30s));

  const std::string log = s.proxy->log();
  BOOST_TEST(log.find("lost the MQTT broker") != std::string::npos);
  BOOST_TEST(log.find("transfer failed") == std::string::npos, log);
  BOOST_TEST(log.find("requests=2 ") != std::string::npos);      // the second request joined
  BOOST_TEST(s.registry.count_requests("GET", "/blobs/") == 2);  // one download per app
}

namespace {

// An MQTT 3.1.1 client that connects, subscribes to `topic` with QoS 1, and once the broker has
// acknowledged the subscription never reads another byte: a device that hung. Raw bytes, because
// every client library reads.
class SubscriberThatNeverReads {
 public:
  SubscriberThatNeverReads(int port, const std::string& topic) {
    fd_ = connect_loopback(port);
    if (fd_ < 0) throw std::runtime_error("cannot connect to the broker");
    const int small = 4096;  // fills sooner
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    const timeval patience{30, 0};  // for the two acknowledgements below, on a loaded machine
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience);
    const std::string id = "never-reads";
    std::string connect = std::string("\x00\x04MQTT\x04\x02\x00\x3c", 10) + field(id);
    send_packet(0x10, connect);
    std::string subscribe = std::string("\x00\x01", 2) + field(topic) + '\x01';
    send_packet(0x82, subscribe);
    // CONNACK (accepted), then SUBACK for packet 1 (granted, not 0x80): the broker holds the
    // subscription, and queues for it from now on.
    unsigned char connack[4], suback[5];
    if (!recv_exact(fd_, connack, sizeof connack) || connack[0] != 0x20 || connack[3] != 0 ||
        !recv_exact(fd_, suback, sizeof suback) || suback[0] != 0x90 || suback[4] == 0x80) {
      ::close(fd_);
      throw std::runtime_error("the broker did not accept the subscription");
    }
  }
  ~SubscriberThatNeverReads() { ::close(fd_); }

 private:
  static std::string field(const std::string& s) {
    return std::string{static_cast<char>(s.size() >> 8), static_cast<char>(s.size() & 0xff)} + s;
  }
  void send_packet(unsigned char type, const std::string& body) {
    std::string packet(1, static_cast<char>(type));
    std::size_t n = body.size();
    do {  // the remaining length, 7 bits at a time
      unsigned char b = n % 128;
      n /= 128;
      packet.push_back(static_cast<char>(n > 0 ? b | 0x80 : b));
    } while (n > 0);
    packet += body;
    if (!send_all(fd_, packet.data(), packet.size())) throw std::runtime_error("send failed");
  }
  int fd_ = -1;
};

}  // namespace

// A subscriber on the channel that never reads does not hold up the proxy or the devices that
// do: the broker buffers for it (and drops at its queue limit), while the proxy's publishes are
// acknowledged as usual.
BOOST_AUTO_TEST_CASE(a_subscriber_that_never_reads_holds_up_nobody) {
  Stack s;
  const std::string a = random_wasm(4'000'000, 603), b = random_wasm(3'000'000, 604);
  s.pusher.push_wasm("a", "v1", a);
  s.pusher.push_wasm("b", "v1", b);
  s.start_proxy({"PROXY_CHUNK_SIZE=100000"});
  PropletClient client(s.broker.url(), s.channel);
  SubscriberThatNeverReads stuck(s.broker.port(), client.server_topic());
  client.request(s.ref("a", "v1"));
  BOOST_TEST((client.wait_complete(s.ref("a", "v1"), 60s) == std::optional<std::string>(a)));
  client.request(s.ref("b", "v1"));
  BOOST_TEST((client.wait_complete(s.ref("b", "v1"), 60s) == std::optional<std::string>(b)));
  BOOST_TEST(s.proxy->log().find("transfer failed") == std::string::npos);
}
