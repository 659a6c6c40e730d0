// `propeller-proxy pull REF --out FILE`: asks a running proxy for a module over MQTT exactly as a
// proplet does, reassembles it, verifies its digest, and writes it. A tool for operators to check a
// deployment end to end, and for scripts (the exit status says what happened).

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>

#include "app/commands.hpp"
#include "app/config/sources.hpp"
#include "nodes/clients/mqtt/mqtt_client.hpp"
#include "nodes/clients/mqtt/topics.hpp"
#include "nodes/clients/oci/digest.hpp"
#include "nodes/model/chunk.hpp"

namespace pp {

namespace {

// What has arrived for the requested app, shared with Paho's thread.
struct Reassembly {
  std::mutex mutex;
  std::condition_variable changed;
  std::map<std::uint64_t, std::string> chunks;
  std::uint64_t total = 0;
  std::uint64_t size = 0;
  std::uint64_t bytes = 0;
  std::string digest;
  std::optional<Error> failure;  // from a "failed" status message

  bool complete() const { return total > 0 && chunks.size() == total; }
};

void on_chunk(Reassembly& r, const std::string& app, std::string_view payload) {
  const auto j = nlohmann::json::parse(payload, nullptr, false);
  if (!j.is_object() || j.value("app_name", "") != app) return;
  const auto idx = j.find("chunk_idx");
  const auto total = j.find("total_chunks");
  const auto data = j.find("data");
  if (idx == j.end() || !idx->is_number_unsigned() || total == j.end() ||
      !total->is_number_unsigned() || data == j.end() || !data->is_string()) {
    return;
  }
  auto bytes = base64_decode(data->get_ref<const std::string&>());
  if (!bytes) return;
  std::lock_guard lock(r.mutex);
  // Like a proplet: the first chunk fixes total_chunks; others that disagree are ignored.
  if (r.total == 0) {
    r.total = total->get<std::uint64_t>();
    r.digest = j.value("digest", "");
    r.size = j.value("size", std::uint64_t{0});
  }
  const auto i = idx->get<std::uint64_t>();
  if (total->get<std::uint64_t>() != r.total || i >= r.total || r.chunks.count(i)) return;
  r.bytes += bytes->size();
  r.chunks.emplace(i, std::move(*bytes));
  r.changed.notify_all();
}

void on_status(Reassembly& r, const std::string& app, std::string_view payload) {
  const auto j = nlohmann::json::parse(payload, nullptr, false);
  if (!j.is_object() || j.value("app_name", "") != app || j.value("state", "") != "failed") return;
  Error e{"failed", "the proxy reported a failure"};
  if (const auto err = j.find("error"); err != j.end() && err->is_object()) {
    e.code = err->value("code", e.code);
    e.message = err->value("message", e.message);
  }
  std::lock_guard lock(r.mutex);
  r.failure = std::move(e);
  r.changed.notify_all();
}

void draw_progress(const Reassembly& r) {
  constexpr int kWidth = 30;
  const double done = r.total ? static_cast<double>(r.chunks.size()) / r.total : 0.0;
  const int filled = static_cast<int>(done * kWidth);
  std::fprintf(stderr, "\r[%s%s] %3d%% %llu/%llu chunks %.1f MB", std::string(filled, '#').c_str(),
               std::string(kWidth - filled, '.').c_str(), static_cast<int>(done * 100),
               static_cast<unsigned long long>(r.chunks.size()),
               static_cast<unsigned long long>(r.total), r.bytes / 1e6);
  std::fflush(stderr);
}

int fail(const std::string& message, int status) {
  std::fprintf(stderr, "propeller-proxy pull: %s\n", message.c_str());
  return status;
}

}  // namespace

int run_pull(const Config& config, const std::string& reference, const std::string& out,
             std::chrono::seconds timeout) {
  const std::string& channel = config.channels.front();
  if (channel == "+" || config.channels.size() > 1) {
    return fail("pull asks on one channel: give --channel a single channel id", kExitUsage);
  }
  const bool supermq = config.topic_scheme == mqtt::TopicScheme::supermq;
  if (supermq && config.tenant == "+") {
    return fail("pull asks on one tenant: give --tenant a single tenant id", kExitUsage);
  }
  const mqtt::Origin origin{supermq ? config.tenant : "", channel};
  const std::string server_topic = mqtt::Topics::server(origin);
  std::vector<std::string> topics = {server_topic};
  // Without status messages, a failure shows only as the timeout.
  if (auto status = config.status_topic.for_origin(origin)) topics.push_back(*status);
  Reassembly r;
  mqtt::ClientOptions options =
      mqtt_client_options(config, "propeller-proxy-pull-" + std::to_string(getpid()));
  options.clean_session = true;  // a one-off client: nothing to come back to
  mqtt::Client client(options);
  client.on_message([&](std::string_view topic, std::string_view payload) {
    if (topic == server_topic) {
      on_chunk(r, reference, payload);
    } else {
      on_status(r, reference, payload);
    }
  });
  client.start(topics);
  if (!client.wait_ready(std::chrono::seconds(10))) {
    return fail("cannot subscribe at " + config.mqtt_address, kExitFailure);
  }

  const auto started = std::chrono::steady_clock::now();
  nlohmann::json request = {{"app_name", reference}};
  client.publish(mqtt::Topics::request(origin), request.dump(), 1,
                 [](mqtt::Client::Published, std::string) {});

  const bool tty = isatty(STDERR_FILENO);
  const auto deadline = started + timeout;
  std::unique_lock lock(r.mutex);
  while (!r.complete() && !r.failure && std::chrono::steady_clock::now() < deadline) {
    r.changed.wait_for(lock, std::chrono::milliseconds(100));
    if (tty) draw_progress(r);
  }
  if (tty) std::fputc('\n', stderr);
  if (r.failure) {
    return fail(reference + " failed: " + r.failure->code + ": " + r.failure->message,
                kExitFailure);
  }
  if (!r.complete()) {
    return fail("no complete answer for " + reference + " within " +
                    std::to_string(timeout.count()) + " s (" + std::to_string(r.chunks.size()) +
                    " of " + std::to_string(r.total) + " chunks)",
                kExitTimeout);
  }

  oci::Hasher hasher = oci::Hasher::for_digest(r.digest);
  for (const auto& [idx, bytes] : r.chunks)
    hasher.update(bytes);
  const std::string digest = hasher.finish_digest();
  if (digest != r.digest || r.bytes != r.size) {
    return fail("digest_mismatch: assembled " + std::to_string(r.bytes) + " bytes hashing to " +
                    digest + ", the proxy announced " + r.digest,
                kExitFailure);
  }
  const std::string tmp = out + ".partial";
  {
    std::ofstream file(tmp, std::ios::binary | std::ios::trunc);
    for (const auto& [idx, bytes] : r.chunks)
      file.write(bytes.data(), bytes.size());
    if (!file.flush()) return fail("cannot write " + tmp, kExitFailure);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, out, ec);
  if (ec) return fail("cannot write " + out + ": " + ec.message(), kExitFailure);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("pulled %s: %llu bytes, %s, %llu chunks in %.0f ms (%.1f MB/s) -> %s\n",
              reference.c_str(), static_cast<unsigned long long>(r.bytes), digest.c_str(),
              static_cast<unsigned long long>(r.total), seconds * 1000, r.bytes / 1e6 / seconds,
              out.c_str());
  return kExitOk;
}

}  // namespace pp
