#include "anet/trainer_core.hpp"

#include <cmath>

#include "anet/losses.hpp"
#include "sim/geometry.hpp"

// The training step on prepared tensors (trainer_core.hpp). Needs LibTorch alone, so the GPU
// check build (ANNAMOSAIC_TORCH_ONLY) times and checks this same code on CUDA.
namespace annamosaic::anet {

// ---------------------------------------------------------------- Adam

Adam::Adam(std::vector<torch::Tensor> params, double lr, double beta1, double beta2, double eps)
    : p_(std::move(params)), lr_(lr), b1_(beta1), b2_(beta2), eps_(eps) {
  for (const auto& p : p_) {
    m_.push_back(torch::zeros_like(p));
    v_.push_back(torch::zeros_like(p));
  }
}

void Adam::zero_grad() {
  for (auto& p : p_)
    if (p.grad().defined()) {
      p.mutable_grad().detach_();
      p.mutable_grad().zero_();
    }
}

void Adam::step() {
  torch::NoGradGuard no_grad;
  ++t_;
  const double bc1 = 1 - std::pow(b1_, static_cast<double>(t_)), bc2 = 1 - std::pow(b2_, static_cast<double>(t_));
  for (std::size_t i = 0; i < p_.size(); ++i) {
    const torch::Tensor& g = p_[i].grad();
    if (!g.defined()) continue;
    m_[i].mul_(b1_).add_(g, 1 - b1_);
    v_[i].mul_(b2_).addcmul_(g, g, 1 - b2_);
    const torch::Tensor denom = (v_[i].sqrt() / std::sqrt(bc2)).add_(eps_);
    p_[i].addcdiv_(m_[i], denom, -lr_ / bc1);
  }
}

// ---------------------------------------------------------------- TrainerCore

ParameterCounts parameter_counts(const NetworkConfig& cfg) {
  return {parameter_count(*Generator(cfg)), parameter_count(*Discriminator(cfg)), parameter_count(*LowResEstimator(cfg))};
}

TrainerCore::TrainerCore(const TrainOptions& opt, torch::Device device) : opt_(opt), device_(device) {
  g = Generator(opt.network);
  d = Discriminator(opt.network);
  q = LowResEstimator(opt.network);
  torch::manual_seed(mix_seed(opt.seed, 31));
  init_weights(g, d, q);
  // At the training crop an encoder level may be 1 x 1 (e8 for 256 px crops): its per-image
  // norm then outputs its offset only, and its scale gets exactly zero gradient. A scale left
  // at ~1 would feed untrained unit-variance features into the decoder as soon as a larger FoV
  // is processed, so it starts (and stays) at 0: the level behaves alike at every size.
  for (int k = 2; k <= 8; ++k)
    if ((static_cast<std::int64_t>(opt.data.crop_px) >> k) <= 1) {
      torch::NoGradGuard no_grad;
      g->named_parameters()["enc" + std::to_string(k) + ".norm.weight"].zero_();
    }
  g->to(device);
  d->to(device);
  q->to(device);
  opt_g = std::make_unique<Adam>(g->parameters(), opt.lr, opt.beta1, opt.beta2);
  opt_d = std::make_unique<Adam>(d->parameters(), opt.lr, opt.beta1, opt.beta2);
  opt_q = std::make_unique<Adam>(q->parameters(), opt.lr, opt.beta1, opt.beta2);
}

StepLosses TrainerCore::step(const PreparedSample& p, std::int64_t step) {
  torch::manual_seed(mix_seed(opt_.seed, 32, static_cast<std::uint64_t>(step)));
  g->train();
  d->train();
  q->train();
  const torch::Tensor t_pm = p.t01 * 2 - 1;  // the authors' [-1, 1] convention for D and Q
  const torch::Tensor a_pm = g->forward(p.x, p.m);
  StepLosses L;

  // D: real pairs towards 1, fakes towards 0.
  opt_d->zero_grad();
  const torch::Tensor cond = torch::cat({p.x, p.m_plane}, 1);
  const torch::Tensor loss_d = lsgan_real(d->forward(torch::cat({cond, t_pm}, 1))) +
                               lsgan_fake(d->forward(torch::cat({cond, a_pm.detach()}, 1)));
  loss_d.backward();
  opt_d->step();
  L.d = loss_d.item<double>();

  // Q: predicts the widefield from T.
  if (p.wq.defined()) {
    opt_q->zero_grad();
    const torch::Tensor loss_q = (1 - msssim_map(q->forward(t_pm), p.wq)).mean();
    loss_q.backward();
    opt_q->step();
    L.q = loss_q.item<double>();
    L.widefield = true;
  }

  // G, with the updated D and Q.
  opt_g->zero_grad();
  const torch::Tensor a01 = (a_pm + 1) / 2;
  const torch::Tensor loss_sr = superres_loss(a01, p.t01, opt_.rho);
  const torch::Tensor loss_gan = lsgan_real(d->forward(torch::cat({cond, a_pm}, 1)));
  torch::Tensor loss_lr = torch::zeros({}, a_pm.options());
  if (p.wq.defined()) {
    const torch::Tensor ref = opt_.lowres_target == "widefield" ? p.wq : q->forward(t_pm).detach();
    loss_lr = (1 - msssim_map(q->forward(a_pm), ref)).mean();
  }
  const torch::Tensor loss_g = opt_.alpha * loss_sr + opt_.beta * loss_lr + opt_.gamma * loss_gan;
  loss_g.backward();
  opt_g->step();
  L.g = loss_g.item<double>();
  L.superres = loss_sr.item<double>();
  L.lowres = loss_lr.item<double>();
  L.gan = loss_gan.item<double>();
  return L;
}

torch::Tensor TrainerCore::predict(const PreparedSample& p) {
  torch::NoGradGuard no_grad;
  g->eval();
  torch::Tensor a = (g->forward(p.x, p.m) + 1) / 2;
  g->train();
  return a;
}

}  // namespace annamosaic::anet
