// The benchmark driver (bench/run builds and runs it): a real mosquitto and docker-registry on
// loopback, the release propeller-proxy binary, and for every case the proxy's delivery measured
// side by side with what the same machine's registry and broker do alone, in the same run:
//   (a) registry only: the blobs' GETs, bytes discarded;
//   (b) broker only: the same chunk messages, pre-encoded, published with the same QoS and window
//       to the same subscribers;
//   (c) the larger of the two: the time a perfectly pipelined proxy would take.
// The proxy's time is reported as a ratio to (c). Results: CSV, a Markdown summary with the
// targets and a recommendation, and gnuplot data for the plots.
//
// The sweep varies one axis at a time around a base case (chunk 512000, window 10, QoS 1, one app,
// one subscriber): chunk size × blob size in full (the plots), and window, QoS, concurrency and
// fleet size at one blob size (--axis-size). A full cross product of five axes would take hours.

#include <curl/curl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "bench/mqtt_peers.hpp"
#include "nodes/model/chunk.hpp"
#include "tests/support/mosquitto.hpp"
#include "tests/support/proxy.hpp"
#include "tests/support/registry.hpp"
#include "tests/support/registry_push.hpp"

namespace fs = std::filesystem;
using namespace pp::bench;
using pp::test::Mosquitto;
using pp::test::ProxyProcess;
using pp::test::Registry;
using pp::test::RegistryPusher;

namespace {

constexpr std::size_t kBaseChunk = 512000, kBaseWindow = 10;
constexpr int kBaseQos = 1;
constexpr auto kCaseTimeout = std::chrono::minutes(10);
const std::string kChannel = "bench";
const std::string kServerTopic = "channels/" + kChannel + "/messages/registry/server";
const std::string kRequestTopic = "channels/" + kChannel + "/messages/registry/proplet";

struct Case {
  std::string axis;  // which axis this case varies ("chunk", "window", "qos", ...)
  std::uint64_t size = 0;
  std::size_t chunk = kBaseChunk;
  std::size_t window = kBaseWindow;
  int qos = kBaseQos;
  std::size_t concurrency = 1;
  std::size_t fleet = 1;
};

// One repetition of a case.
struct Sample {
  double first_ms = 0, last_ms = 0, mbps = 0, cpu_s = 0, rss_mib = 0;
  double registry_ms = 0, registry_first_byte_ms = 0, broker_ms = 0, ideal_ms = 0, ratio = 0;
  double cached_last_ms = 0, cached_ratio = 0;  // the same request again, from the cache
  std::uint64_t messages = 0, wire_bytes = 0;
};

struct Stat {
  double median = 0, min = 0, max = 0;
};

Stat stat_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  const double median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  return {median, v.front(), v.back()};
}

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// One app in the registry: its bytes, its reference, and its blob.
struct App {
  std::string wasm;
  std::string repo;
  std::string digest;
};

