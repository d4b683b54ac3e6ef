#pragma once
// The three networks of ANNA-PALM (anet.md), in LibTorch. Internal to pipeline/anet (includes
// <torch/torch.h>); other modules use the torch-free facade (reconstructor.hpp, trainer.hpp).
//
// Tensors are NCHW float. G and D take values in the authors' [-1, 1] convention for images
// (T' = 2 T - 1); G's output is tanh, the reconstruction is (G + 1) / 2.
//
// Normalisation: instance norm with affine parameters (per image, per channel, biased
// variance, eps 1e-5). The authors' BatchNorm always used the current batch's statistics and
// trained at batch 1, which is exactly this; instance norm keeps it per image when several
// FoVs are batched at inference.
//
// Switch M (structure id), a deliberate difference from the authors: a learned per-channel
// weight times M (a 1x1 conv of the constant plane M, no bias, exactly the authors' parameters,
// so G keeps the reference count of 39,158,464 at ngf 64) is added to each encoder output AFTER
// its norm. The authors added it BEFORE the norm, where the per-image norm subtracts it again:
// in e2..e8 their switch had no effect and its weights got exactly zero gradient (anet.md notes
// this). After the norm it acts as an M-dependent bias at every level (like conditional
// instance norm). e1 has no norm, so there both placements are the same. D sees M as a
// constant input plane.
#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "anet/model_file.hpp"

namespace annamosaic::anet {

class NormImpl : public torch::nn::Module {
 public:
  explicit NormImpl(std::int64_t channels);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight, bias;
};
TORCH_MODULE(Norm);

class GeneratorImpl : public torch::nn::Module {
 public:
  explicit GeneratorImpl(const NetworkConfig& cfg);
  // x: [N, in_channels, H, W] with H, W multiples of 256; m: [N] switch values.
  // Returns tanh output [N, 1, H, W]. Dropout (p = cfg.dropout on d8, d7, d6) only in training mode.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& m);
  const NetworkConfig& config() const { return cfg_; }

 private:
  NetworkConfig cfg_;
  std::vector<torch::nn::Conv2d> enc_;
  std::vector<torch::Tensor> switch_;
  std::vector<Norm> enc_norm_;  // [0] unused (e1 has no norm)
  std::vector<torch::nn::AnyModule> dec_;  // index k-1 for d_k
  std::vector<Norm> dec_norm_;            // index k-1 for d_k, k >= 2
};
TORCH_MODULE(Generator);

// PatchGAN discriminator: 5 4x4 convs, least-squares output (no sigmoid).
class DiscriminatorImpl : public torch::nn::Module {
 public:
  explicit DiscriminatorImpl(const NetworkConfig& cfg, std::int64_t in_channels = 4);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  std::vector<torch::nn::Conv2d> conv_;
  std::vector<Norm> norm_;  // after conv 2, 3, 4
};
TORCH_MODULE(Discriminator);

// Low-resolution estimator Q: 4 5x5 convs with bias, two 2x2 max-pools, sigmoid; output 1/4 size.
// Input: an SR image in [-1, 1]; output in [0, 1] (compared with the widefield on the Q grid).
class LowResEstimatorImpl : public torch::nn::Module {
 public:
  explicit LowResEstimatorImpl(const NetworkConfig& cfg);
  torch::Tensor forward(const torch::Tensor& x);
  // forward() of an eval-mode Q computed in bands of `band_rows` rows (a multiple of 4) of the
  // full-resolution input, so a large field needs the full-resolution activations of one band
  // only. The two norms are per image: their statistics are gathered over all bands first, so
  // the result is forward()'s (to float rounding), not a tiling approximation. x: (1, C, H, W)
  // with H and W multiples of 4; H <= band_rows runs forward().
  torch::Tensor forward_in_bands(const torch::Tensor& x, std::int64_t band_rows);

 private:
  // conv 2's pooled output (before norm 1) for the input rows [y0, y1) (multiples of 4).
  torch::Tensor pooled_conv2_rows(const torch::Tensor& x, std::int64_t y0, std::int64_t y1);
  double dropout_;
  std::vector<torch::nn::Conv2d> conv_;
  std::vector<Norm> norm_;  // after pool 1 and 2
};
TORCH_MODULE(LowResEstimator);

std::int64_t parameter_count(const torch::nn::Module& m);

// Weight initialisation of the authors: conv weights N(0, 0.02), norm scale N(1, 0.02), offset 0;
// Q like tf.layers.conv2d (Glorot uniform, zero bias). Uses the global torch generator.
void init_weights(Generator& g, Discriminator& d, LowResEstimator& q);

}  // namespace annamosaic::anet
