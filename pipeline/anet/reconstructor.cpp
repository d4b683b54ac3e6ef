#include "anet/reconstructor.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cmath>
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
#include "core/process.hpp"

namespace annamosaic::anet {

// ---------------------------------------------------------------- Reconstructor

struct Reconstructor::Impl {
  ModelInfo info;
  ReconstructorOptions opt;
  DeviceSetup dev;
  NetworkConfig cfg;
  mutable Generator g{nullptr};
  mutable LowResEstimator q{nullptr};
  // Set when the error map failed on the device: from then on the host computes it (finish()).
  mutable std::atomic<bool> host_error_map{false};
  // The memory one network pass may take (--anet-memory-mb; 0: 4 GiB on the CPU, 16 GiB on CUDA).
  std::size_t budget_bytes() const {
    return (opt.memory_budget_mb ? opt.memory_budget_mb : (dev.device.is_cuda() ? 16384 : 4096)) << 20;
  }
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
  im.info.kind = file.kind;
  if (const auto it = file.scalars.find("step"); it != file.scalars.end()) im.info.checkpoint_step = static_cast<std::int64_t>(it->second);
  if (const auto it = file.scalars.find("lowres_estimator_steps"); it != file.scalars.end())
    im.info.trained_with_widefield = it->second > 0;
  else if (const auto d = file.provenance.find("data"); d != file.provenance.end())
    im.info.trained_with_widefield = d->second.find("(0 with widefield") == std::string::npos;
}

void require_memory_for_field(double w_px, double h_px, double pixel_nm, const std::string& input) {
  const double need_bytes = 0.3e9 + 120.0 * w_px * h_px;
  const double free_bytes = available_memory_bytes();
  if (free_bytes < 0 || need_bytes <= free_bytes) return;
  char text[512];
  std::snprintf(text, sizeof text,
                "a field of %.0f x %.0f px (%.4g x %.4g um at %g nm) needs at least %.1f GB to reconstruct, and %.1f GB of "
                "memory is available here: crop it to the region of interest, or reconstruct it on a node with more memory",
                w_px, h_px, w_px * pixel_nm / 1e3, h_px * pixel_nm / 1e3, pixel_nm, need_bytes / 1e9, free_bytes / 1e9);
  throw InputError(input, text);
}

std::string checkpoint_note(const ModelInfo& info) {
  if (info.kind != "checkpoint") return "";
  return info.path + " is a training checkpoint (the state at step " + std::to_string(info.checkpoint_step) +
         ", which the next --resume replaces), not the trained model: train's -o file (or best.h5 beside the "
         "checkpoint) is the best-validated model";
}

Reconstructor::~Reconstructor() = default;
Reconstructor::Reconstructor(Reconstructor&&) noexcept = default;
Reconstructor& Reconstructor::operator=(Reconstructor&&) noexcept = default;

const ModelInfo& Reconstructor::info() const { return impl_->info; }

std::size_t Reconstructor::whole_fov_bytes(std::size_t width, std::size_t height) const {
  return generator_pass_bytes(impl_->cfg.ngf, static_cast<std::int64_t>(height), static_cast<std::int64_t>(width));
}

// What passes from prepare() to run_networks() to finish().
class Reconstructor::Job {
 public:
  std::int64_t h = 0, w = 0;
  bool has_w = false;
  float m = 0;
  Tiling tiling;
  torch::Tensor x;                  // generator input: padded to multiples of 256 (whole) or not (tiled)
  ImageF widefield_q;               // the scaled widefield on Q's grid, empty without
  torch::Tensor g_out, qa;          // host: G's tanh output (1, 1, h, w), Q(A) (1, 1, h4 / 4, w4 / 4)
  torch::Tensor err;                // host: the error map when computed on the device
  ReconstructionResult r;           // timings so far
  int step = 0;                     // 1 prepared, 2 networks run, 3 finished
};

namespace {
using SteadyClock = std::chrono::steady_clock;
double seconds_since(SteadyClock::time_point t) { return std::chrono::duration<double>(SteadyClock::now() - t).count(); }

// LibTorch's (OpenMP) thread count for the calling thread, restored on exit: host steps running
// on pipeline threads next to each other use one thread each. (LibTorch also keeps the value as
// the default for threads it starts meanwhile; it starts none during inference.)
class TorchThreadsGuard {
 public:
  explicit TorchThreadsGuard(int n) : prev_(torch::get_num_threads()) {
    if (n != prev_) torch::set_num_threads(n);
  }
  ~TorchThreadsGuard() {
    if (torch::get_num_threads() != prev_) torch::set_num_threads(prev_);
  }