// CPU seconds (user + system) of a live process.
double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  // Fields after the command name, which is in parentheses and may hold spaces.
  std::istringstream rest(text.substr(text.rfind(')') + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; rest >> field; ++i) {
    if (i == 14) utime = std::stod(field);
    if (i == 15) {
      stime = std::stod(field);
      break;
    }
  }
  return (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

std::size_t discard(char*, std::size_t size, std::size_t n, void*) {
  return size * n;
}

// (a): every app's blob fetched at once, each on its own connection; the wall time until the last
// byte, and the first byte's time of the first.
std::pair<double, double> registry_baseline(const Registry& registry,
                                            const std::vector<const App*>& apps) {
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  std::vector<double> first_byte(apps.size());
  for (std::size_t i = 0; i < apps.size(); ++i) {
    threads.emplace_back([&, i] {
      CURL* curl = curl_easy_init();
      const std::string url = registry.url() + "/v2/" + apps[i]->repo + "/blobs/" + apps[i]->digest;
      curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
      curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
      curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
      curl_easy_perform(curl);
      curl_easy_getinfo(curl, CURLINFO_STARTTRANSFER_TIME, &first_byte[i]);
      curl_easy_cleanup(curl);
    });
  }
  for (auto& t : threads)
    t.join();
  return {ms_between(start, Clock::now()),
          1000 * *std::min_element(first_byte.begin(), first_byte.end())};
}

// The chunk messages the proxy would publish for `apps` at `chunk` bytes, built once per
// (apps, chunk) and kept for the repetitions.
const std::vector<std::string>& messages_for(const std::vector<const App*>& apps,
                                             const std::string& registry_host, std::size_t chunk) {
  static std::string key;
  static std::vector<std::string> messages;
  std::string k = std::to_string(chunk);
  for (const App* a : apps)
    k += " " + a->repo;
  if (k == key) return messages;
  key = k;
  messages.clear();
  for (const App* a : apps) {
    const std::uint64_t total = pp::total_chunks(a->wasm.size(), chunk);
    const pp::ChunkFramer framer(registry_host + "/" + a->repo + ":v1", a->digest, a->wasm.size(),
                                 total);
    for (std::uint64_t i = 0; i < total; ++i) {
      const std::size_t off = i * chunk;
      messages.push_back(framer.frame(i, std::string_view(a->wasm).substr(off, chunk)));
    }
  }
  return messages;
}

class Bench {
 public:
  Bench(std::size_t max_fleet) : publisher_(broker_.url()) { (void)max_fleet; }

  // Pushes `count` apps of `size` bytes (distinct content) and returns them.
  std::vector<const App*> apps(std::uint64_t size, std::size_t count) {
    std::vector<const App*> out;
    for (std::size_t i = 0; i < count; ++i) {
      const std::string repo = "bench-" + std::to_string(size) + "-" + std::to_string(i);
      auto it = apps_.find(repo);
      if (it == apps_.end()) {
        App app;
        app.wasm = pp::test::random_wasm(size, size * 131 + i);
        app.repo = repo;
        app.digest = pusher_.push_wasm(repo, "v1", app.wasm).digest;
        it = apps_.emplace(repo, std::move(app)).first;
      }
      out.push_back(&it->second);
    }
    return out;
  }

  Sample run(const Case& c) {
    const auto apps = this->apps(c.size, c.concurrency);
    Fleet& fleet = fleet_for(c.fleet, c.qos);
    const auto& messages = messages_for(apps, registry_.host(), c.chunk);
    const std::uint64_t each = messages.size();
    Sample s;

    // (a) the registry alone.
    std::tie(s.registry_ms, s.registry_first_byte_ms) = registry_baseline(registry_, apps);

    // (b) the broker alone.
    fleet.expect(each);
    const auto b_start = Clock::now();
    publisher_.publish_all(kServerTopic, messages, c.qos, c.window);
    if (!fleet.wait(kCaseTimeout))
      throw std::runtime_error("broker baseline: subscribers timed out");
    s.broker_ms = ms_between(b_start, fleet.delivery().last);
    s.ideal_ms = std::max(s.registry_ms, s.broker_ms);

    // The proxy.
    ProxyProcess proxy(
        {"PROPLET_MQTT_ADDRESS=" + broker_.url(), "PROPLET_CHANNEL_ID=" + kChannel,
         "PROXY_REGISTRY_URL=" + registry_.url(), "PROXY_CHUNK_SIZE=" + std::to_string(c.chunk),
         "PROXY_CHUNK_WINDOW=" + std::to_string(c.window),
         "PROXY_MQTT_QOS=" + std::to_string(c.qos),
         "PROXY_MAX_TRANSFERS=" + std::to_string(std::max<std::size_t>(16, c.concurrency)),
         "PROXY_MAX_BLOB_SIZE=" + std::to_string(std::uint64_t{1} << 31),
         // Each proxy process starts with an empty cache of its own (ProxyProcess): the first
         // request takes the registry path, as after a deployment; the second is served from it.
         "PROXY_CACHE_MAX_BYTES=" + std::to_string(std::uint64_t{4} << 30),
         "PROXY_LOG_LEVEL=info"});
    const auto deliver = [&] {
      fleet.expect(each);
      const auto start = Clock::now();
      for (const App* a : apps) {
        publisher_.publish(kRequestTopic,
                           R"({"app_name":")" + registry_.host() + "/" + a->repo + R"(:v1"})");
      }
      if (!fleet.wait(kCaseTimeout)) {
        throw std::runtime_error("proxy: subscribers timed out; its log:\n" + proxy.log());
      }
      const Delivery d = fleet.delivery();
      return std::make_tuple(ms_between(start, d.first), ms_between(start, d.last), d);
    };
    const double cpu_before = cpu_seconds(proxy.process().pid());
    Delivery d;
    std::tie(s.first_ms, s.last_ms, d) = deliver();
    s.cpu_s = cpu_seconds(proxy.process().pid()) - cpu_before;
    s.rss_mib = static_cast<double>(proxy.peak_rss_kib()) / 1024;
    s.mbps = static_cast<double>(c.size * c.concurrency) / 1e6 / (s.last_ms / 1000);
    s.ratio = s.last_ms / s.ideal_ms;
    s.messages = d.messages;
    s.wire_bytes = d.bytes;
    // Again, from the cache: the broker is then the only other party, so (b) is its ideal.
    std::tie(std::ignore, s.cached_last_ms, std::ignore) = deliver();
    s.cached_ratio = s.cached_last_ms / s.broker_ms;
    const int status = proxy.process().stop(std::chrono::seconds(30));
    if (status != 0) throw std::runtime_error("proxy exited with " + std::to_string(status));
    return s;
  }

 private:
  Fleet& fleet_for(std::size_t size, int qos) {
    const auto key = std::make_pair(size, qos);
    auto it = fleets_.find(key);
    if (it == fleets_.end()) {
      fleets_.clear();  // one fleet at a time: 100 idle subscribers still cost the broker
      it = fleets_.emplace(key, std::make_unique<Fleet>(broker_.url(), kServerTopic, qos, size))
               .first;
    }
    return *it->second;
  }

  Mosquitto broker_;
  Registry registry_;
  RegistryPusher pusher_{registry_.url()};
  Publisher publisher_;
  std::map<std::string, App> apps_;
  std::map<std::pair<std::size_t, int>, std::unique_ptr<Fleet>> fleets_;
};

struct Result {
  Case c;
  std::vector<Sample> samples;
  Stat get(double Sample::*field) const {
    std::vector<double> v;
    for (const Sample& s : samples)
      v.push_back(s.*field);
    return stat_of(v);
  }
};

// Blob sizes are given in MB (10^6 bytes), chunk sizes in KiB/MiB or bytes (512000, the default,
// is printed as such: it is the value operators set).
std::string human_bytes(std::uint64_t n) {
  if (n >= (1u << 20) && n % (1u << 20) == 0) return std::to_string(n >> 20) + " MiB";
  if (n >= 1000000 && n % 1000000 == 0) return std::to_string(n / 1000000) + " MB";
  if (n >= 1024 && n % 1024 == 0 && n % 1000 != 0) return std::to_string(n >> 10) + " KiB";
  return std::to_string(n);
}

std::string fmt(double v, int precision = 1) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(precision) << v;
  return out.str();
}

// "median (min–max)".
std::string spread(const Stat& s, int precision = 1) {
  return fmt(s.median, precision) + " (" + fmt(s.min, precision) + "–" + fmt(s.max, precision) +
         ")";
}

const std::vector<std::pair<const char*, double Sample::*>> kMetrics = {
    {"first_chunk_ms", &Sample::first_ms},
    {"last_chunk_ms", &Sample::last_ms},
    {"mb_per_s", &Sample::mbps},
    {"proxy_cpu_s", &Sample::cpu_s},
    {"proxy_peak_rss_mib", &Sample::rss_mib},
    {"registry_only_ms", &Sample::registry_ms},
    {"registry_first_byte_ms", &Sample::registry_first_byte_ms},
    {"broker_only_ms", &Sample::broker_ms},
    {"ideal_ms", &Sample::ideal_ms},
    {"ratio_to_ideal", &Sample::ratio},
    {"cached_last_chunk_ms", &Sample::cached_last_ms},
    {"cached_ratio_to_broker", &Sample::cached_ratio},
};

void write_csv(const fs::path& path, const std::vector<Result>& results) {
  std::ofstream out(path);
  out << "axis,blob_bytes,chunk_bytes,window,qos,concurrency,fleet,repeats";
  for (const auto& [name, field] : kMetrics)
    out << "," << name << "_median," << name << "_min," << name << "_max";
  out << ",messages,wire_bytes\n";
  for (const Result& r : results) {
    out << r.c.axis << "," << r.c.size << "," << r.c.chunk << "," << r.c.window << "," << r.c.qos
        << "," << r.c.concurrency << "," << r.c.fleet << "," << r.samples.size();
    for (const auto& [name, field] : kMetrics) {
      const Stat s = r.get(field);
      out << "," << fmt(s.median, 3) << "," << fmt(s.min, 3) << "," << fmt(s.max, 3);
    }
    out << "," << r.samples.back().messages << "," << r.samples.back().wire_bytes << "\n";
  }
}

// gnuplot data: one block per blob size (chunk, MB/s, peak RSS), and the script for the plots.
void write_plots(const fs::path& dir, const std::vector<Result>& results) {
  std::map<std::uint64_t, std::vector<const Result*>> by_size;
  for (const Result& r : results)
    if (r.c.axis == "chunk") by_size[r.c.size].push_back(&r);
  std::ofstream data(dir / "chunk.dat");
  std::string titles;
  for (const auto& [size, rows] : by_size) {
    data << "# blob " << human_bytes(size) << "\n";
    for (const Result* r : rows) {
      data << r->c.chunk << " " << fmt(r->get(&Sample::mbps).median, 3) << " "
           << fmt(r->get(&Sample::rss_mib).median, 3) << "\n";
    }
    data << "\n\n";
    titles += (titles.empty() ? "" : " ") + std::string("'") + human_bytes(size) + "'";
  }
  std::ofstream plot(dir / "plots.gp");
  plot << "set terminal pngcairo size 900,560\nset logscale x 2\nset grid\n"
       << "set xlabel 'chunk size (KiB)'\nset format x '%.0f'\nset key left top\n"
       << "titles = \"" << titles << "\"\n"
       << "set output 'throughput.png'\nset ylabel 'delivered wasm MB/s (median)'\n"
       << "plot for [i=0:" << by_size.size() - 1
       << "] 'chunk.dat' index i using ($1/1024):2 with linespoints title word(titles, i+1)\n"
       << "set output 'peak_rss.png'\nset ylabel 'proxy peak RSS, MiB (median)'\n"
       << "plot for [i=0:" << by_size.size() - 1
       << "] 'chunk.dat' index i using ($1/1024):3 with linespoints title word(titles, i+1)\n";
}

// The GB/s of the per-chunk CPU path (base64 + JSON + sha256) from the micro-benchmarks' JSON.
std::optional<double> micro_gbps(const std::string& path) {
  if (path.empty()) return std::nullopt;
  std::ifstream in(path);
  const auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.contains("benchmarks")) return std::nullopt;
  for (const auto& b : j["benchmarks"]) {
    if (b.value("name", "").starts_with("BM_ChunkCpuPath") && b.contains("bytes_per_second")) {
      return b["bytes_per_second"].get<double>() / 1e9;
    }
  }
  return std::nullopt;
}

