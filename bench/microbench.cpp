// Micro-benchmarks of the per-chunk CPU path (Google Benchmark): base64 + JSON framing, sha256,
// both together (the target: at least 1 GB/s of wasm bytes on one core), and one chunk's trip
// through flow-graph stages shaped like the product's (parallel encode, sequencer, serial verify)
// without I/O.

#include <benchmark/benchmark.h>
#include <oneapi/tbb/flow_graph.h>

#include "nodes/clients/oci/digest.hpp"
#include "nodes/model/chunk.hpp"
#include "nodes/stages/verify.hpp"
#include "tests/support/registry_push.hpp"

namespace {

namespace flow = oneapi::tbb::flow;

const std::string& bytes_of(std::size_t n) {
  static std::string bytes = pp::test::random_wasm(4 << 20, 1);
  static std::string view;
  view.assign(bytes, 0, n);
  return view;
}

const pp::ChunkFramer& framer() {
  static const pp::ChunkFramer f("registry.example:5000/org/app:v1",
                                 "sha256:" + std::string(64, 'a'), 100'000'000, 196);
  return f;
}

void BM_Base64JsonFraming(benchmark::State& state) {
  const std::string& chunk = bytes_of(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    std::string message = framer().frame(7, chunk);
    benchmark::DoNotOptimize(message.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

void BM_Sha256(benchmark::State& state) {
  const std::string& chunk = bytes_of(static_cast<std::size_t>(state.range(0)));
  pp::oci::Hasher hasher;
  for (auto _ : state)
    hasher.update(chunk);
  benchmark::DoNotOptimize(hasher.finish_digest());
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

// What each chunk costs the proxy's CPU on its way out: framed, and hashed for the digest.
void BM_ChunkCpuPath(benchmark::State& state) {
  const std::string& chunk = bytes_of(static_cast<std::size_t>(state.range(0)));
  pp::oci::Hasher hasher;
  for (auto _ : state) {
    std::string message = framer().frame(7, chunk);
    hasher.update(chunk);
    benchmark::DoNotOptimize(message.data());
  }
  benchmark::DoNotOptimize(hasher.finish_digest());
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

// One chunk through encode (parallel) → cut order (sequencer) → verify (serial, the product's
// VerifyStage) → a sink, one at a time: the graph's own cost per chunk on top of the work.
void BM_GraphTrip(benchmark::State& state) {
  using ChunkPtr = std::shared_ptr<pp::Chunk>;
  const auto size = static_cast<std::size_t>(state.range(0));
  const std::string& chunk = bytes_of(size);
  auto transfer = std::make_shared<pp::Transfer>(1, pp::Request{}, pp::oci::Reference{}, size);
  pp::oci::Descriptor blob;
  blob.digest = "sha256:" + std::string(64, 'a');
  blob.size = (std::uint64_t{1} << 40) * size;  // never the last chunk: no digest check
  transfer->module = std::make_shared<const pp::Module>(
      "", blob, "registry.example:5000/org/app:v1", size, std::nullopt);
  flow::graph g;
  flow::function_node<ChunkPtr, ChunkPtr> encode(g, flow::unlimited, [](const ChunkPtr& c) {
    c->message = c->transfer->module->framer.frame(c->idx, c->bytes);
    return c;
  });
  flow::sequencer_node<ChunkPtr> order(g, [](const ChunkPtr& c) { return c->seq; });
  std::size_t published = 0;
  pp::VerifyStage stage(nullptr);
  flow::function_node<ChunkPtr, flow::continue_msg> verify(
      g, flow::serial, [&published, &stage](const ChunkPtr& c) {
        pp::VerifyStage::Verified v = stage.verify(std::move(*c));
        published += v.publish.has_value();
        return flow::continue_msg();
      });
  flow::make_edge(encode, order);
  flow::make_edge(order, verify);
  std::uint64_t seq = 0;
  for (auto _ : state) {
    auto c = std::make_shared<pp::Chunk>();
    c->transfer = transfer;
    c->seq = seq;
    c->idx = seq++;
    c->streamed = true;
    c->bytes = chunk;
    encode.try_put(std::move(c));
    g.wait_for_all();
  }
  if (published != seq) state.SkipWithError("a chunk did not come out of verify");
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

}  // namespace

BENCHMARK(BM_Base64JsonFraming)->Arg(16 << 10)->Arg(512000)->Arg(4 << 20);
BENCHMARK(BM_Sha256)->Arg(16 << 10)->Arg(512000)->Arg(4 << 20);
BENCHMARK(BM_ChunkCpuPath)->Arg(16 << 10)->Arg(512000)->Arg(4 << 20);
BENCHMARK(BM_GraphTrip)->Arg(16 << 10)->Arg(512000);

BENCHMARK_MAIN();
