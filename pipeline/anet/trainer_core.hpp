#pragma once
// The training step itself, with its networks and optimisers (torch). Internal to pipeline/anet;
// train() drives it, tests use it directly (gradient flow, overfitting, resume).
#include <torch/torch.h>

#include <string>
#include <vector>

#include "anet/networks.hpp"
#include "anet/trainer.hpp"

namespace annamosaic::anet {

// Adam with PyTorch's update rule, written out so that its state is ours to checkpoint (the
// C++ optimiser's state keys differ between LibTorch 1.x and 2.x).
class Adam {
 public:
  Adam(std::vector<torch::Tensor> params, double lr, double beta1, double beta2, double eps = 1e-8);
  void zero_grad();
  void step();
  std::int64_t steps() const { return t_; }
  void set_steps(std::int64_t t) { t_ = t; }
  std::vector<torch::Tensor>& m() { return m_; }
  std::vector<torch::Tensor>& v() { return v_; }

 private:
  std::vector<torch::Tensor> p_, m_, v_;
  double lr_, b1_, b2_, eps_;
  std::int64_t t_ = 0;
};

struct PreparedSample {
  torch::Tensor x;       // [1, 2, H, W]: standardised S, scaled L
  torch::Tensor m;       // [1]
  torch::Tensor m_plane; // [1, 1, H, W]
  torch::Tensor t01;     // [1, 1, H, W] target in [0, 1]
  torch::Tensor wq;      // [1, 1, H/4, W/4] scaled widefield on the Q grid; undefined without widefield
};

class TrainerCore {
 public:
  TrainerCore(const TrainOptions& opt, torch::Device device);
  PreparedSample prepare(const TrainingSample& s) const;
  // One update of D, then Q, then G. `step` seeds dropout (reproducible, resumable).
  StepLosses step(const TrainingSample& s, std::int64_t step);
  StepLosses step(const PreparedSample& p, std::int64_t step);  // the same on prepared tensors (on the device)
  // The reconstruction A in [0, 1] (eval mode, no dropout) [1, 1, H, W].
  torch::Tensor predict(const PreparedSample& p);

  // Model file of G and Q (kind "model"), or a full checkpoint (G, Q, D, Adam states).
  ModelFile model_file(const std::map<std::string, std::string>& provenance) const;
  ModelFile checkpoint(const std::map<std::string, std::string>& provenance, std::int64_t step) const;
  // Restores a checkpoint; returns its step. InputError if it does not match the options.
  std::int64_t restore(const ModelFile& ckpt, const std::string& path);
  // Starts from a trained model's G and Q, and a checkpoint's D when it has one of this ndf
  // (fine-tuning; Adam starts afresh). Returns where D came from, for the log.
  std::string start_from(const ModelFile& m, const std::string& path);

  Generator g{nullptr};
  Discriminator d{nullptr};
  LowResEstimator q{nullptr};
  std::unique_ptr<Adam> opt_g, opt_d, opt_q;

 private:
  TrainOptions opt_;
  torch::Device device_;
  double init_q_steps_ = 0;  // steps the started-from model's Q had trained (fine-tuning)
};

}  // namespace annamosaic::anet