void write_summary(const fs::path& path, const std::vector<Result>& results,
                   const std::string& micro_json) {
  std::ofstream md(path);
  md << "# propeller-proxy benchmark\n\n"
     << "Each row: median (min–max) over the repetitions. *first*/*last*: from the request to the "
        "first chunk at any subscriber / the last chunk at the slowest one. *ideal*: the larger of "
        "the registry alone (the blobs' GETs) and the broker alone (the same messages published "
        "with the same QoS and window); *ratio* = last / ideal. *cached*: the same request again, "
        "answered from the proxy's cache, against the broker alone.\n\n";
  const auto table = [&](const std::string& axis, const std::string& title) {
    md << "## " << title << "\n\n"
       << "| blob | chunk | window | QoS | apps | subscribers | first ms | last ms | MB/s | "
          "proxy CPU s | peak RSS MiB | registry ms | broker ms | ratio | cached: last ms | "
          "cached: ratio to broker |\n"
       << "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
    for (const Result& r : results) {
      if (r.c.axis != axis) continue;
      md << "| " << human_bytes(r.c.size) << " | " << human_bytes(r.c.chunk) << " | " << r.c.window
         << " | " << r.c.qos << " | " << r.c.concurrency << " | " << r.c.fleet << " | "
         << spread(r.get(&Sample::first_ms)) << " | " << spread(r.get(&Sample::last_ms), 0) << " | "
         << spread(r.get(&Sample::mbps)) << " | " << spread(r.get(&Sample::cpu_s), 2) << " | "
         << spread(r.get(&Sample::rss_mib)) << " | " << fmt(r.get(&Sample::registry_ms).median, 0)
         << " | " << fmt(r.get(&Sample::broker_ms).median, 0) << " | "
         << spread(r.get(&Sample::ratio), 2) << " | " << spread(r.get(&Sample::cached_last_ms), 0)
         << " | " << spread(r.get(&Sample::cached_ratio), 2) << " |\n";
    }
    md << "\n";
  };
  table("chunk", "Chunk size × blob size (window 10, QoS 1, one app, one subscriber)");
  table("window", "In-flight window");
  table("qos", "QoS");
  table("concurrency", "Concurrent apps");
  table("fleet", "Subscribers of the same app");

  // The recommendation: at the largest blob measured, the chunk size with the best throughput
  // (within 5 %, the smaller peak RSS wins); the smallest window within 5 % of the best.
  const Result* best_chunk = nullptr;
  std::uint64_t largest = 0;
  for (const Result& r : results)
    if (r.c.axis == "chunk") largest = std::max(largest, r.c.size);
  for (const Result& r : results) {
    if (r.c.axis != "chunk" || r.c.size != largest) continue;
    if (!best_chunk) {
      best_chunk = &r;
      continue;
    }
    const double a = r.get(&Sample::mbps).median, b = best_chunk->get(&Sample::mbps).median;
    if (a > b * 1.05 || (a > b * 0.95 && r.get(&Sample::rss_mib).median <
                                             best_chunk->get(&Sample::rss_mib).median)) {
      best_chunk = &r;
    }
  }
  double best_window_mbps = 0;
  for (const Result& r : results)
    if (r.c.axis == "window")
      best_window_mbps = std::max(best_window_mbps, r.get(&Sample::mbps).median);
  const Result* best_window = nullptr;
  for (const Result& r : results) {
    if (r.c.axis != "window" || r.get(&Sample::mbps).median < best_window_mbps * 0.95) continue;
    if (!best_window || r.c.window < best_window->c.window) best_window = &r;
  }

  md << "## Targets\n\n";
  // End-to-end within 1.25x of (c) for blobs >= 16 MB at the recommended chunk size.
  if (best_chunk) {
    bool met = true;
    std::string worst;
    double worst_ratio = 0;
    for (const Result& r : results) {
      if (r.c.axis != "chunk" || r.c.chunk != best_chunk->c.chunk || r.c.size < 16'000'000)
        continue;
      const double ratio = r.get(&Sample::ratio).median;
      if (ratio > worst_ratio) {
        worst_ratio = ratio;
        worst = human_bytes(r.c.size);
      }
      met = met && ratio <= 1.25;
    }
    md << "- End-to-end time within 1.25× of the ideal for blobs ≥ 16 MB at "
       << human_bytes(best_chunk->c.chunk) << " chunks: **" << (met ? "met" : "missed")
       << "** (worst " << fmt(worst_ratio, 2) << "×, " << worst << ").\n";
    // Peak RSS flat in blob size.
    std::map<std::uint64_t, double> rss;
    for (const Result& r : results)
      if (r.c.axis == "chunk" && r.c.chunk == best_chunk->c.chunk)
        rss[r.c.size] = r.get(&Sample::rss_mib).median;
    if (rss.size() >= 2) {
      const double growth = rss.rbegin()->second - rss.begin()->second;
      md << "- Peak RSS flat in blob size: " << human_bytes(rss.rbegin()->first) << " "
         << fmt(rss.rbegin()->second) << " MiB vs " << human_bytes(rss.begin()->first) << " "
         << fmt(rss.begin()->second) << " MiB: **" << (growth * 1.048576 <= 10 ? "met" : "missed")
         << "** (" << fmt(growth) << " MiB apart; the target is 10 MB).\n";
    }
    // Time to first chunk under 20 ms plus the registry's own first byte.
    double worst_extra = 0;
    for (const Result& r : results) {
      if (r.c.axis != "chunk" || r.c.chunk != best_chunk->c.chunk) continue;
      worst_extra = std::max(worst_extra, r.get(&Sample::first_ms).median -
                                              r.get(&Sample::registry_first_byte_ms).median);
    }
    md << "- Time to first chunk under 20 ms plus the registry's first byte: **"
       << (worst_extra < 20 ? "met" : "missed") << "** (at most " << fmt(worst_extra)
       << " ms beyond it).\n";
  }
  if (const auto gbps = micro_gbps(micro_json)) {
    md << "- Per-chunk CPU path (base64 + JSON + sha256) ≥ 1 GB/s of wasm on one core: **"
       << (*gbps >= 1 ? "met" : "missed") << "** (" << fmt(*gbps, 2) << " GB/s).\n";
  }
  md << "\n## Recommendation for this machine\n\n";
  if (best_chunk) {
    md << "Chunk size **" << human_bytes(best_chunk->c.chunk) << "**";
    if (best_window) md << ", window **" << best_window->c.window << "**";
    md << ". At " << human_bytes(largest) << " it delivered "
       << fmt(best_chunk->get(&Sample::mbps).median) << " MB/s with a peak RSS of "
       << fmt(best_chunk->get(&Sample::rss_mib).median)
       << " MiB; larger chunks gained less than 5 % more throughput for more memory per chunk in "
          "flight (window × chunk × 2.3 for the bytes and their base64), and smaller ones pay "
          "the per-message cost of the broker more often.";
    if (best_window) {
      md << " The window of " << best_window->c.window
         << " is the smallest that came within 5 % of the best throughput measured ("
         << fmt(best_window_mbps) << " MB/s): a larger one only holds more memory.";
    }
    md << " A proplet's memory limits its chunk size too: it holds one chunk message at a time.\n";
  }
}

