#include "nodes/common/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>

#include <algorithm>
#include <atomic>

#include "nodes/common/json_text.hpp"

namespace pp::log {

namespace {

std::atomic<bool> g_json{false};

// logfmt: bare when the value is a plain token, quoted (with \" and \\ escapes) otherwise.
void append_logfmt_value(std::string& out, std::string_view v) {
  const bool plain =
      !v.empty() && v.find_first_of(" \"=\\") == std::string_view::npos &&
      std::all_of(v.begin(), v.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x20; });
  if (plain) {
    out += v;
  } else {
    append_json_string(out, v);
  }
}

}  // namespace

void setup(const std::string& level, bool json) {
  g_json.store(json);
  auto logger = spdlog::stderr_logger_mt("propeller-proxy");
  logger->set_pattern(json ? R"({"ts":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l",%v})"
                           : "%Y-%m-%dT%H:%M:%S.%e%z %l %v");
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::trace);  // one line per event: an operator tails this live
  spdlog::set_default_logger(logger);
}

std::string render(std::string_view msg, std::initializer_list<Field> fields) {
  std::string out;
  if (g_json.load()) {
    out = "\"msg\":";
    append_json_string(out, msg);
    for (const Field& f : fields) {
      if (f.omitted) continue;
      out.push_back(',');
      append_json_string(out, f.key);
      out.push_back(':');
      if (f.number) {
        out += f.value;
      } else {
        append_json_string(out, f.value);
      }
    }
    return out;
  }
  out = msg;
  for (const Field& f : fields) {
    if (f.omitted) continue;
    out.push_back(' ');
    out += f.key;
    out.push_back('=');
    append_logfmt_value(out, f.value);
  }
  return out;
}

}  // namespace pp::log
