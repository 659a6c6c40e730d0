#pragma once
// Structured log events: a message and named fields, rendered on one line either as logfmt text
// (`2026-…Z info transfer completed app_name=… duration_ms=12`) or as one JSON object
// (`{"ts":…,"level":"info","msg":"transfer completed","app_name":…,"duration_ms":12}`).
// Every log line of the service goes through here, so the JSON stream stays parseable. Secrets are
// never passed as fields: nothing here could tell them apart.

#include <spdlog/spdlog.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "nodes/common/error.hpp"

namespace pp::log {

struct Field {
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(v) {}
  Field(std::string_view k, std::uint64_t v) : key(k), value(std::to_string(v)), number(true) {}
  Field(std::string_view k, long long v) : key(k), value(std::to_string(v)), number(true) {}
  Field(std::string_view k, int v) : key(k), value(std::to_string(v)), number(true) {}

  std::string_view key;
  std::string value;
  bool number = false;
  bool omitted = false;  // left out of the line (see if_set)
};

// A field that appears only when it has a value (e.g. the tenant, which only SuperMQ topics have).
inline Field if_set(std::string_view key, const std::string& value) {
  Field f(key, value);
  f.omitted = value.empty();
  return f;
}

// Installs the process's logger (stderr) in text or JSON form at `level`.
void setup(const std::string& level, bool json);

// The payload of one event (without timestamp and level), in the current form.
std::string render(std::string_view msg, std::initializer_list<Field> fields);

inline void event(spdlog::level::level_enum level, std::string_view msg,
                  std::initializer_list<Field> fields = {}) {
  if (!spdlog::should_log(level)) return;
  spdlog::log(level, "{}", render(msg, fields));
}
inline void debug(std::string_view msg, std::initializer_list<Field> f = {}) {
  event(spdlog::level::debug, msg, f);
}
inline void info(std::string_view msg, std::initializer_list<Field> f = {}) {
  event(spdlog::level::info, msg, f);
}
inline void warn(std::string_view msg, std::initializer_list<Field> f = {}) {
  event(spdlog::level::warn, msg, f);
}
inline void error(std::string_view msg, std::initializer_list<Field> f = {}) {
  event(spdlog::level::err, msg, f);
}

// Runs `f` on a library's thread (`thread`: Paho's, the HTTP I/O thread), where nothing may unwind
// through the library's C frames: what escapes is logged as an internal error in `what`. False
// then. Callers fail their own work before it gets here; this is the last line.
template <class F>
bool contained(std::string_view thread, std::string_view what, F&& f) noexcept {
  const auto problem = internal_error_in(what, std::forward<F>(f));
  if (problem) error("internal error", {{"thread", thread}, {"error", problem->message}});
  return !problem;
}

}  // namespace pp::log