std::vector<std::uint64_t> parse_sizes(const std::vector<std::string>& items, std::uint64_t unit) {
  std::vector<std::uint64_t> out;
  for (const std::string& item : items) {
    std::uint64_t mult = unit;
    std::string digits = item;
    if (item.ends_with("KiB") || item.ends_with("K")) mult = 1024;
    if (item.ends_with("MiB") || item.ends_with("M")) mult = 1024 * 1024;
    if (item.ends_with("MB")) mult = 1000 * 1000;
    digits = item.substr(0, item.find_first_not_of("0123456789"));
    out.push_back(std::stoull(digits) * mult);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{
      "propeller-proxy benchmark: the proxy against registry-only and broker-only "
      "baselines, on this machine"};
  std::vector<std::string> sizes{"1", "16", "64", "200"};
  std::vector<std::string> chunks{"16K", "64K", "256K", "512000", "1M", "4M"};
  std::vector<std::size_t> windows{1, 4, 10, 32};
  std::vector<int> qos_levels{0, 1, 2};
  std::vector<std::size_t> concurrency{1, 4, 16};
  std::vector<std::size_t> fleets{1, 10, 100};
  std::string axis_size = "16";
  std::vector<std::string> axes{"chunk", "window", "qos", "concurrency", "fleet"};
  int repeat = 3;
  std::string out_dir = "bench/results/latest";
  std::string micro_json;
  cli.add_option("--sizes", sizes, "blob sizes in MB (1 MB = 10^6 bytes)")->delimiter(',');
  cli.add_option("--chunk-sizes", chunks, "chunk sizes (bytes, or with K/M for KiB/MiB)")
      ->delimiter(',');
  cli.add_option("--windows", windows, "in-flight windows")->delimiter(',');
  cli.add_option("--qos", qos_levels, "QoS levels")->delimiter(',');
  cli.add_option("--concurrency", concurrency, "distinct apps requested at once")->delimiter(',');
  cli.add_option("--fleet", fleets, "subscribers of the same app")->delimiter(',');
  cli.add_option("--axis-size", axis_size,
                 "blob size in MB for the window, QoS, concurrency and "
                 "fleet axes");
  cli.add_option("--axes", axes, "which axes to run")->delimiter(',');
  cli.add_option("--repeat", repeat, "repetitions of each case")->check(CLI::PositiveNumber);
  cli.add_option("--out", out_dir, "results directory");
  cli.add_option("--micro", micro_json, "the micro-benchmarks' JSON output, for the summary");
  CLI11_PARSE(cli, argc, argv);

  const auto blob_sizes = parse_sizes(sizes, 1000 * 1000);
  const auto chunk_sizes = parse_sizes(chunks, 1);
  const std::uint64_t axis_blob = parse_sizes({axis_size}, 1000 * 1000).front();
  const auto has_axis = [&](const char* a) {
    return std::find(axes.begin(), axes.end(), a) != axes.end();
  };
  std::vector<Case> cases;
  if (has_axis("chunk"))
    for (auto size : blob_sizes)
      for (auto chunk : chunk_sizes)
        cases.push_back({"chunk", size, static_cast<std::size_t>(chunk)});
  if (has_axis("window"))
    for (auto w : windows)
      cases.push_back({.axis = "window", .size = axis_blob, .window = w});
  if (has_axis("qos"))
    for (int q : qos_levels)
      cases.push_back({.axis = "qos", .size = axis_blob, .qos = q});
  if (has_axis("concurrency"))
    for (auto n : concurrency)
      cases.push_back({.axis = "concurrency", .size = axis_blob, .concurrency = n});
  if (has_axis("fleet"))
    for (auto n : fleets)
      cases.push_back({.axis = "fleet", .size = axis_blob, .fleet = n});

  fs::create_directories(out_dir);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  std::vector<Result> results;
  try {
    Bench bench(*std::max_element(fleets.begin(), fleets.end()));
    for (const Case& c : cases) {
      Result r{c, {}};
      for (int i = 0; i < repeat; ++i)
        r.samples.push_back(bench.run(c));
      std::cout << c.axis << " blob=" << human_bytes(c.size) << " chunk=" << human_bytes(c.chunk)
                << " window=" << c.window << " qos=" << c.qos << " apps=" << c.concurrency
                << " subscribers=" << c.fleet << ": last " << spread(r.get(&Sample::last_ms), 0)
                << " ms, " << spread(r.get(&Sample::mbps)) << " MB/s, ratio "
                << spread(r.get(&Sample::ratio), 2) << ", peak RSS "
                << spread(r.get(&Sample::rss_mib)) << " MiB; from the cache: last "
                << spread(r.get(&Sample::cached_last_ms), 0) << " ms, ratio to the broker "
                << spread(r.get(&Sample::cached_ratio), 2) << std::endl;
      results.push_back(std::move(r));
    }
  } catch (const std::exception& e) {
    std::cerr << "pp_bench: " << e.what() << "\n";
    return 1;
  }
  write_csv(fs::path(out_dir) / "cases.csv", results);
  write_plots(out_dir, results);
  write_summary(fs::path(out_dir) / "summary.md", results, micro_json);
  std::cout << "results in " << out_dir << "\n";
  return 0;
}
