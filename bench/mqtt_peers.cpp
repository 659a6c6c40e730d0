#include "bench/mqtt_peers.hpp"

#include <unistd.h>

#include <future>
#include <stdexcept>

#include "tests/support/tcp.hpp"

namespace pp::bench {

namespace {

std::string unique_id(const char* role) {
  static std::atomic<unsigned> seq{0};
  return std::string("pp-bench-") + role + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(++seq);
}

std::string mqtt_error(const std::string& what, int rc) {
  return what + ": " + MQTTAsync_strerror(rc) + " (" + std::to_string(rc) + ")";
}

// The outcome of one Paho call: its callbacks go into the options, then wait() for the code.
struct Outcome {
  std::promise<int> promise;

  template <class Options>
  void bind(Options& opts) {
    opts.context = &promise;
    opts.onSuccess = [](void* p, MQTTAsync_successData*) {
      static_cast<std::promise<int>*>(p)->set_value(MQTTASYNC_SUCCESS);
    };
    opts.onFailure = [](void* p, MQTTAsync_failureData* d) {
      static_cast<std::promise<int>*>(p)->set_value(d ? d->code : MQTTASYNC_FAILURE);
    };
  }
  // `rc`: what the call itself returned.
  int wait(int rc) {
    if (rc != MQTTASYNC_SUCCESS) return rc;
    auto result = promise.get_future();
    return result.wait_for(std::chrono::seconds(20)) == std::future_status::ready
               ? result.get()
               : MQTTASYNC_FAILURE;
  }
};

// A connected client (clean session, MQTT 3.1.1), or std::runtime_error. `on_message` may be null.
MQTTAsync connect(const std::string& broker_url, const char* role, void* context,
                  MQTTAsync_messageArrived* on_message) {
  MQTTAsync client = nullptr;
  int rc = MQTTAsync_create(&client, broker_url.c_str(), unique_id(role).c_str(),
                            MQTTCLIENT_PERSISTENCE_NONE, nullptr);
  if (rc != MQTTASYNC_SUCCESS) throw std::runtime_error(mqtt_error("MQTTAsync_create", rc));
  MQTTAsync_setCallbacks(client, context, nullptr, on_message, nullptr);
  Outcome connected;
  MQTTAsync_connectOptions opts = MQTTAsync_connectOptions_initializer;
  opts.keepAliveInterval = 60;
  opts.cleansession = 1;
  opts.connectTimeout = 10;
  opts.MQTTVersion = MQTTVERSION_3_1_1;
  opts.maxInflight = 65535;
  connected.bind(opts);
  rc = connected.wait(MQTTAsync_connect(client, &opts));
  if (rc != MQTTASYNC_SUCCESS) {
    MQTTAsync_destroy(&client);
    throw std::runtime_error(mqtt_error("connect to " + broker_url, rc));
  }
  test::disable_nagle_towards(test::url_port(broker_url));
  return client;
}

void disconnect(MQTTAsync& client) {
  if (!client) return;
  MQTTAsync_disconnectOptions opts = MQTTAsync_disconnectOptions_initializer;
  opts.timeout = 1000;
  MQTTAsync_disconnect(client, &opts);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  MQTTAsync_destroy(&client);
}

}  // namespace

// --- Fleet ------------------------------------------------------------------------------------

struct Fleet::Subscriber {
  Fleet* fleet = nullptr;
  MQTTAsync client = nullptr;
  std::atomic<std::uint64_t> messages{0};
  std::atomic<std::uint64_t> bytes{0};
  std::atomic<std::int64_t> first_ns{0};  // Clock ticks; 0: none yet
  std::atomic<std::int64_t> last_ns{0};

