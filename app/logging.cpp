#include "app/logging.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace pp {

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_logger_mt("propeller-proxy");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %l %v");
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::trace);  // one line per event: an operator tails this live
  spdlog::set_default_logger(logger);
}

}  // namespace pp
