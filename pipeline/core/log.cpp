#include "core/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace annamosaic {
namespace {
int g_verbosity = 0;
}

void init_logging(int verbosity) {
  g_verbosity = verbosity;
  auto logger = spdlog::stderr_color_mt("annamosaic");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%^%l%$] %v");
  spdlog::set_level(verbosity < 0   ? spdlog::level::warn
                    : verbosity == 0 ? spdlog::level::info
                    : verbosity == 1 ? spdlog::level::debug
                                     : spdlog::level::trace);
}

int logging_verbosity() { return g_verbosity; }

}  // namespace annamosaic