  static int on_message(void* self, char* topic, int, MQTTAsync_message* message) {
    auto* s = static_cast<Subscriber*>(self);
    const std::int64_t now = Clock::now().time_since_epoch().count();
    std::int64_t none = 0;
    s->first_ns.compare_exchange_strong(none, now);
    s->last_ns.store(now);
    s->bytes.fetch_add(static_cast<std::uint64_t>(message->payloadlen));
    const std::uint64_t n = s->messages.fetch_add(1) + 1;
    MQTTAsync_freeMessage(&message);
    MQTTAsync_free(topic);
    if (n == s->fleet->expected_.load()) {
      std::lock_guard lock(s->fleet->mutex_);
      s->fleet->done_.notify_all();
    }
    return 1;
  }
};

Fleet::Fleet(const std::string& broker_url, const std::string& topic, int qos, std::size_t size) {
  // Paho connects one client at a time per round of its shared thread: connect concurrently.
  std::vector<std::future<std::unique_ptr<Subscriber>>> pending;
  for (std::size_t i = 0; i < size; ++i) {
    pending.push_back(std::async(std::launch::async, [&, this] {
      auto s = std::make_unique<Subscriber>();
      s->fleet = this;
      s->client = connect(broker_url, "sub", s.get(), Subscriber::on_message);
      Outcome subscribed;
      MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
      subscribed.bind(opts);
      const int rc = subscribed.wait(MQTTAsync_subscribe(s->client, topic.c_str(), qos, &opts));
      if (rc != MQTTASYNC_SUCCESS) {
        disconnect(s->client);
        throw std::runtime_error(mqtt_error("subscribe to " + topic, rc));
      }
      return s;
    }));
  }
  std::exception_ptr error;
  for (auto& p : pending) {
    try {
      subscribers_.push_back(p.get());
    } catch (...) {
      error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

Fleet::~Fleet() {
  for (auto& s : subscribers_)
    disconnect(s->client);
}

void Fleet::expect(std::uint64_t messages_each) {
  expected_.store(messages_each);
  for (auto& s : subscribers_) {
    s->messages.store(0);
    s->bytes.store(0);
    s->first_ns.store(0);
    s->last_ns.store(0);
  }
}

bool Fleet::wait(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return done_.wait_for(lock, timeout, [&] {
    for (const auto& s : subscribers_)
      if (s->messages.load() < expected_.load()) return false;
    return true;
  });
}

Delivery Fleet::delivery() const {
  Delivery d;
  std::int64_t first = 0, last = 0;
  for (const auto& s : subscribers_) {
    const std::int64_t f = s->first_ns.load(), l = s->last_ns.load();
    if (f != 0 && (first == 0 || f < first)) first = f;
    last = std::max(last, l);
    d.messages += s->messages.load();
    d.bytes += s->bytes.load();
  }
  d.first = Clock::time_point(Clock::duration(first));
  d.last = Clock::time_point(Clock::duration(last));
  return d;
}

// --- Publisher --------------------------------------------------------------------------------

struct Publisher::State {
  std::mutex mutex;
  std::condition_variable changed;
  std::size_t outstanding = 0;
  int failure = MQTTASYNC_SUCCESS;
};

Publisher::Publisher(const std::string& broker_url)
    : client_(connect(broker_url, "pub", nullptr,
                      [](void*, char* topic, int, MQTTAsync_message* m) {
                        MQTTAsync_freeMessage(&m);
                        MQTTAsync_free(topic);
                        return 1;
                      })),
      state_(std::make_unique<State>()) {}

Publisher::~Publisher() {
  disconnect(client_);
}

void Publisher::publish_all(const std::string& topic, const std::vector<std::string>& messages,
                            int qos, std::size_t window) {
  State& st = *state_;
  for (const std::string& m : messages) {
    {
      std::unique_lock lock(st.mutex);
      st.changed.wait(lock, [&] { return st.outstanding < window || st.failure; });
      if (st.failure) break;
      ++st.outstanding;
    }
    MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
    opts.context = &st;
    opts.onSuccess = [](void* p, MQTTAsync_successData*) {
      auto* s = static_cast<State*>(p);
      std::lock_guard lock(s->mutex);
      --s->outstanding;
      s->changed.notify_all();
    };
    opts.onFailure = [](void* p, MQTTAsync_failureData* d) {
      auto* s = static_cast<State*>(p);
      std::lock_guard lock(s->mutex);
      --s->outstanding;
      s->failure = d ? d->code : MQTTASYNC_FAILURE;
      s->changed.notify_all();
    };
    const int rc =
        MQTTAsync_send(client_, topic.c_str(), static_cast<int>(m.size()), m.data(), qos, 0, &opts);
    if (rc != MQTTASYNC_SUCCESS) {
      std::lock_guard lock(st.mutex);
      --st.outstanding;
      st.failure = rc;
      break;
    }
  }
  std::unique_lock lock(st.mutex);
  st.changed.wait(lock, [&] { return st.outstanding == 0; });
  if (st.failure) throw std::runtime_error(mqtt_error("publish to " + topic, st.failure));
}

void Publisher::publish(const std::string& topic, const std::string& message, int qos) {
  publish_all(topic, {message}, qos, 1);
}

}  // namespace pp::bench
