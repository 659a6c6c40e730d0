// The proxy's I/O outside the flow graph, driven from several threads at once as the graph's
// workers drive it, against a real mosquitto and a real docker-registry: the MQTT client (Paho's
// threads calling back into ours, publishes from many threads, a broker restart under way) and the
// HTTP I/O thread with the registry client (work posted from many threads, downloads paused by the
// receiver and resumed or cancelled from elsewhere). tests/run also runs this under
// ThreadSanitizer: Paho and libcurl synchronise through pthreads, which TSan sees, so everything
// our code shares with their threads is checked there.
#define BOOST_TEST_MODULE io_threads
#include <boost/test/unit_test.hpp>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "nodes/clients/mqtt/mqtt_client.hpp"
#include "nodes/clients/oci/registry_client.hpp"
#include "tests/integration/stack.hpp"

using namespace pp::test;
using namespace std::chrono_literals;

namespace {

template <class Predicate>
bool eventually(Predicate done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

}  // namespace

BOOST_AUTO_TEST_CASE(mqtt_publishes_from_many_threads_through_a_broker_restart) {
  Mosquitto broker;
  pp::mqtt::ClientOptions options;
  options.address = broker.url();
  options.client_id = "io-threads";
  pp::mqtt::Client client(options);
  std::mutex mutex;
  std::map<std::string, int> received;  // by payload
  std::atomic<int> ready_changes{0};
  client.on_message([&](std::string_view, std::string_view payload) {
    std::lock_guard lock(mutex);
    ++received[std::string(payload)];
  });
  client.on_connection([&](bool) { ready_changes.fetch_add(1); });
  client.start({"io/+"});
  BOOST_TEST_REQUIRE(client.wait_ready(30s));

  constexpr int kThreads = 4, kEach = 200;
  std::atomic<int> acknowledged{0}, lost{0}, refused{0};
  std::string refusal;
  const auto publish_all = [&](const std::string& round) {
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kEach; ++i) {
          client.publish("io/" + std::to_string(t),
                         round + std::to_string(t) + "/" + std::to_string(i), 1,
                         [&](pp::mqtt::Client::Published result, std::string reason) {
                           if (result == pp::mqtt::Client::Published::refused) {
                             std::lock_guard lock(mutex);
                             refusal = reason;
                           }
                           switch (result) {
                             case pp::mqtt::Client::Published::acknowledged:
                               acknowledged.fetch_add(1);
                               break;
                             case pp::mqtt::Client::Published::connection_lost:
                               lost.fetch_add(1);
                               break;
                             case pp::mqtt::Client::Published::refused:
                               refused.fetch_add(1);
                               break;
                           }
                         });
        }
      });
    }
    for (auto& t : threads)
      t.join();
  };

  publish_all("a");
  BOOST_TEST(eventually([&] { return acknowledged.load() == kThreads * kEach; }, 30s));
  BOOST_TEST(eventually(
      [&] {
        std::lock_guard lock(mutex);
        return received.size() == static_cast<std::size_t>(kThreads * kEach);
      },
      30s));

  // Publishes race the broker going away and coming back: each ends acknowledged or lost, never
  // silently, and the client is ready again afterwards.
  std::thread restart([&] {
    broker.stop();
    std::this_thread::sleep_for(300ms);
    broker.start();
  });
  publish_all("b");
  restart.join();
  BOOST_TEST_REQUIRE(client.wait_ready(30s));
  BOOST_TEST(eventually(
      [&] { return acknowledged.load() + lost.load() + refused.load() == 2 * kThreads * kEach; },
      60s));
  BOOST_TEST(refused.load() == 0, refusal);
  BOOST_TEST(eventually([&] { return ready_changes.load() >= 3; }, 10s));  // ready, lost, ready
  publish_all("c");
  BOOST_TEST(
      eventually([&] { return acknowledged.load() + lost.load() == 3 * kThreads * kEach; }, 30s));
  client.stop();
}

namespace {

// Collects a blob and pauses it at every delivery after one it took: on_data returns kPause, and
// curl keeps those bytes until the download is resumed. Taking a delivery is not a pause: until
// curl offers the next one, it may still hand over the rest of the blob in it, so only a refused
// delivery counts as paused.
class PausingSink : public pp::oci::BlobSink {
 public:
  std::size_t on_data(const char* data, std::size_t size) override {
    std::lock_guard lock(mutex_);
    if (hold_) {
      paused_ = true;
      ++pauses_;
      changed_.notify_all();
      return pp::oci::HttpHandler::kPause;
    }
    bytes_.append(data, size);
    hold_ = true;
    return size;
  }
  void on_end(std::optional<pp::Error> error) override {
    std::lock_guard lock(mutex_);
    ended_ = true;
    error_ = std::move(error);
    changed_.notify_all();
  }
  // Waits until the sink refused a delivery (true) or the download ended (false).
  bool wait_paused() {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, 60s, [&] { return paused_ || ended_; });
    return paused_ && !ended_;
  }
  // Takes the next delivery (the one refused) again: call before resuming the download, which may
  // offer it at once.
  void release() {
    std::lock_guard lock(mutex_);
    paused_ = false;
    hold_ = false;
  }
  bool wait_ended() {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 60s, [&] { return ended_; });
  }
  std::string bytes() {
    std::lock_guard lock(mutex_);
    return bytes_;
  }
  std::optional<pp::Error> error() {
    std::lock_guard lock(mutex_);
    return error_;
  }
  int pauses() {
    std::lock_guard lock(mutex_);
    return pauses_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::string bytes_;
  bool hold_ = false;    // the next delivery is refused
  bool paused_ = false;  // a delivery was refused and not released yet
  int pauses_ = 0;
  bool ended_ = false;
  std::optional<pp::Error> error_;
};

}  // namespace

