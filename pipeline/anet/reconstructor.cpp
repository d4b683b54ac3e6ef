#include "anet/reconstructor.hpp"

#include <ATen/Context.h>
#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include <chrono>
#include <cmath>
#include <mutex>
#include <optional>

#ifdef ANNAMOSAIC_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

#include "anet/inference.hpp"
#include "anet/losses.hpp"
#include "anet/model_file.hpp"
#include "anet/networks.hpp"
#include "anet/normalisation.hpp"
#include "anet/torch_util.hpp"
#include "core/error.hpp"

namespace annamosaic::anet {
namespace {

// Autocast on CUDA for the lifetime of the guard (thread-local state; restored afterwards).
// The C++ autocast API was renamed in LibTorch 2.4.
class AutocastGuard {
 public:
  AutocastGuard(bool on, c10::ScalarType dtype) : on_(on) {
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
  ~AutocastGuard() {
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
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool on_;
  bool prev_enabled_ = false;
  c10::ScalarType prev_dtype_ = at::kFloat;
};

// One generator forward on a padded [1, C, H, W] CPU tensor; output [1, 1, H, W] float on the CPU.
torch::Tensor forward_padded(Generator& g, const torch::Tensor& x, float m, const DeviceSetup& dev) {
  torch::Tensor in = x;
  if (dev.device.is_cuda()) {
    // Pinned staging buffer so the host-to-device copy can overlap other streams' work.
    torch::Tensor pinned = torch::empty(x.sizes(), torch::TensorOptions().dtype(torch::kFloat32).pinned_memory(true));
    pinned.copy_(x);
    in = pinned.to(dev.device, /*non_blocking=*/true);
    if (dev.channels_last) in = in.contiguous(torch::MemoryFormat::ChannelsLast);
  }
  const torch::Tensor mt = torch::full({1}, m, torch::TensorOptions().dtype(torch::kFloat32).device(dev.device));
  AutocastGuard autocast(dev.device.is_cuda() && dev.autocast != torch::kFloat32, dev.autocast);
  return g->forward(in, mt).to(torch::kCPU, torch::kFloat32).contiguous();
}

torch::Tensor pad_channels(const torch::Tensor& x, std::int64_t h, std::int64_t w, const std::vector<double>& pad_values) {
  std::vector<torch::Tensor> chans;
  for (std::int64_t c = 0; c < x.size(1); ++c)
    chans.push_back(pad_to(x.slice(1, c, c + 1), h, w, pad_values.at(static_cast<std::size_t>(c))));
  return torch::cat(chans, 1);
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

DeviceSetup setup_device(const ReconstructorOptions& opt) {
  DeviceSetup d;
  if (opt.device == "cpu") {
    d.device = torch::kCPU;
  } else if (opt.device.rfind("cuda", 0) == 0) {
    if (!torch::cuda::is_available())
      throw IoError("device " + opt.device, "CUDA requested but not available (this LibTorch has no CUDA, or no GPU is visible)");
    try {
      d.device = torch::Device(opt.device);
    } catch (const c10::Error&) {
      throw std::invalid_argument("unknown device '" + opt.device + "' (cpu, cuda or cuda:N)");
    }
    if (d.device.index() >= static_cast<int>(torch::cuda::device_count()))
      throw IoError("device " + opt.device, "no such GPU (" + std::to_string(torch::cuda::device_count()) + " visible)");
    d.channels_last = opt.channels_last;
    at::globalContext().setBenchmarkCuDNN(true);
  } else {
    throw std::invalid_argument("unknown device '" + opt.device + "' (cpu, cuda or cuda:N)");
  }
  if (opt.precision == "fp32") d.autocast = torch::kFloat32;
  else if (opt.precision == "bf16") d.autocast = torch::kBFloat16;
  else if (opt.precision == "fp16") d.autocast = torch::kFloat16;
  else throw std::invalid_argument("precision must be fp32, bf16 or fp16, not '" + opt.precision + "'");
  if (d.autocast != torch::kFloat32 && !d.device.is_cuda())
    throw std::invalid_argument("precision " + opt.precision + " needs a CUDA device (the CPU path runs fp32)");
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

torch::Tensor generate_whole(Generator& g, const torch::Tensor& x, const std::vector<double>& pad_values, float m,
                             const DeviceSetup& dev) {
  const std::int64_t h = x.size(2), w = x.size(3);
  const torch::Tensor xp = pad_channels(x, round_up(h, 256), round_up(w, 256), pad_values);
  return forward_padded(g, xp, m, dev).slice(2, 0, h).slice(3, 0, w).contiguous();
}

torch::Tensor generate_tiled(Generator& g, const torch::Tensor& x, const std::vector<double>& pad_values, float m,
                             std::int64_t tile, std::int64_t overlap, const DeviceSetup& dev, std::size_t* tiles) {
  if (tile < 256 || tile % 256 != 0) throw std::invalid_argument("tile size must be a multiple of 256, not " + std::to_string(tile));
  if (overlap < 64 || overlap >= tile)
    throw std::invalid_argument("tile overlap must be >= 64 px and smaller than the tile, not " + std::to_string(overlap));
  const std::int64_t h = x.size(2), w = x.size(3);
  const std::vector<std::int64_t> ys = tile_starts(h, tile, overlap), xs = tile_starts(w, tile, overlap);
  torch::Tensor acc = torch::zeros({h, w}), wsum = torch::zeros({h, w});
  for (std::int64_t y0 : ys)
    for (std::int64_t x0 : xs) {
      const std::int64_t th = std::min(tile, h - y0), tw = std::min(tile, w - x0);
      const torch::Tensor part = x.slice(2, y0, y0 + th).slice(3, x0, x0 + tw);
      const torch::Tensor out = forward_padded(g, pad_channels(part, tile, tile, pad_values), m, dev)[0][0].slice(0, 0, th).slice(1, 0, tw);
      const std::vector<float> ry = ramp(y0, th, h, overlap), rx = ramp(x0, tw, w, overlap);
      const torch::Tensor wt = torch::outer(torch::tensor(ry), torch::tensor(rx));
      acc.slice(0, y0, y0 + th).slice(1, x0, x0 + tw) += wt * out;
      wsum.slice(0, y0, y0 + th).slice(1, x0, x0 + tw) += wt;
    }
  if (tiles) *tiles = ys.size() * xs.size();
  return (acc / wsum).reshape({1, 1, h, w});
}

std::size_t generator_pass_bytes(int ngf, std::int64_t h, std::int64_t w) {
  // Peak of the last decoder stage (the upsampled 2 ngf-channel concat, its 3x3 conv and the
  // skips still alive), measured on the CPU with LibTorch 1.13 (tests/bench/bench_anet.cpp):
  // about (24 ngf + 64) bytes per padded pixel.
  const double px = static_cast<double>(round_up(h, 256)) * static_cast<double>(round_up(w, 256));
  return static_cast<std::size_t>(px * (24.0 * ngf + 64.0));
}

// ---------------------------------------------------------------- Reconstructor

struct Reconstructor::Impl {
  ModelInfo info;
  ReconstructorOptions opt;
  DeviceSetup dev;
  NetworkConfig cfg;
  mutable Generator g{nullptr};
  mutable LowResEstimator q{nullptr};
};

Reconstructor::Reconstructor(const std::string& model_path, const ReconstructorOptions& opt) : impl_(std::make_unique<Impl>()) {
  Impl& im = *impl_;
  im.opt = opt;
  if (opt.mode != "auto" && opt.mode != "whole" && opt.mode != "tiled")
    throw std::invalid_argument("mode must be auto, whole or tiled, not '" + opt.mode + "'");
  if (opt.tile_px < 256 || opt.tile_px % 256 != 0)
    throw std::invalid_argument("tile size must be a multiple of 256, not " + std::to_string(opt.tile_px));
  if (opt.overlap_px < 64 || opt.overlap_px >= opt.tile_px)
    throw std::invalid_argument("tile overlap must be >= 64 px and smaller than the tile, not " + std::to_string(opt.overlap_px));
  im.dev = setup_device(opt);
  if (opt.threads > 0 && !im.dev.device.is_cuda()) torch::set_num_threads(opt.threads);

  const ModelFile file = read_model_file(model_path);
  if (file.network.in_channels != 2)
    throw InputError(model_path, "model has in_channels " + std::to_string(file.network.in_channels) +
                                     "; the A-net takes 2 (sparse S and widefield L)");
  for (const char* gname : {"generator", "lowres_estimator"})
    if (!file.groups.count(gname)) throw InputError(model_path, std::string("model file has no '") + gname + "' group");
  im.cfg = file.network;
  im.g = Generator(im.cfg);
  im.q = LowResEstimator(im.cfg);
  import_module(*im.g, file.groups.at("generator"), model_path, "generator");
  import_module(*im.q, file.groups.at("lowres_estimator"), model_path, "lowres_estimator");
  im.g->eval();
  im.q->eval();
  place_module(*im.g, im.dev);
  place_module(*im.q, im.dev);

  im.info.path = model_path;
  im.info.ngf = im.cfg.ngf;
  im.info.in_channels = im.cfg.in_channels;
  im.info.decoder = decoder_name(im.cfg.decoder);
  im.info.pixel_nm = file.data.pixel_nm;
  im.info.target_quantile = file.data.target_quantile;
  im.info.generator_parameters = parameter_count(*im.g);
  im.info.estimator_parameters = parameter_count(*im.q);
  im.info.provenance = file.provenance;
}

Reconstructor::~Reconstructor() = default;
Reconstructor::Reconstructor(Reconstructor&&) noexcept = default;
Reconstructor& Reconstructor::operator=(Reconstructor&&) noexcept = default;

const ModelInfo& Reconstructor::info() const { return impl_->info; }

std::size_t Reconstructor::whole_fov_bytes(std::size_t width, std::size_t height) const {
  return generator_pass_bytes(impl_->cfg.ngf, static_cast<std::int64_t>(height), static_cast<std::int64_t>(width));
}

ReconstructionResult Reconstructor::run(ImageView<const float> sparse, const ImageF* wf, int switch_id) const {
  const auto t0 = std::chrono::steady_clock::now();
  const Impl& im = *impl_;
  const bool has_s = !sparse.empty(), has_w = wf && !wf->empty();
  if (!has_s && !has_w) throw std::invalid_argument("Reconstructor::run: neither a sparse image nor a widefield given");
  const std::size_t W = has_s ? sparse.width() : wf->width(), H = has_s ? sparse.height() : wf->height();
  if (has_s && has_w && (wf->width() != W || wf->height() != H))
    throw std::invalid_argument("Reconstructor::run: widefield " + std::to_string(wf->width()) + "x" +
                                std::to_string(wf->height()) + " is not on the sparse image's grid " + std::to_string(W) +
                                "x" + std::to_string(H));
  const std::int64_t h = static_cast<std::int64_t>(H), w = static_cast<std::int64_t>(W);

  // Inputs normalised over the FoV itself (never over padding or a tile).
  const Standardisation st = has_s ? sparse_standardisation(sparse) : Standardisation{};
  const ImageF s_norm = has_s ? standardise_sparse(sparse) : ImageF(W, H);
  const ImageF l01 = has_w ? scale_widefield(wf->view()) : ImageF(W, H);
  const torch::Tensor x = torch::stack({image_to_tensor(s_norm.view()), image_to_tensor(l01.view())}).unsqueeze(0);
  // Padding looks like "no localizations, no light".
  const std::vector<double> pad_values = {has_s ? -st.mean / st.scale : 0.0, 0.0};

  torch::InferenceMode inference;
#ifdef ANNAMOSAIC_WITH_CUDA
  // One stream per call: concurrent run() calls (several FoVs in flight) overlap on the GPU.
  std::optional<c10::cuda::CUDAStreamGuard> stream_guard;
  if (im.dev.device.is_cuda()) stream_guard.emplace(c10::cuda::getStreamFromPool(false, im.dev.device.index()));
#endif
  ReconstructionResult r;
  bool tiled = im.opt.mode == "tiled";
  std::int64_t tile = static_cast<std::int64_t>(im.opt.tile_px);
  if (im.opt.mode == "auto") {
    const std::size_t budget = (im.opt.memory_budget_mb ? im.opt.memory_budget_mb : (im.dev.device.is_cuda() ? 16384 : 4096)) << 20;
    tiled = generator_pass_bytes(im.cfg.ngf, h, w) > budget;
    // The largest tile that fits: fewer tiles, less overlap recomputed (49 tiles of 512 px but
    // 9 of 1024 px for a 2560 px FoV).
    while (tiled && tile + 256 < std::max(h, w) && generator_pass_bytes(im.cfg.ngf, tile + 256, tile + 256) <= budget) tile += 256;
  }
  const float m = static_cast<float>(switch_id);
  const torch::Tensor g_out = tiled ? generate_tiled(im.g, x, pad_values, m, tile,
                                                     static_cast<std::int64_t>(im.opt.overlap_px), im.dev, &r.tiles)
                                    : generate_whole(im.g, x, pad_values, m, im.dev);
  r.tiled = tiled;
  r.reconstruction = tensor_to_image((g_out + 1) / 2);

  // Q on the whole FoV, in the [-1, 1] convention it was trained in; padded to a multiple of 4
  // with the value of an empty reconstruction.
  const std::int64_t h4 = round_up(h, kQFactor), w4 = round_up(w, kQFactor);
  torch::Tensor q_in = pad_to(g_out, h4, w4, -1.0).to(im.dev.device);
  if (im.dev.channels_last) q_in = q_in.contiguous(torch::MemoryFormat::ChannelsLast);
  const torch::Tensor qa = im.q->forward(q_in).to(torch::kCPU, torch::kFloat32);
  r.q_of_a = tensor_to_image(qa);
  if (has_w) {
    r.widefield_q = widefield_on_q_grid(l01.view());
    const torch::Tensor wq = image_to_tensor(r.widefield_q.view()).reshape({1, 1, h4 / 4, w4 / 4});
    r.error_map = tensor_to_image(error_map(qa, wq));
  }
#ifdef ANNAMOSAIC_WITH_CUDA
  if (im.dev.device.is_cuda()) c10::cuda::getCurrentCUDAStream(im.dev.device.index()).synchronize();
#endif
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

ImageU16 reconstruction_to_u16(ImageView<const float> a) {
  ImageU16 out(a.width(), a.height());
  for (std::size_t y = 0; y < a.height(); ++y)
    for (std::size_t x = 0; x < a.width(); ++x) {
      const float v = a(x, y);
      out(x, y) = static_cast<std::uint16_t>(std::lround(std::clamp(std::isfinite(v) ? v : 0.0f, 0.0f, 1.0f) * 65535.0f));
    }
  return out;
}

}  // namespace annamosaic::anet
