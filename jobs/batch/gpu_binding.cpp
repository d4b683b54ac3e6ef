#include "batch/gpu_binding.hpp"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

extern char** environ;

namespace annamosaic {

namespace {
long get_long(const std::map<std::string, std::string>& env, const char* key, long fallback) {
  auto it = env.find(key);
  if (it == env.end()) return fallback;
  char* end = nullptr;
  const long v = std::strtol(it->second.c_str(), &end, 10);
  return end && *end == '\0' ? v : fallback;
}
}  // namespace

Binding choose_binding(const std::map<std::string, std::string>& env, int device_count, std::size_t threads_option,
                       std::size_t hardware_threads, int ranks_on_node, std::size_t affinity_cpus, int peer_index) {
  Binding b;
  // Node-local rank from the launcher: OpenMPI's mpirun, then SLURM's srun.
  b.local_rank = static_cast<int>(get_long(env, "OMPI_COMM_WORLD_LOCAL_RANK", get_long(env, "SLURM_LOCALID", 0)));
  if (auto it = env.find("CUDA_VISIBLE_DEVICES"); it != env.end()) b.visible_devices = it->second;
  if (device_count == 1) b.device = 0;
  else if (device_count > 1) b.device = (peer_index >= 0 ? peer_index : b.local_rank) % device_count;
  if (threads_option > 0) {
    b.threads = threads_option;
  } else if (const long cpus = get_long(env, "SLURM_CPUS_PER_TASK", 0); cpus > 0) {
    b.threads = static_cast<std::size_t>(cpus);
  } else {
    // Share the node's cores between the ranks on it, within what the launcher allows.
    b.threads = std::max<std::size_t>(1, hardware_threads / static_cast<std::size_t>(std::max(1, ranks_on_node)));
    if (affinity_cpus > 0 && affinity_cpus < b.threads) {
      b.warning = "the launcher bound this rank to " + std::to_string(affinity_cpus) + " CPU(s), fewer than its share of the node (" +
                  std::to_string(b.threads) + "); using " + std::to_string(affinity_cpus) +
                  ". With mpirun give each rank its share: --map-by slot:PE=" + std::to_string(b.threads) +
                  " (or --bind-to none); under SLURM use --cpus-per-task";
      b.threads = affinity_cpus;
    }
  }
  b.affinity_cpus = affinity_cpus;
  if (b.warning.empty() && affinity_cpus > 0 && b.threads > affinity_cpus)
    b.warning = std::to_string(b.threads) + " threads on " + std::to_string(affinity_cpus) +
                " CPU(s) of this rank's affinity mask: oversubscribed, each thread runs a fraction of the time";
  return b;
}

std::vector<int> peer_indices(const std::vector<std::string>& visible_per_rank) {
  std::vector<int> index(visible_per_rank.size(), 0);
  for (std::size_t r = 0; r < visible_per_rank.size(); ++r)
    for (std::size_t q = 0; q < r; ++q) index[r] += visible_per_rank[q] == visible_per_rank[r];
  return index;
}

std::string shared_gpu_warning(const std::vector<std::string>& visible_per_rank) {
  const std::vector<int> index = peer_indices(visible_per_rank);
  std::map<std::string, std::vector<std::size_t>> users;  // a GPU as the launcher names it -> ranks
  for (std::size_t r = 0; r < visible_per_rank.size(); ++r) {
    std::vector<std::string> ids;
    std::size_t start = 0;
    const std::string& v = visible_per_rank[r];
    while (start <= v.size()) {
      const std::size_t comma = std::min(v.find(',', start), v.size());
      if (comma > start) ids.push_back(v.substr(start, comma - start));
      start = comma + 1;
    }
    if (ids.size() < 2) continue;  // one GPU (or none named): the launcher's own choice
    users[ids[static_cast<std::size_t>(index[r]) % ids.size()]].push_back(r);
  }
  for (const auto& [gpu, ranks] : users)
    if (ranks.size() > 1) {
      std::string list;
      for (const std::size_t r : ranks) list += (list.empty() ? "" : ", ") + std::to_string(r);
      return "GPU " + gpu + " is used by " + std::to_string(ranks.size()) + " ranks of this node (local " + list +
             "): more ranks than the GPUs they see, or CUDA_VISIBLE_DEVICES sets of different sizes (srun "
             "--gpu-bind=closest over unevenly filled sockets?) while another GPU may idle; one rank per GPU is the "
             "design: --gpus-per-task=1, or as many ranks as GPUs";
    }
  return "";
}

std::string granted_gpus_unused(const std::map<std::string, std::string>& env, int device_count) {
  const auto it = env.find("CUDA_VISIBLE_DEVICES");
  if (device_count > 0 || it == env.end() || it->second.empty() || it->second == "NoDevFiles" || it->second[0] == '-')
    return "";
  return "CUDA_VISIBLE_DEVICES=" + it->second + ": GPU(s) were granted, but LibTorch sees no CUDA device (a CPU-only "
         "LibTorch such as Debian's, or no driver): running on the CPU (README \"The whole pipeline on a GPU node\": scripts/setup-gpu-node.sh builds annamosaic against a CUDA LibTorch)";
}

std::size_t auto_in_flight(const Binding& b) {
  if (b.device < 0) return 3;
  return std::clamp<std::size_t>(b.threads / 2, 3, 16);
}

std::map<std::string, std::string> current_environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    const std::string kv = *e;
    const auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return env;
}

}  // namespace annamosaic
