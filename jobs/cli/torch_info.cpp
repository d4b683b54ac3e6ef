// LibTorch runtime facts for --version: proves the CLI really links LibTorch and shows which
// parallel backend and BLAS it uses (the reference BLAS makes the A-net ~17x slower).
#include <string>
#ifdef ANNAMOSAIC_HAVE_TORCH
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#endif

namespace annamosaic::cli {
std::string torch_runtime_info() {
#ifdef ANNAMOSAIC_HAVE_TORCH
  return "LibTorch runtime: " + std::to_string(at::get_num_threads()) + " intra-op threads\n" + at::show_config();
#else
  return "LibTorch: not built in (ANNAMOSAIC_WITH_TORCH=OFF)\n";
#endif
}

// LibTorch's intra-op threads on the calling thread (0 without LibTorch).
int torch_intraop_threads() {
#ifdef ANNAMOSAIC_HAVE_TORCH
  return at::get_num_threads();
#else
  return 0;
#endif
}
}  // namespace annamosaic::cli

#ifdef ANNAMOSAIC_HAVE_TORCH
#include <torch/cuda.h>
#endif
namespace annamosaic::cli {
// CUDA devices LibTorch sees (0 on the CPU build or without GPUs).
int cuda_device_count() {
#ifdef ANNAMOSAIC_HAVE_TORCH
  return static_cast<int>(torch::cuda::device_count());
#else
  return 0;
#endif
}
}  // namespace annamosaic::cli
