#include "tests/unit/fake_broker.hpp"

namespace pp::test {

FakeBroker::FakeBroker() : acks_([this] { run(); }) {}

FakeBroker::~FakeBroker() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  acks_.join();
}

void FakeBroker::publish(const std::string& topic, std::string_view payload, int qos,
                         PublishDone done) {
  {
    std::lock_guard lock(mutex_);
    if (connected_) {
      pending_.push_back({Message{topic, std::string(payload), qos}, std::move(done)});
      changed_.notify_all();
      return;
    }
    ++lost_;
  }
  // As Paho's client refuses a publish while it is down: at once, on the caller's thread.
  done(Published::connection_lost, "not connected");
}

void FakeBroker::on_connection(ConnectionHook hook) {
  std::lock_guard lock(mutex_);
  hook_ = std::move(hook);
}

void FakeBroker::connect() {
  ConnectionHook hook;
  {
    std::lock_guard lock(mutex_);
    connected_ = true;
    hook = hook_;
  }
  if (hook) hook(true);
}

void FakeBroker::disconnect() {
  ConnectionHook hook;
  std::deque<Pending> in_flight;
  {
    std::lock_guard lock(mutex_);
    connected_ = false;
    hook = hook_;
    in_flight.swap(pending_);
    lost_ += in_flight.size();
  }
  if (hook) hook(false);
  for (Pending& p : in_flight)
    p.done(Published::connection_lost, "connection lost");
}

std::vector<FakeBroker::Message> FakeBroker::messages() const {
  std::lock_guard lock(mutex_);
  return messages_;
}

std::size_t FakeBroker::lost() const {
  std::lock_guard lock(mutex_);
  return lost_;
}

bool FakeBroker::wait_for(const Condition& condition, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return condition(messages_); });
}

bool FakeBroker::wait_acknowledged(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return pending_.empty() && !acknowledging_; });
}

void FakeBroker::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    changed_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
    if (stopping_) return;
    Pending p = std::move(pending_.front());
    pending_.pop_front();
    messages_.push_back(p.message);
    acknowledging_ = true;
    changed_.notify_all();
    // Outside the lock: the callback publishes again, or drops the connection.
    lock.unlock();
    p.done(Published::acknowledged, "");
    lock.lock();
    acknowledging_ = false;
    changed_.notify_all();
  }
}

}  // namespace pp::test
