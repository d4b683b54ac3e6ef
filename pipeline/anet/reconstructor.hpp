#pragma once
// The A-net at inference: the torch-free facade the job layer and the CLI build on.
// No LibTorch types cross this header (pimpl), so including it costs nothing.
//
//   anet::Reconstructor net("models/anet-microtubules-ngf16.h5", {});       // loads once (CPU)
//   auto r = net.run(sparse.view(), &widefield_on_sr_grid, /*switch_id=*/0);
//   r.reconstruction  // A in [0, 1], same size as `sparse`
//   r.q_of_a          // Q(A), 1/4 size (ceil), in [0, 1]
//   r.error_map       // 1/4 size, empty without widefield
//
// Inputs (one FoV, any size; axis order y, x; pixel size = the model's pixel_nm, see info()):
//  - sparse: the rendered localization histogram S (counts). An empty view means "no sparse
//    image" (the paper's widefield-only mode, S = 0).
//  - widefield_on_sr_grid: the widefield already registered and resampled onto S's grid
//    (pipeline/register widefield_on_sr_grid), raw intensities; nullptr = no widefield (L = 0).
//    At least one of the two must be given; when both are, sizes must match.
//  - switch_id: structure id M (microtubule 0, nuclear pore 1, actin 2, mitochondria 3).
// Normalisation is done here, exactly as in training (normalisation.hpp).
//
// Whole FoV or tiles: the FoV is padded to a multiple of 256 and run in one pass when the
// estimated memory fits the budget (mode "auto"), otherwise in tiles of tile_px with overlap_px
// (>= 64) blended with raised-cosine weights. Q and the error map always run on the whole FoV
// (Q is small). Note that the networks normalise per image: a tile's statistics differ from the
// whole FoV's, so tiled and whole results agree closely but not bit for bit (see README).
//
// In three steps (what run() does in a row), so that a pipeline keeps only the networks in its
// serial stage, the bound of a GPU rank: prepare() (host: validate, normalise, build the padded
// input, the widefield on Q's grid) and finish() (host: output images; the error map, which on
// CUDA run_networks computes on the device) may run on any thread,
// for several FoVs at once; run_networks() is the device part (or all CPU threads):
//   auto job = net.prepare(sparse.view(), &wf, 0);   // any thread
//   net.run_networks(*job);                          // the serial stage
//   ReconstructionResult r = net.finish(*job);       // any thread
//
// Threads and devices: run() is const and may be called concurrently from several threads
// (CPU: they share LibTorch's intra-op pool; CUDA: each call uses its own stream when built
// with ANNAMOSAIC_WITH_CUDA). One Reconstructor per GPU. Errors: InputError for a bad model file
// (naming the file and what differs), IoError when the requested device is unavailable,
// std::invalid_argument for bad inputs.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "core/image.hpp"

namespace annamosaic::anet {

struct ReconstructorOptions {
  std::string device = "cpu";        // "cpu", "cuda" or "cuda:N"
  std::string precision = "fp32";    // "fp32"; on CUDA also "tf32" (TF32 convolutions), "bf16" or "fp16" (autocast)
  bool channels_last = false;        // CUDA only: NHWC (slower for this network on an H200, see README)
  int threads = 0;                   // CPU: LibTorch intra-op threads (0: leave as set)
  std::string mode = "auto";         // "auto" | "whole" | "tiled"
  // auto mode: whole FoV if the estimated generator pass fits, else the cheapest tiling that does
  // (choose_tiling); 0: 4096 (CPU: a whole 2765 px FoV at ngf 16 fits, estimated 3.6 GB; the
  // `reconstruct` process peaked at 2.3 GB with the banded full-resolution step), 16384 (CUDA)
  std::size_t memory_budget_mb = 0;
  std::size_t tile_px = 512;         // multiple of 256; "tiled" uses it, "auto" grows squares from it
  std::size_t overlap_px = 128;      // >= 64
};

struct ReconstructionResult {
  ImageF reconstruction;  // A = (G + 1) / 2 in [0, 1], input size
  ImageF q_of_a;          // Q(A) in [0, 1], ceil(H/4) x ceil(W/4)
  ImageF widefield_q;     // the scaled widefield on the Q grid (W_down); empty without widefield
  ImageF error_map;       // (1 - MSSSIM_map(Q(A), W_down)) * (Q(A) + W_down); empty without widefield
  bool tiled = false;
  std::size_t tiles = 1;
  double seconds = 0;     // wall time of the three steps
  double prepare_seconds = 0, finish_seconds = 0;  // host work before and after the networks
  // run_networks: G and Q with the copies to and from the device, synchronised (on CUDA also the
  // error map; tiled, also the blending of the tiles): on a GPU, the device's time for this FoV.
  double network_seconds = 0;
};

struct ModelInfo {
  std::string path;
  int ngf = 0, in_channels = 0;
  std::string decoder;
  double pixel_nm = 0;
  double target_quantile = 0;
  std::int64_t generator_parameters = 0, estimator_parameters = 0;
  std::map<std::string, std::string> provenance;
  // False when the model never trained with a widefield (its tables had none): its generator never
  // saw one and its Q is untrained, so a widefield input and the error map would mean nothing.
  // From the model's lowres_estimator_steps, or for older files its provenance "(0 with widefield".
  bool trained_with_widefield = true;
  // "checkpoint": a training's last-step state (train's -o file is its best model); and its step.
  std::string kind = "model";
  std::int64_t checkpoint_step = 0;
};

// "" or a note that the file is a training checkpoint rather than its trained model: what it
// reconstructs with changes with the next --resume, and the best model is elsewhere.
std::string checkpoint_note(const ModelInfo& info);

// Throws InputError(input) when reconstructing a field of w x h px cannot fit in the memory this
// process may still take (MemAvailable, or the job's cgroup limit): at least 0.3 GB + 120 bytes
// a pixel besides the A-net's working memory (measured peaks, default --anet-memory-mb: 0.49 GB
// for 1024^2 px, 4.0 GB for 3072^2, 7.7 GB for 5000^2). Refused before the work, not by
// bad_alloc or the kernel's OOM killer well into it.
void require_memory_for_field(double w_px, double h_px, double pixel_nm, const std::string& input);

class Reconstructor {
 public:
  Reconstructor(const std::string& model_path, const ReconstructorOptions& opt = {});
  ~Reconstructor();
  Reconstructor(Reconstructor&&) noexcept;
  Reconstructor& operator=(Reconstructor&&) noexcept;
  Reconstructor(const Reconstructor&) = delete;
  Reconstructor& operator=(const Reconstructor&) = delete;

  ReconstructionResult run(ImageView<const float> sparse, const ImageF* widefield_on_sr_grid, int switch_id) const;

  // The same in three steps (see the top of this file). A job is used once, in this order.
  class Job;
  std::shared_ptr<Job> prepare(ImageView<const float> sparse, const ImageF* widefield_on_sr_grid, int switch_id) const;
  void run_networks(Job& job) const;
  ReconstructionResult finish(Job& job) const;
  const ModelInfo& info() const;
  // Bytes the whole-FoV generator pass is estimated to need for a width x height FoV.
  std::size_t whole_fov_bytes(std::size_t width, std::size_t height) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The documented uint16 form of a reconstruction: round(A * 65535), A clipped to [0, 1]
// (so A = value / 65535).
ImageU16 reconstruction_to_u16(ImageView<const float> a);

}  // namespace annamosaic::anet
