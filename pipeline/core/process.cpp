#include "core/process.hpp"

#include <malloc.h>
#include <sched.h>
#include <sys/resource.h>

#include <cstdlib>
#include <cstring>
#include <limits>
#include <thread>

namespace annamosaic {

bool keep_freed_memory_for_reuse() {
  if (const char* m = std::getenv("ANNAMOSAIC_MALLOC"); m && std::strcmp(m, "system") == 0) return false;
  bool ok = mallopt(M_ARENA_MAX, 1) == 1;             // worker threads share the main (brk) heap
  ok = mallopt(M_MMAP_MAX, 0) == 1 && ok;              // large blocks come from that heap too
  // ... and freed ones stay there: the top of the heap is returned only beyond 2 GiB free (the
  // largest value mallopt takes), i.e. not after every FoV.
  ok = mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max()) == 1 && ok;
  return ok;
}

std::size_t affinity_cpu_count() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return static_cast<std::size_t>(n);
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

std::string affinity_cpu_list() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return "?";
  std::string out;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (!CPU_ISSET(c, &set)) continue;
    int e = c;
    while (e + 1 < CPU_SETSIZE && CPU_ISSET(e + 1, &set)) ++e;
    if (!out.empty()) out += ",";
    out += e == c ? std::to_string(c) : std::to_string(c) + "-" + std::to_string(e);
    c = e;
  }
  return out;
}

double peak_rss_mb() {
  rusage u{};
  if (getrusage(RUSAGE_SELF, &u) != 0) return 0;
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // Linux reports KiB
}

}  // namespace annamosaic
