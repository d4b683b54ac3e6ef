#pragma once
// Whole-FoV and tiled generator passes and the device set-up behind Reconstructor. Internal to
// pipeline/anet (torch); exposed for tests and benchmarks.
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "anet/networks.hpp"
#include "anet/reconstructor.hpp"

namespace annamosaic::anet {

struct DeviceSetup {
  torch::Device device = torch::kCPU;
  c10::ScalarType autocast = torch::kFloat32;  // kFloat32: no autocast
  bool channels_last = false;
  bool tf32 = false;  // CUDA: TF32 convolutions/matmuls allowed (precision "tf32")
};
// Autocast to `dtype` on CUDA for the guard's lifetime when `on` (thread-local state, restored
// afterwards). The C++ autocast API was renamed in LibTorch 2.4; both are handled.
class AutocastGuard {
 public:
  AutocastGuard(bool on, c10::ScalarType dtype);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool on_;
  bool prev_enabled_ = false;
  c10::ScalarType prev_dtype_ = at::kFloat;
};

// Checks the options against what this LibTorch offers: IoError for an unavailable device,
// std::invalid_argument for an unknown precision (or tf32/bf16/fp16 on the CPU).
DeviceSetup setup_device(const ReconstructorOptions& opt);
// The device named "cpu", "auto" (a GPU when one is visible), "cuda" or "cuda:N", checked against
// what this LibTorch sees (IoError: unavailable or no such GPU; std::invalid_argument: unknown).
torch::Device resolve_device(const std::string& device);
// Moves a module to the device (and to channels_last for 4-D weights when asked).
void place_module(torch::nn::Module& m, const DeviceSetup& dev);

// Start offsets of tiles of `tile` px covering n px with at least `overlap` px between
// neighbours; the last tile ends at n (no padding unless n < tile).
std::vector<std::int64_t> tile_starts(std::int64_t n, std::int64_t tile, std::int64_t overlap);

// A float32 [n, c, h, w] host tensor for generator inputs and outputs; pinned (page-locked:
// copied to and from a CUDA device without a staging copy) when asked.
torch::Tensor host_buffer(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w, bool pinned);
// Generator on an already padded xp [N, C, H, W] (host float, H and W multiples of 256): its
// tanh output [N, 1, H, W] as float32 on the device (on the CPU when that is the device).
torch::Tensor generator_on_device(Generator& g, const torch::Tensor& xp, float m, const DeviceSetup& dev);

// Padding by mirroring (the edge pixel repeated: ... 1 0 | 0 1 ... n-1 | n-1 n-2 ...): the source
// index of position i >= 0 of an axis of n >= 1 pixels, for any amount of padding.
inline std::int64_t mirror_index(std::int64_t i, std::int64_t n) {
  const std::int64_t k = i % (2 * n);
  return k < n ? k : 2 * n - 1 - k;
}

// Generator on x [N, C, H, W] (CPU float, any H, W; N FoVs of one size in one pass): padded
// right/bottom to multiples of 256 by mirroring it, run, cropped back to H x W.
// Returns the tanh output [N, 1, H, W] on the CPU as float.
torch::Tensor generate_whole(Generator& g, const torch::Tensor& x, float m, const DeviceSetup& dev);
// The same in tiles of tile_h x tile_w px (multiples of 256) with `overlap` px, raised-cosine
// blending (a tile beyond the FoV's edge mirrored likewise). A tile at least as wide as the FoV
// makes full-width strips.
torch::Tensor generate_tiled(Generator& g, const torch::Tensor& x, float m, std::int64_t tile_h, std::int64_t tile_w, std::int64_t overlap, const DeviceSetup& dev,
                             std::size_t* tiles = nullptr);

// The tiling of an h x w FoV whose generator pass fits `budget_bytes` with the least computed
// area: square tiles grown from min_tile, or full-width strips, whichever pads and overlaps
// fewer pixels (a 2765 px FoV at ngf 16 in 2 GiB: two 1536 x 2816 strips, 9% more pixels than
// one pass, against four 2048 px squares, 112% more). tiled = false when the whole FoV fits.
struct Tiling {
  bool tiled = false;
  std::int64_t tile_h = 0, tile_w = 0;
};
Tiling choose_tiling(int ngf, std::int64_t h, std::int64_t w, std::size_t budget_bytes, std::int64_t min_tile,
                     std::int64_t overlap);

// Estimated peak bytes of one whole generator pass on an h x w input (after padding), fp32.
// Measured before inference ran the full-resolution step in bands (networks.cpp), so it is an
// upper bound for inference now.
std::size_t generator_pass_bytes(int ngf, std::int64_t h, std::int64_t w);

// Rows per band for Q on a field w px wide (a multiple of 4, at least 64) so that one band's
// full-resolution activations (about 14 q_nf bytes per pixel, fp32) fit `budget_bytes`; a
// field no taller than that runs in one pass (LowResEstimator::forward_in_bands).
std::int64_t lowres_band_rows(int q_nf, std::int64_t w, std::size_t budget_bytes);

inline std::int64_t round_up(std::int64_t v, std::int64_t m) { return (v + m - 1) / m * m; }

}  // namespace annamosaic::anet
