#include "core/process.hpp"

#include <malloc.h>
#include <sched.h>
#include <sys/resource.h>

#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
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

double available_memory_bytes() {
  double avail = -1;
  std::ifstream meminfo("/proc/meminfo");
  for (std::string key; meminfo >> key;) {
    double kb = 0;
    meminfo >> kb;
    if (key == "MemAvailable:") avail = kb * 1024.0;
    meminfo.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  const auto stat_value = [](const std::string& file, const std::string& key) {
    std::ifstream in(file);
    std::string k;
    double v = 0;
    while (in >> k >> v)
      if (k == key) return v;
    return 0.0;
  };
  // One cgroup folder: its limit less what it uses that cannot be reclaimed.
  const auto limit_left = [&](const std::string& dir, bool v2) {
    std::ifstream lf(dir + (v2 ? "/memory.max" : "/memory.limit_in_bytes"));
    std::ifstream uf(dir + (v2 ? "/memory.current" : "/memory.usage_in_bytes"));
    double limit = 0, usage = 0;
    // "max" (v2) fails to parse: no limit; v1 says no limit with a value near 2^63.
    if (!(lf >> limit) || !(uf >> usage) || limit <= 0 || limit > 1e18) return;
    const double cache = stat_value(dir + "/memory.stat", v2 ? "inactive_file" : "total_inactive_file");
    const double left = std::max(0.0, limit - std::max(0.0, usage - cache));
    avail = avail >= 0 ? std::min(avail, left) : left;
  };
  std::ifstream cg("/proc/self/cgroup");
  for (std::string line; std::getline(cg, line);) {
    const std::size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1);
    const bool v2 = controllers.empty();
    if (!v2 && ("," + controllers + ",").find(",memory,") == std::string::npos) continue;
    const std::string root = v2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/memory";
    // The process's cgroup and every one above it (a SLURM job's limit sits above its step's).
    for (std::string path = line.substr(b + 1); !path.empty() && path != "/"; path = path.substr(0, path.rfind('/')))
      limit_left(root + path, v2);
    // And the mount's root: inside a container with its own cgroup namespace the path reads "/"
    // (v2), or names the host's folder, absent here (v1), and the container's limit is the
    // root's. (A host's root has none: no file (v2), or no limit (v1).)
    limit_left(root, v2);
  }
  return avail;
}

}  // namespace annamosaic
