#pragma once
// Which GPU a rank uses and how many CPU threads it gets, from what the launcher provides.
// With one visible device use it; with several, local rank modulo device count. Never
// SLURM_LOCALID as a raw device number: under --gpus-per-task each rank sees only its own GPU,
// which is always device 0 of that rank (a frequent bug in public pipelines).
#include <cstddef>
#include <map>
#include <string>
#include <vector>

namespace annamosaic {

struct Binding {
  int local_rank = 0;
  int device = -1;              // CUDA device index within the visible set; -1: CPU
  std::string visible_devices;  // CUDA_VISIBLE_DEVICES as seen by the rank (for the log)
  std::size_t threads = 1;
  std::size_t affinity_cpus = 0; // CPUs the launcher lets this rank run on (0: unknown)
  // Non-empty when the threads and the CPUs disagree: more threads than CPUs (oversubscribed), or
  // fewer CPUs than this rank's share of the node (e.g. mpirun's default --bind-to core for
  // 2 or fewer ranks pins a lone rank to one core).
  std::string warning;
};

// env: the process environment (tests pass their own). device_count: devices the runtime sees
// (0 on CPU builds or without GPUs). threads_option > 0 overrides the allocation. Otherwise
// SLURM_CPUS_PER_TASK, else the node's cores divided among its ranks, but never more than the
// CPUs of the rank's affinity mask (affinity_cpus, 0 = unknown): threads beyond those only
// take turns on the same cores.
// peer_index: this rank's place among the node's ranks that see the same CUDA_VISIBLE_DEVICES
// (-1: unknown, the local rank is used). With several visible devices the device is peer_index
// modulo their count: under srun --gpu-bind=closest on two sockets, ranks 0 and 2 both see GPUs
// {0,1}, and local rank modulo 2 put both on GPU 0 while GPU 1 idled (a review of the SLURM side).
Binding choose_binding(const std::map<std::string, std::string>& env, int device_count, std::size_t threads_option,
                       std::size_t hardware_threads, int ranks_on_node, std::size_t affinity_cpus = 0, int peer_index = -1);

// For the ranks of one node, in order, given the CUDA_VISIBLE_DEVICES each sees: each rank's
// peer_index (its place among those that see the same set; choose_binding).
std::vector<int> peer_indices(const std::vector<std::string>& visible_per_rank);
// "" unless two of those ranks would use the same GPU: more ranks than GPUs, or sets of different
// sizes (--gpu-bind=closest with 3 ranks on one socket's two GPUs and 1 on the other's: peer_index
// modulo a set's size repeats a GPU while another idles). Names the GPU and the ranks (node-local).
std::string shared_gpu_warning(const std::vector<std::string>& visible_per_rank);

// FoVs in flight per rank when --in-flight is 0 (auto). On a CPU the A-net takes every thread,
// so 3 (one FoV preparing, one in the A-net, one writing) keeps it fed. On a GPU the A-net takes
// milliseconds and the CPU stages (read, render, register, write: seconds per full-size FoV)
// bound the rank: one FoV in flight per two of its threads, 3 to 16.
// A warning when the launcher granted GPUs (CUDA_VISIBLE_DEVICES names some) but the runtime sees
// none (device_count 0: a LibTorch built without CUDA, no driver): the run goes on the CPU,
// which a user paying for GPUs must hear about. "" otherwise.
std::string granted_gpus_unused(const std::map<std::string, std::string>& env, int device_count);

std::size_t auto_in_flight(const Binding& b);

std::map<std::string, std::string> current_environment();

}  // namespace annamosaic
