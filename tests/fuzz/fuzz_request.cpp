// libFuzzer target: an MQTT request payload (the fuzz input) on a valid request topic, through
// parse_request. Besides the sanitizers, it checks what the rest of the pipeline relies on when
// a request is accepted.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "nodes/clients/oci/digest.hpp"
#include "nodes/stages/request.hpp"

namespace {

// Both topic schemes; which one an input gets depends on its length, so that the seeds stay plain
// JSON.
const std::string kChannelsTopic = "channels/ch-1/messages/registry/proplet";
// The limit the service is configured with here (PROXY_MAX_REQUEST_BYTES).
constexpr std::size_t kMaxBytes = 64 * 1024;
const std::string kSupermqTopic = "m/tenant-1/c/ch-1/registry/proplet";

void check(bool condition) {
  if (!condition) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const bool supermq = size % 2 == 1;
  const pp::Incoming incoming{supermq ? kSupermqTopic : kChannelsTopic,
                              std::string(reinterpret_cast<const char*>(data), size)};
  const pp::ParsedRequest parsed = pp::parse_request(incoming, kMaxBytes);

  // The topic is valid, so the origin is always known (answers and refusals go there).
  check(parsed.request.origin.channel == "ch-1");
  check(parsed.request.origin.tenant == (supermq ? "tenant-1" : ""));
  if (parsed.error) {
    check(parsed.error->code == pp::errc::invalid_request);
    check(!parsed.error->message.empty());
    return 0;
  }
  const std::string& name = parsed.request.app_name;
  check(!name.empty() && name.size() <= pp::kMaxAppNameBytes);
  check(std::none_of(name.begin(), name.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }));
  const auto& chunks = parsed.request.chunks;
  check(std::adjacent_find(chunks.begin(), chunks.end(), [](std::uint64_t a, std::uint64_t b) {
          return a >= b;
        }) == chunks.end());  // ascending, no duplicates
  check(parsed.request.digest.empty() || pp::oci::is_digest(parsed.request.digest));
  return 0;
}
