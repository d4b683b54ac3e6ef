#include "anet/reconstructor.hpp"

#include <algorithm>
#include <chrono>
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

namespace annamosaic::anet {

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
  // OpenMP's thread count is per calling thread: a pipeline worker thread that runs this would
  // otherwise use the OpenMP default (all cores of the mask), not the rank's share.
  if (im.opt.threads > 0 && !im.dev.device.is_cuda() && torch::get_num_threads() != im.opt.threads)
    torch::set_num_threads(im.opt.threads);
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
  Tiling tiling;
  if (im.opt.mode == "tiled") {
    tiling = {true, static_cast<std::int64_t>(im.opt.tile_px), static_cast<std::int64_t>(im.opt.tile_px)};
  } else if (im.opt.mode == "auto") {
    const std::size_t budget = (im.opt.memory_budget_mb ? im.opt.memory_budget_mb : (im.dev.device.is_cuda() ? 16384 : 4096)) << 20;
    tiling = choose_tiling(im.cfg.ngf, h, w, budget, static_cast<std::int64_t>(im.opt.tile_px),
                           static_cast<std::int64_t>(im.opt.overlap_px));
  }
  const bool tiled = tiling.tiled;
  const float m = static_cast<float>(switch_id);
  const auto t_net = std::chrono::steady_clock::now();
  const torch::Tensor g_out = tiled ? generate_tiled(im.g, x, pad_values, m, tiling.tile_h, tiling.tile_w,
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
  // The copy to the CPU waited for the device: the networks are done.
  r.network_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_net).count();
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
