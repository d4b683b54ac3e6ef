#pragma once
// Process-wide settings and facts that every command needs: the C allocator's policy for large
// buffers, and the CPUs the process may run on.
#include <cstddef>
#include <string>

namespace annamosaic {

// Makes glibc keep freed memory for reuse instead of returning it to the kernel: one arena,
// no mmap for large blocks, no trimming. The A-net's CPU pass allocates and frees ~100 MB
// tensors on several threads; by default each becomes a fresh mmap whose pages fault in again
// (measured: 4 demo FoVs, 1 rank, 2 cores: 1.77 M page faults, 4.2 s of 11 s CPU in the kernel,
// 6.8 s wall; with this 0.27 M faults, 0.7 s kernel, 4.6 s wall, peak RSS 1.29 -> 1.17 GB).
// Call first thing in main(), before any thread starts. ANNAMOSAIC_MALLOC=system skips it.
// Returns false if it was skipped or glibc refused a setting.
bool keep_freed_memory_for_reuse();

// CPUs in this process's affinity mask (what the launcher, e.g. mpirun's default binding or
// SLURM's --cpus-per-task, allows it), and as a list ("0-3,8"). Falls back to the machine's
// hardware threads where the mask cannot be read.
std::size_t affinity_cpu_count();
std::string affinity_cpu_list();

// This process's peak resident memory so far, in MB (getrusage; 0 if unavailable).
double peak_rss_mb();

}  // namespace annamosaic
