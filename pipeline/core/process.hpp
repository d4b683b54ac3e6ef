#pragma once
// Process-wide settings and facts that every command needs: the C allocator's policy for large
// buffers, and the CPUs the process may run on.
#include <cstddef>
#include <string>

namespace annamosaic {

// Makes glibc keep freed memory for reuse instead of returning it to the kernel: one arena,
// no mmap for large blocks, no trimming. The A-net's CPU pass allocates and frees ~100 MB
// tensors on several threads; by default each becomes a fresh mmap whose pages fault in again
// (measured: `run --max-fovs 4` on the demo, 1 process, 2 cores, twice each: 1.1-1.5 M page
// faults, 3.2-4.4 s in the kernel, 6.8-10.6 s wall, peak RSS 0.87-0.91 GB; with this 0.16 M
// faults, 0.6 s, 5.2-5.6 s, 0.69-0.71 GB).
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

// Bytes this process can still take: MemAvailable, or less under a cgroup memory limit (a SLURM
// job's; cgroup v2 memory.max, or v1 memory.limit_in_bytes), on its own cgroup or any above it,
// counting the page cache the kernel can reclaim (inactive files) as free. < 0 when unknown.
double available_memory_bytes();

}  // namespace annamosaic
