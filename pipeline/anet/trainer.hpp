#pragma once
// Training the A-net (anet.md "Losses", "Data preparation"), torch-free interface.
//
// One step (batch 1): G(S, L, M) -> A; update D on LSGAN(real = T, fake = A); update Q on
// 1 - MSSSIM_map(Q(T), W_down) (skipped without widefield); update G on
// alpha L_SuperRes + beta L_LowRes + gamma L_cGAN with the updated D and Q. Three Adam
// optimisers (lr 2e-4, beta1 0.5, beta2 0.999, eps 1e-8, PyTorch's update rule).
//
// Reproducibility: sample i is a pure function of (seed, i) (TrainingData) and LibTorch's
// generator (dropout) is re-seeded from (seed, step) every step, so a run resumed from a
// checkpoint continues bit for bit like an uninterrupted one on the same machine and thread
// count. Checkpoints (HDF5, model_file.hpp, kind "checkpoint": G, Q, D, Adam moments, step)
// are written atomically every checkpoint_every steps to <checkpoint_dir>/checkpoint.h5, so a
// kill -9 loses at most that many steps; the best model by validation score is kept as
// <checkpoint_dir>/best.h5 and copied to `output` at the end (or the last state when
// validation is off).
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "anet/model_file.hpp"
#include "anet/training_data.hpp"

namespace annamosaic::anet {

struct TrainOptions {
  NetworkConfig network;
  DataOptions data;
  double target_quantile = 0.999;
  std::int64_t steps = 1000;
  std::int64_t checkpoint_every = 100;
  std::int64_t validate_every = 100;  // 0: no validation
  int validation_samples = 4;
  double log_every_s = 10;            // progress line interval
  double lr = 2e-4, beta1 = 0.5, beta2 = 0.999;
  double alpha = 50, beta = 25, gamma = 1, rho = 0.84;
  std::string lowres_target = "q-of-t";  // L_LowRes against Q(T) (anet.md) or "widefield" (W_down)
  std::uint64_t seed = 1;
  std::string output;           // final model file (G + Q)
  std::string checkpoint_dir;   // checkpoint.h5 and best.h5
  // Called once checkpoint_dir exists, before anything is written or removed there: the caller
  // locks it (one training per folder) and may throw to refuse.
  std::function<void()> on_checkpoint_dir_made;
  bool resume = false;          // continue from checkpoint.h5 (none there: start afresh)
  // Fine-tuning: a trained model (or checkpoint) whose G and Q (and a checkpoint's D, of the same
  // ndf) start this training instead of fresh weights; its architecture and pixel size must be
  // these options'. Not used when a checkpoint is resumed (it holds every weight already).
  std::string init_from;
  // Asked after every step: true saves a checkpoint and throws Stopped (a signal, say).
  std::function<bool()> stop_requested;
  std::string device = "cpu";   // "cpu" | "cuda[:N]"
  int threads = 0;              // LibTorch intra-op threads (0: leave as set)
  std::string command_line;     // provenance
  std::string config_text;      // provenance: the effective configuration
};

struct ParameterCounts {
  std::int64_t generator = 0, discriminator = 0, estimator = 0;
};
ParameterCounts parameter_counts(const NetworkConfig& cfg);

struct TrainSummary {
  std::int64_t first_step = 0, last_step = 0;  // steps run in this call: (first_step, last_step]
  double seconds = 0;
  double best_score = -1;  // validation MS-SSIM (Wang), -1 if never validated
  std::int64_t best_step = 0;
  double last_g_loss = 0;
  int blank_validations = 0;  // validations whose outputs were blank or flat (a diverged generator)
  double histogram_score = -1;  // the validation samples' sparse histograms against T (the baseline), -1 if none
};

// Loss values of one step (for tests and the progress line).
struct StepLosses {
  double d = 0, q = 0, g = 0, superres = 0, lowres = 0, gan = 0;
  bool widefield = false;  // the sample had a widefield: Q trained and lowres counted (else both 0)
};

// "" or why `opt.init_from` cannot start this training (reads the file's attributes only): an
// architecture (ngf, q-nf, decoder, input channels) or pixel size other than the options'. A file
// that is no A-net model throws read_model_header's InputError. --dry-run asks it too.
std::string init_from_mismatch(const TrainOptions& opt);

// Whether the training of `opt` may start on what its checkpoint folder holds: a checkpoint there
// needs --resume, and (given the data) the same data and recipe, and --steps not below its step.
// Throws InputError naming the checkpoint; --dry-run asks it too. Returns the checkpoint read
// (when resuming, given the data), for train() to restore without reading it again.
std::optional<ModelFile> check_checkpoint(const TrainOptions& opt, const TrainingData* data);

// What a validation's outputs say of the generator: nothing wrong; blank (they score as a blank
// image does and light under a quarter of the pixels the targets light); or else flat (one value
// everywhere, max - min under 0.02 in every output: a generator blown up to white, whatever its
// score; probe93: --lr 0.9 wrote a model whose every pixel was 1, exit 0).
enum class DegenerateOutput { kNone, kBlank, kFlat };
DegenerateOutput degenerate_output(double score, double blank_score, double lit_ratio, double widest_range);

TrainSummary train(const TrainOptions& opt);

}  // namespace annamosaic::anet