BOOST_AUTO_TEST_CASE(registry_client_driven_from_many_threads) {
  Registry registry;
  RegistryPusher pusher(registry.url());
  constexpr int kApps = 4;
  std::vector<std::string> wasm;
  for (int i = 0; i < kApps; ++i) {
    wasm.push_back(random_wasm(400'000 + i, 700 + i));
    pusher.push_wasm("app" + std::to_string(i), "v1", wasm.back());
  }
  pp::oci::HttpIo io;
  pp::oci::RegistryOptions options;
  options.url = {"http", registry.host()};
  pp::oci::RegistryClient client(io, options);

  // Manifests asked for from several threads at once; answers arrive on the I/O thread.
  std::mutex mutex;
  std::vector<pp::oci::Descriptor> layers(kApps);
  std::atomic<int> answered{0};
  std::vector<std::thread> askers;
  for (int i = 0; i < kApps; ++i) {
    askers.emplace_back([&, i] {
      const auto ref =
          pp::oci::parse_reference(registry.host() + "/app" + std::to_string(i) + ":v1", "");
      io.post([&, i, ref = *ref] {
        client.fetch_manifest(ref, [&, i](pp::Expected<pp::oci::ResolvedManifest> m) {
          if (m) {
            std::lock_guard lock(mutex);
            layers[static_cast<std::size_t>(i)] = m->manifest.layers.at(0);
          }
          answered.fetch_add(1);
        });
      });
    });
  }
  for (auto& t : askers)
    t.join();
  BOOST_TEST_REQUIRE(eventually([&] { return answered.load() == kApps; }, 20s));

  // Blobs downloaded at once, each paused by its sink at every delivery after one it took and
  // resumed from a thread of its own; the last one cancelled half-way from yet another thread, at
  // a pause: curl then holds bytes the sink has not taken, so the download cannot have ended
  // complete before the cancel.
  std::vector<std::shared_ptr<PausingSink>> sinks;
  std::vector<std::shared_ptr<pp::oci::RegistryClient::Call>> calls(kApps);
  std::vector<std::thread> resumers;
  std::atomic<bool> missing_call{false};
  std::atomic<std::size_t> cancelled_at{0};  // bytes the last sink had taken when cancelled
  for (int i = 0; i < kApps; ++i)
    sinks.push_back(std::make_shared<PausingSink>());  // all of them before the I/O thread looks
  for (int i = 0; i < kApps; ++i) {
    const auto ref =
        *pp::oci::parse_reference(registry.host() + "/app" + std::to_string(i) + ":v1", "");
    std::lock_guard lock(mutex);
    const std::string digest = layers[static_cast<std::size_t>(i)].digest;
    io.post([&, i, ref, digest] {
      auto call = client.fetch_blob(ref, digest, sinks[static_cast<std::size_t>(i)]);
      std::lock_guard calls_lock(mutex);
      calls[static_cast<std::size_t>(i)] = std::move(call);
    });
  }
  for (int i = 0; i < kApps; ++i) {
    resumers.emplace_back([&, i] {
      auto& sink = *sinks[static_cast<std::size_t>(i)];
      const bool cancel_half_way = i == kApps - 1;
      while (sink.wait_paused()) {
        std::shared_ptr<pp::oci::RegistryClient::Call> call;
        {
          std::lock_guard lock(mutex);
          call = calls[static_cast<std::size_t>(i)];
        }
        // Set before the download's first byte: the same task on the I/O thread started it.
        if (!call) {
          missing_call.store(true);
          break;
        }
        // One delivery is at most the 128 KiB receive buffer, so a pause comes past 200 000 bytes
        // of the 400 003 and before the end.
        const std::size_t taken = sink.bytes().size();
        if (cancel_half_way && taken > 200'000) {
          cancelled_at.store(taken);
          io.post([call] { call->cancel(); });
          break;
        }
        sink.release();
        io.post([call] { call->resume(); });
      }
    });
  }
  for (auto& t : resumers)
    t.join();
  BOOST_TEST(!missing_call.load());
  for (int i = 0; i < kApps; ++i) {
    BOOST_TEST_CONTEXT("app" << i) {
      auto& sink = *sinks[static_cast<std::size_t>(i)];
      const std::string& blob = wasm[static_cast<std::size_t>(i)];
      BOOST_TEST_REQUIRE(sink.wait_ended());
      BOOST_TEST(sink.pauses() > 0);
      if (i == kApps - 1) {
        BOOST_TEST_REQUIRE(cancelled_at.load() > 0u, "never paused past 200 000 bytes");
        BOOST_TEST(sink.error().has_value());
        BOOST_TEST(sink.bytes().size() == cancelled_at.load());  // nothing taken after the cancel
        BOOST_TEST(sink.bytes().size() < blob.size());
        BOOST_TEST((sink.bytes() == blob.substr(0, sink.bytes().size())));
      } else {
        BOOST_TEST(!sink.error().has_value());
        BOOST_TEST((sink.bytes() == blob));
      }
    }
  }
}