 private:
  int prev_;
};
}  // namespace

std::shared_ptr<Reconstructor::Job> Reconstructor::prepare(ImageView<const float> sparse, const ImageF* wf,
                                                           int switch_id) const {
  const auto t0 = SteadyClock::now();
  const Impl& im = *impl_;
  const bool has_s = !sparse.empty(), has_w = wf && !wf->empty();
  if (!has_s && !has_w) throw std::invalid_argument("Reconstructor: neither a sparse image nor a widefield given");
  const std::size_t W = has_s ? sparse.width() : wf->width(), H = has_s ? sparse.height() : wf->height();
  if (has_s && has_w && (wf->width() != W || wf->height() != H))
    throw std::invalid_argument("Reconstructor: widefield " + std::to_string(wf->width()) + "x" +
                                std::to_string(wf->height()) + " is not on the sparse image's grid " + std::to_string(W) +
                                "x" + std::to_string(H));
  auto job = std::make_shared<Job>();
  Job& j = *job;
  j.h = static_cast<std::int64_t>(H);
  j.w = static_cast<std::int64_t>(W);
  j.has_w = has_w;
  j.m = static_cast<float>(switch_id);
  if (im.opt.mode == "tiled") {
    j.tiling = {true, static_cast<std::int64_t>(im.opt.tile_px), static_cast<std::int64_t>(im.opt.tile_px)};
  } else if (im.opt.mode == "auto") {
    j.tiling = choose_tiling(im.cfg.ngf, j.h, j.w, im.budget_bytes(), static_cast<std::int64_t>(im.opt.tile_px),
                             static_cast<std::int64_t>(im.opt.overlap_px));
  }

  // Inputs normalised over the FoV itself (never over padding or a tile), written straight into
  // the generator's input tensor. A whole FoV's padding (up to the next multiple of 256) mirrors
  // the FoV: zeros there ("no localizations, no light") next to a widefield's background made
  // the deep layers, which see the whole input, invent filaments all over the FoV (a 551 px
  // simulated FoV with its widefield: MS-SSIM 0.60 against 0.94 in tiles; mirrored: see
  // models/README.md). As generate_whole's pad_channels does it (written here into the pinned
  // input directly); tiles are padded there.
  const Standardisation st = has_s ? sparse_standardisation(sparse) : Standardisation{};
  ImageF l01;
  if (has_w) {
    l01 = scale_widefield(wf->view(), im.info.pixel_nm);
    j.widefield_q = widefield_on_q_grid(l01.view());
  }
  const std::int64_t hp = j.tiling.tiled ? j.h : round_up(j.h, 256), wp = j.tiling.tiled ? j.w : round_up(j.w, 256);
  // Pinned for a whole pass (copied to the device as it is); tiles are cut and staged one by one.
  j.x = host_buffer(1, 2, hp, wp, im.dev.device.is_cuda() && !j.tiling.tiled);
  float* s_plane = j.x.data_ptr<float>();
  float* l_plane = s_plane + hp * wp;
  for (std::int64_t y = 0; y < j.h; ++y) {
    float* srow = s_plane + y * wp;
    float* lrow = l_plane + y * wp;
    if (has_s) {
      // The expression of standardise_sparse (normalisation.hpp), so training and inference agree.
      const float* in = sparse.row(static_cast<std::size_t>(y));
      for (std::int64_t x = 0; x < j.w; ++x) srow[x] = (in[x] - st.mean) / st.scale;
    } else {
      std::fill_n(srow, j.w, 0.0f);
    }
    if (has_w) std::copy_n(l01.row(static_cast<std::size_t>(y)), j.w, lrow);
    else std::fill_n(lrow, j.w, 0.0f);
    for (std::int64_t x = j.w; x < wp; ++x) {
      srow[x] = srow[mirror_index(x, j.w)];
      lrow[x] = lrow[mirror_index(x, j.w)];
    }
  }
  for (std::int64_t y = j.h; y < hp; ++y) {
    const std::int64_t from = mirror_index(y, j.h);
    std::copy_n(s_plane + from * wp, wp, s_plane + y * wp);
    std::copy_n(l_plane + from * wp, wp, l_plane + y * wp);
  }
  j.step = 1;
  j.r.prepare_seconds = seconds_since(t0);
  return job;
}

void Reconstructor::run_networks(Job& j) const {
  if (j.step != 1) throw std::logic_error("Reconstructor::run_networks: job not prepared, or already run");
  const auto t0 = SteadyClock::now();
  const Impl& im = *impl_;
  // OpenMP's thread count is per calling thread: a pipeline worker thread that runs this would
  // otherwise use the OpenMP default (all cores of the mask), not the rank's share.
  if (im.opt.threads > 0 && !im.dev.device.is_cuda() && torch::get_num_threads() != im.opt.threads)
    torch::set_num_threads(im.opt.threads);
  torch::InferenceMode inference;
#ifdef ANNAMOSAIC_WITH_CUDA
  // One stream per call: calls from several threads (run() used that way) overlap on the GPU.
  std::optional<c10::cuda::CUDAStreamGuard> stream_guard;
  if (im.dev.device.is_cuda()) stream_guard.emplace(c10::cuda::getStreamFromPool(false, im.dev.device.index()));
#endif
  // Q on the whole FoV, in the [-1, 1] convention it was trained in; padded to a multiple of 4 by
  // repeating the edge. The widefield's last partial block is the mean of its real pixels: Q of
  // a block padded with "empty" saw a darker block than the widefield did, and the error map's
  // last row and column read as disagreement (0.196 against 0.111 for the same field, probe43).
  // In a whole pass G's output stays on the device.
  const std::int64_t h4 = round_up(j.h, kQFactor), w4 = round_up(j.w, kQFactor);
  torch::Tensor g_dev;
  if (j.tiling.tiled) {
    j.g_out = generate_tiled(im.g, j.x, j.m, j.tiling.tile_h, j.tiling.tile_w,
                             static_cast<std::int64_t>(im.opt.overlap_px), im.dev, &j.r.tiles);
    g_dev = j.g_out.to(im.dev.device);
  } else {
    g_dev = generator_on_device(im.g, j.x, j.m, im.dev).slice(2, 0, j.h).slice(3, 0, j.w);
  }
  j.x = torch::Tensor();  // the input is no longer needed: free it before Q runs
  torch::Tensor q_in = h4 == j.h && w4 == j.w ? g_dev : torch::replication_pad2d(g_dev, {0, w4 - j.w, 0, h4 - j.h});
  if (im.dev.channels_last) q_in = q_in.contiguous(torch::MemoryFormat::ChannelsLast);
  // In bands on a field too large for the memory budget (the whole field's activations at full
  // resolution are ~110 bytes per pixel: 1.8 GB for a 16 Mpx field).
  const torch::Tensor qa_dev =
      im.q->forward_in_bands(q_in, lowres_band_rows(im.cfg.q_nf, w4, im.budget_bytes())).to(torch::kFloat32);
  // On a GPU the error map's convolutions cost ~1 ms there against ~0.1 core-s on the host
  // (full-size FoV); on the CPU it is left to finish(), off the serial stage.
  if (im.dev.device.is_cuda() && j.has_w && !im.host_error_map) {
    try {
      const torch::Tensor wq =
          image_to_tensor(j.widefield_q.view()).reshape({1, 1, h4 / 4, w4 / 4}).to(im.dev.device, /*non_blocking=*/false);
      j.err = error_map(qa_dev, wq).to(torch::kCPU).contiguous();
    } catch (const c10::Error& e) {
      // First written without a GPU to run it on: should it fail there, the host's map (the one
      // every CPU run computes) is used for this and every later FoV, and the reason is shown.
      j.err = torch::Tensor();
      if (!im.host_error_map.exchange(true))
        std::fprintf(stderr, "annamosaic: the error map on %s failed, computing it on the CPU from now on: %s\n",
                     im.dev.device.str().c_str(), e.what_without_backtrace());
    }
  }
  j.qa = qa_dev.to(torch::kCPU).contiguous();
  if (!j.tiling.tiled) {
    // On CUDA into page-locked memory (LibTorch's host allocator caches it): no staging copy of
    // the ~30 MB of a full-size FoV.
    j.g_out = host_buffer(1, 1, j.h, j.w, im.dev.device.is_cuda());
    j.g_out.copy_(g_dev);
  }
  // The copies to the CPU waited for the device: the networks are done.
  j.r.tiled = j.tiling.tiled;
  j.step = 2;
  j.r.network_seconds = seconds_since(t0);
}

ReconstructionResult Reconstructor::finish(Job& j) const {
  if (j.step != 2) throw std::logic_error("Reconstructor::finish: the job's networks have not run, or it is finished");
  const auto t0 = SteadyClock::now();
  ReconstructionResult r = std::move(j.r);
  // A = (G + 1) / 2, the same float arithmetic as the tensor expression.
  r.reconstruction = ImageF(static_cast<std::size_t>(j.w), static_cast<std::size_t>(j.h));
  if (j.g_out.device() != torch::kCPU || j.g_out.scalar_type() != torch::kFloat32 || !j.g_out.is_contiguous() ||
      j.g_out.numel() != j.h * j.w)
    throw std::logic_error("Reconstructor::finish: generator output is not a contiguous h x w float tensor on the CPU");
  const float* g = j.g_out.data_ptr<float>();
  float* a = r.reconstruction.data();
  std::size_t non_finite = 0;
  for (std::size_t i = 0, n = r.reconstruction.size(); i < n; ++i) {
    a[i] = (g[i] + 1.0f) / 2.0f;
    non_finite += !std::isfinite(a[i]);
  }
  j.g_out = torch::Tensor();
  // Finite weights can still overflow (bytes altered in a file without checksums, probe95: an
  // all-NaN image written with exit 0): refused as the model's fault, for every FoV alike.
  if (non_finite > 0)
    throw InputError(info().path, fmt::format("the A-net's reconstruction holds {} non-finite values (NaN or infinity) of "
                                             "{}: its weights are damaged (copy the model again) or its training diverged{}",
                                             non_finite, r.reconstruction.size(),
                                             impl_->opt.precision == "fp16" || impl_->opt.precision == "bf16"
                                                 ? ", or --precision " + impl_->opt.precision + " overflowed (try fp32)"
                                                 : std::string()));
  r.q_of_a = tensor_to_image(j.qa);
  if (j.has_w) {
    if (!j.err.defined()) {
      TorchThreadsGuard one_thread(1);
      torch::InferenceMode inference;
      const std::int64_t h4 = round_up(j.h, kQFactor), w4 = round_up(j.w, kQFactor);
      j.err = error_map(j.qa, image_to_tensor(j.widefield_q.view()).reshape({1, 1, h4 / 4, w4 / 4}));
    }
    r.error_map = tensor_to_image(j.err);
    r.widefield_q = std::move(j.widefield_q);
  }
  j.qa = torch::Tensor();
  j.err = torch::Tensor();
  j.step = 3;
  r.finish_seconds = seconds_since(t0);
  r.seconds = r.prepare_seconds + r.network_seconds + r.finish_seconds;
  return r;
}

ReconstructionResult Reconstructor::run(ImageView<const float> sparse, const ImageF* wf, int switch_id) const {
  const std::shared_ptr<Job> job = prepare(sparse, wf, switch_id);
  run_networks(*job);
  return finish(*job);
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
