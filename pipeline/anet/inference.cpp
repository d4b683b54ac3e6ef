#include "anet/inference.hpp"

#include <ATen/Context.h>
#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include <algorithm>
#include <cmath>

#include "anet/torch_util.hpp"
#include "core/error.hpp"

// Whole-FoV and tiled generator passes (inference.hpp). Needs LibTorch alone, so the GPU check
// build (ANNAMOSAIC_TORCH_ONLY) runs exactly this code.
namespace annamosaic::anet {
namespace {

// One generator forward on a padded [N, C, H, W] CPU tensor; output [N, 1, H, W] float on the CPU.
torch::Tensor forward_padded(Generator& g, const torch::Tensor& x, float m, const DeviceSetup& dev) {
  return generator_on_device(g, x, m, dev).to(torch::kCPU).contiguous();
}

}  // namespace

torch::Tensor host_buffer(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w, bool pinned) {
  return torch::empty({n, c, h, w}, torch::TensorOptions().dtype(torch::kFloat32).pinned_memory(pinned));
}

torch::Tensor generator_on_device(Generator& g, const torch::Tensor& xp, float m, const DeviceSetup& dev) {
  torch::Tensor in = xp;
  if (dev.device.is_cuda()) {
    // From pinned memory the host-to-device copy is asynchronous and overlaps other streams' work.
    torch::Tensor pinned = xp;
    if (!xp.is_pinned()) {
      pinned = torch::empty(xp.sizes(), torch::TensorOptions().dtype(torch::kFloat32).pinned_memory(true));
      pinned.copy_(xp);
    }
    in = pinned.to(dev.device, /*non_blocking=*/true);
    if (dev.channels_last) in = in.contiguous(torch::MemoryFormat::ChannelsLast);
  }
  const torch::Tensor mt = torch::full({1}, m, torch::TensorOptions().dtype(torch::kFloat32).device(dev.device));
  AutocastGuard autocast(dev.device.is_cuda() && dev.autocast != torch::kFloat32, dev.autocast);
  return g->forward(in, mt).to(torch::kFloat32);
}

namespace {

// x [N, C, h0, w0] grown to h x w right and bottom by mirroring it (mirror_index), any amount:
// the network never saw empty margins in training, and zeros beside a widefield's background
// made it invent structure over the FoV.
torch::Tensor pad_channels(const torch::Tensor& x, std::int64_t h, std::int64_t w) {
  if (x.size(2) == h && x.size(3) == w) return x;
  const auto mirror = [&x](std::int64_t n, std::int64_t size) {
    std::vector<std::int64_t> idx(static_cast<std::size_t>(size));
    for (std::int64_t i = 0; i < size; ++i) idx[static_cast<std::size_t>(i)] = mirror_index(i, n);
    return torch::tensor(idx, torch::kLong).to(x.device());
  };
  return x.index_select(2, mirror(x.size(2), h)).index_select(3, mirror(x.size(3), w)).contiguous();
}

// Raised-cosine ramp weights along one axis for a tile [start, start + len) of an n px axis.
std::vector<float> ramp(std::int64_t start, std::int64_t len, std::int64_t n, std::int64_t overlap) {
  std::vector<float> w(static_cast<std::size_t>(len), 1.0f);
  for (std::int64_t i = 0; i < len && i < overlap; ++i) {
    const float r = static_cast<float>(0.5 - 0.5 * std::cos(M_PI * (static_cast<double>(i) + 0.5) / static_cast<double>(overlap)));
    if (start > 0) w[static_cast<std::size_t>(i)] = std::min(w[static_cast<std::size_t>(i)], r);
    if (start + len < n) w[static_cast<std::size_t>(len - 1 - i)] = std::min(w[static_cast<std::size_t>(len - 1 - i)], r);
  }
  return w;
}

}  // namespace

AutocastGuard::AutocastGuard(bool on, c10::ScalarType dtype) : on_(on) {
  if (!on_) return;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  prev_enabled_ = at::autocast::is_autocast_enabled(at::kCUDA);
  prev_dtype_ = at::autocast::get_autocast_dtype(at::kCUDA);
  at::autocast::set_autocast_enabled(at::kCUDA, true);
  at::autocast::set_autocast_dtype(at::kCUDA, dtype);
#else
  prev_enabled_ = at::autocast::is_enabled();
  prev_dtype_ = at::autocast::get_autocast_gpu_dtype();
  at::autocast::set_enabled(true);
  at::autocast::set_autocast_gpu_dtype(dtype);
#endif
}

AutocastGuard::~AutocastGuard() {
  if (!on_) return;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  at::autocast::set_autocast_enabled(at::kCUDA, prev_enabled_);
  at::autocast::set_autocast_dtype(at::kCUDA, prev_dtype_);
#else
  at::autocast::set_enabled(prev_enabled_);
  at::autocast::set_autocast_gpu_dtype(prev_dtype_);
#endif
  at::autocast::clear_cache();
}

torch::Device resolve_device(const std::string& device) {
  if (device == "cpu" || (device == "auto" && !torch::cuda::is_available())) return torch::kCPU;
  if (device.rfind("cuda", 0) != 0 && device != "auto")
    throw std::invalid_argument("unknown device '" + device + "' (cpu, auto, cuda or cuda:N)");
  if (!torch::cuda::is_available())
    throw IoError("device " + device, "CUDA requested but not available (this LibTorch has no CUDA, or no GPU is visible)");
  torch::Device d(torch::kCPU);
  try {
    d = torch::Device(device == "auto" ? std::string("cuda") : device);
  } catch (const c10::Error&) {
    throw std::invalid_argument("unknown device '" + device + "' (cpu, auto, cuda or cuda:N)");
  }
  if (d.index() >= static_cast<int>(torch::cuda::device_count()))
    throw IoError("device " + device, "no such GPU (" + std::to_string(torch::cuda::device_count()) + " visible)");
  return d;
}

DeviceSetup setup_device(const ReconstructorOptions& opt) {
  DeviceSetup d;
  d.device = resolve_device(opt.device);
  if (d.device.is_cuda()) {
    d.channels_last = opt.channels_last;
    at::globalContext().setBenchmarkCuDNN(true);
  }
  if (opt.precision == "fp32" || opt.precision == "tf32") d.autocast = torch::kFloat32;
  else if (opt.precision == "bf16") d.autocast = torch::kBFloat16;
  else if (opt.precision == "fp16") d.autocast = torch::kFloat16;
  else throw std::invalid_argument("precision must be fp32, tf32, bf16 or fp16, not '" + opt.precision + "'");
  if (opt.precision != "fp32" && !d.device.is_cuda())
    throw std::invalid_argument("precision " + opt.precision + " needs a CUDA device (the CPU path runs fp32)");
  if (d.device.is_cuda()) {
    // LibTorch lets cuDNN convolutions use TF32 by default; "fp32" means real fp32 here, "tf32"
    // opts in (10-bit mantissa products, fp32 accumulation). Process-wide, like cuDNN itself.
    d.tf32 = opt.precision == "tf32";
    at::globalContext().setAllowTF32CuDNN(d.tf32);
    at::globalContext().setAllowTF32CuBLAS(d.tf32);
  }
  return d;
}

void place_module(torch::nn::Module& m, const DeviceSetup& dev) {
  m.to(dev.device);
  if (dev.channels_last) {
    torch::NoGradGuard no_grad;
    for (auto& p : m.parameters())
      if (p.dim() == 4) p.set_data(p.data().contiguous(torch::MemoryFormat::ChannelsLast));
  }
}

std::vector<std::int64_t> tile_starts(std::int64_t n, std::int64_t tile, std::int64_t overlap) {
  if (n <= tile) return {0};
  // The fewest tiles whose overlaps are all >= overlap, spread evenly (no sliver tiles).
  const std::int64_t step = std::max<std::int64_t>(1, tile - overlap);
  const std::int64_t count = (n - overlap + step - 1) / step;
  std::vector<std::int64_t> s;
  for (std::int64_t i = 0; i < count; ++i) s.push_back(count == 1 ? 0 : (i * (n - tile) + (count - 1) / 2) / (count - 1));
  return s;
}

torch::Tensor generate_whole(Generator& g, const torch::Tensor& x, float m, const DeviceSetup& dev) {
  const std::int64_t h = x.size(2), w = x.size(3);
  const torch::Tensor xp = pad_channels(x, round_up(h, 256), round_up(w, 256));
  return forward_padded(g, xp, m, dev).slice(2, 0, h).slice(3, 0, w).contiguous();
}

torch::Tensor generate_tiled(Generator& g, const torch::Tensor& x, float m, std::int64_t tile_h, std::int64_t tile_w, std::int64_t overlap, const DeviceSetup& dev,
                             std::size_t* tiles) {
  for (std::int64_t t : {tile_h, tile_w})
    if (t < 256 || t % 256 != 0) throw std::invalid_argument("tile size must be a multiple of 256, not " + std::to_string(t));
  if (overlap < 64 || overlap >= std::min(tile_h, tile_w))
    throw std::invalid_argument("tile overlap must be >= 64 px and smaller than the tile, not " + std::to_string(overlap));
  const std::int64_t h = x.size(2), w = x.size(3);
  const std::vector<std::int64_t> ys = tile_starts(h, tile_h, overlap), xs = tile_starts(w, tile_w, overlap);
  torch::Tensor acc = torch::zeros({h, w}), wsum = torch::zeros({h, w});
  for (std::int64_t y0 : ys)
    for (std::int64_t x0 : xs) {
      const std::int64_t th = std::min(tile_h, h - y0), tw = std::min(tile_w, w - x0);
      const torch::Tensor part = x.slice(2, y0, y0 + th).slice(3, x0, x0 + tw);
      const torch::Tensor out =
          forward_padded(g, pad_channels(part, tile_h, tile_w), m, dev)[0][0].slice(0, 0, th).slice(1, 0, tw);
      const std::vector<float> ry = ramp(y0, th, h, overlap), rx = ramp(x0, tw, w, overlap);
      const torch::Tensor wt = torch::outer(torch::tensor(ry), torch::tensor(rx));
      acc.slice(0, y0, y0 + th).slice(1, x0, x0 + tw) += wt * out;
      wsum.slice(0, y0, y0 + th).slice(1, x0, x0 + tw) += wt;
    }
  if (tiles) *tiles = ys.size() * xs.size();
  return (acc / wsum).reshape({1, 1, h, w});
}

Tiling choose_tiling(int ngf, std::int64_t h, std::int64_t w, std::size_t budget_bytes, std::int64_t min_tile,
                     std::int64_t overlap) {
  Tiling best;
  if (generator_pass_bytes(ngf, h, w) <= budget_bytes) return best;
  // Computed area (padded tiles) of a tiling.
  auto area = [&](std::int64_t th, std::int64_t tw) {
    return static_cast<double>(tile_starts(h, th, overlap).size() * tile_starts(w, tw, overlap).size()) *
           static_cast<double>(th) * static_cast<double>(tw);
  };
  // Squares: the largest that fits (never below min_tile).
  std::int64_t sq = min_tile;
  while (sq + 256 < std::max(h, w) && generator_pass_bytes(ngf, sq + 256, sq + 256) <= budget_bytes) sq += 256;
  best = {true, sq, sq};
  // Full-width strips: the tallest that fits, when taller than the overlap needs.
  const std::int64_t sw = round_up(w, 256);
  std::int64_t sh = 0;
  while (sh + 256 < h && generator_pass_bytes(ngf, sh + 256, sw) <= budget_bytes) sh += 256;
  if (sh >= 512 && sh > overlap && area(sh, sw) < area(sq, sq)) best = {true, sh, sw};
  return best;
}

std::size_t generator_pass_bytes(int ngf, std::int64_t h, std::int64_t w) {
  // Peak of the last decoder stage (the upsampled 2 ngf-channel concat, its 3x3 conv and the
  // skips still alive), measured on the CPU with LibTorch 1.13 (tests/bench/bench_anet.cpp):
  // about (24 ngf + 64) bytes per padded pixel.
  const double px = static_cast<double>(round_up(h, 256)) * static_cast<double>(round_up(w, 256));
  return static_cast<std::size_t>(px * (24.0 * ngf + 64.0));
}

std::int64_t lowres_band_rows(int q_nf, std::int64_t w, std::size_t budget_bytes) {
  // Counted per input pixel: conv 1's output beside its activation (2 q_nf floats), then that
  // activation beside conv 2's output and its pooling (3.5 q_nf floats): at most 14 q_nf bytes.
  const double per_row = 14.0 * q_nf * static_cast<double>(std::max<std::int64_t>(w, 1));
  const double rows = std::floor(static_cast<double>(budget_bytes) / per_row / 4.0) * 4.0;
  return static_cast<std::int64_t>(std::clamp(rows, 64.0, 1e12));
}

}  // namespace annamosaic::anet
