#pragma once
// Logging: spdlog to stderr with timestamps and levels. verbosity -1 = warnings only (-q),
// 0 = info (default), 1 = debug (-v), 2 = trace (-vv).
#include <spdlog/spdlog.h>

namespace annamosaic {

void init_logging(int verbosity);
int logging_verbosity();

}  // namespace annamosaic
