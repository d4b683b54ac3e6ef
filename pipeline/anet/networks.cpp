#include "anet/networks.hpp"

#include <algorithm>
#include <stdexcept>

namespace annamosaic::anet {
namespace F = torch::nn::functional;

NormImpl::NormImpl(std::int64_t channels) {
  weight = register_parameter("weight", torch::ones({channels}));
  bias = register_parameter("bias", torch::zeros({channels}));
}

torch::Tensor NormImpl::forward(const torch::Tensor& x) {
  // Per image and channel over H x W; no running statistics, so training == inference.
  return torch::instance_norm(x, weight, bias, /*running_mean=*/{}, /*running_var=*/{}, /*use_input_stats=*/true,
                              /*momentum=*/0.0, /*eps=*/1e-5, /*cudnn_enabled=*/true);
}

namespace {

torch::nn::Conv2d conv(std::int64_t in, std::int64_t out, std::int64_t k, std::int64_t stride, std::int64_t pad, bool bias) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, k).stride(stride).padding(pad).bias(bias));
}

// Decoder up-step: nearest x2 then 3x3 conv (no checkerboard), or the pix2pix 4x4 transposed conv.
class ResizeConvImpl : public torch::nn::Module {
 public:
  ResizeConvImpl(std::int64_t in, std::int64_t out) { conv_ = register_module("conv", conv(in, out, 3, 1, 1, false)); }
  torch::Tensor forward(const torch::Tensor& x) {
    return conv_->forward(
        F::interpolate(x, F::InterpolateFuncOptions().scale_factor(std::vector<double>{2.0, 2.0}).mode(torch::kNearest)));
  }

 private:
  torch::nn::Conv2d conv_{nullptr};
};
TORCH_MODULE(ResizeConv);

class TransposedConvImpl : public torch::nn::Module {
 public:
  TransposedConvImpl(std::int64_t in, std::int64_t out) {
    conv_ = register_module(
        "conv", torch::nn::ConvTranspose2d(torch::nn::ConvTranspose2dOptions(in, out, 4).stride(2).padding(1).bias(false)));
  }
  torch::Tensor forward(const torch::Tensor& x) { return conv_->forward(x); }

 private:
  torch::nn::ConvTranspose2d conv_{nullptr};
};
TORCH_MODULE(TransposedConv);

}  // namespace

GeneratorImpl::GeneratorImpl(const NetworkConfig& cfg) : cfg_(cfg) {
  if (cfg.ngf <= 0 || cfg.in_channels <= 0) throw std::invalid_argument("Generator: ngf and in_channels must be > 0");
  const std::int64_t g = cfg.ngf;
  const std::int64_t ch[8] = {g, 2 * g, 4 * g, 8 * g, 8 * g, 8 * g, 8 * g, 8 * g};
  enc_norm_.resize(8, nullptr);
  for (int k = 0; k < 8; ++k) {
    const std::string name = "enc" + std::to_string(k + 1);
    auto block = register_module(name, std::make_shared<torch::nn::Module>());
    const std::int64_t in = k == 0 ? cfg.in_channels : ch[k - 1];
    enc_.push_back(block->register_module("conv", conv(in, ch[k], 4, 2, 1, false)));
    switch_.push_back(block->register_parameter("switch", torch::zeros({ch[k], 1, 1, 1})));
    if (k > 0) enc_norm_[k] = block->register_module("norm", Norm(ch[k]));
  }
  // d_k: input e8 (k = 8) or concat(d_{k+1}, e_k); output channels ch[k-2] (d1: 1 channel).
  dec_.resize(8);
  dec_norm_.resize(8, nullptr);
  for (int k = 8; k >= 1; --k) {
    const std::string name = "dec" + std::to_string(k);
    auto block = register_module(name, std::make_shared<torch::nn::Module>());
    const std::int64_t in = k == 8 ? ch[7] : 2 * ch[k - 1];
    const std::int64_t out = k == 1 ? 1 : ch[k - 2];
    if (cfg.decoder == Decoder::ResizeConv) dec_[k - 1] = torch::nn::AnyModule(block->register_module("up", ResizeConv(in, out)));
    else dec_[k - 1] = torch::nn::AnyModule(block->register_module("up", TransposedConv(in, out)));
    if (k > 1) dec_norm_[k - 1] = block->register_module("norm", Norm(out));
  }
}

torch::Tensor GeneratorImpl::forward(const torch::Tensor& x, const torch::Tensor& m) {
  if (x.dim() != 4 || x.size(1) != cfg_.in_channels)
    throw std::invalid_argument("Generator: expected [N, " + std::to_string(cfg_.in_channels) + ", H, W] input");
  if (x.size(2) % 256 != 0 || x.size(3) % 256 != 0)
    throw std::invalid_argument("Generator: H and W must be multiples of 256 (got " + std::to_string(x.size(2)) + " x " +
                                std::to_string(x.size(3)) + ")");
  const torch::Tensor mv = m.to(x.dtype()).reshape({-1, 1, 1, 1});
  std::vector<torch::Tensor> e(8);
  for (int k = 0; k < 8; ++k) {
    torch::Tensor in = k == 0 ? x : F::leaky_relu(e[k - 1], F::LeakyReLUFuncOptions().negative_slope(0.2));
    // Switch: switch_[k] ([C,1,1,1] like a 1x1 conv of M) times M, added AFTER the norm, where
    // the per-image norm cannot cancel it (see networks.hpp).
    const torch::Tensor y = enc_[k]->forward(in);
    e[k] = (k == 0 ? y : enc_norm_[k]->forward(y)) + switch_[k].reshape({1, -1, 1, 1}) * mv;
  }
  torch::Tensor d = e[7];
  e[7] = torch::Tensor();
  for (int k = 8; k >= 2; --k) {
    torch::Tensor in = k == 8 ? d : torch::cat({d, e[k - 1]}, 1);
    if (k < 8) e[k - 1] = torch::Tensor();  // skips are released as soon as they are used
    d = dec_norm_[k - 1]->forward(dec_[k - 1].forward(torch::relu(in)));
    if (k >= 6) d = torch::dropout(d, cfg_.dropout, is_training());
  }
  torch::Tensor in = torch::relu(torch::cat({d, e[0]}, 1));
  d = torch::Tensor();
  e[0] = torch::Tensor();
  const std::int64_t h2 = in.size(2);
  if (is_training() || torch::GradMode::is_enabled() || h2 < 128) return torch::tanh(dec_[0].forward(in));
  // Inference: the full-resolution step is the memory peak (its upsampled input and convolution
  // buffers at full size: ~3.5 GB of a 2765 px FoV at ngf 16), and it is local (no norm after it:
  // an output row depends on half-resolution rows within +-1). So it runs over bands of rows with
  // a 2-row halo, cropped: the same numbers as one pass, a fraction of the memory.
  const std::int64_t rows = std::max<std::int64_t>(32, (h2 + 7) / 8), halo = 2;
  torch::Tensor out = torch::empty({in.size(0), 1, 2 * h2, 2 * in.size(3)}, in.options());  // d1: 1 channel
  for (std::int64_t r0 = 0; r0 < h2; r0 += rows) {
    const std::int64_t r1 = std::min(h2, r0 + rows), lo = std::max<std::int64_t>(0, r0 - halo),
                       hi = std::min(h2, r1 + halo);
    const torch::Tensor y = dec_[0].forward(in.slice(2, lo, hi));
    out.slice(2, 2 * r0, 2 * r1).copy_(torch::tanh(y.slice(2, 2 * (r0 - lo), 2 * (r1 - lo))));
  }
  return out;
}

DiscriminatorImpl::DiscriminatorImpl(const NetworkConfig& cfg, std::int64_t in_channels) {
  const std::int64_t f = cfg.ndf;
  const std::int64_t ch[5] = {f, 2 * f, 4 * f, 8 * f, 1};
  const std::int64_t stride[5] = {2, 2, 2, 1, 1};
  for (int k = 0; k < 5; ++k) {
    const std::string name = "layer" + std::to_string(k + 1);
    auto block = register_module(name, std::make_shared<torch::nn::Module>());
    conv_.push_back(block->register_module("conv", conv(k == 0 ? in_channels : ch[k - 1], ch[k], 4, stride[k], 1, false)));
    if (k >= 1 && k <= 3) norm_.push_back(block->register_module("norm", Norm(ch[k])));
  }
}

torch::Tensor DiscriminatorImpl::forward(const torch::Tensor& x) {
  const auto lrelu = F::LeakyReLUFuncOptions().negative_slope(0.2);
  torch::Tensor y = F::leaky_relu(conv_[0]->forward(x), lrelu);
  for (int k = 1; k <= 3; ++k) y = F::leaky_relu(norm_[k - 1]->forward(conv_[k]->forward(y)), lrelu);
  return conv_[4]->forward(y);
}

LowResEstimatorImpl::LowResEstimatorImpl(const NetworkConfig& cfg) : dropout_(cfg.dropout) {
  const std::int64_t f = cfg.q_nf;
  const std::int64_t ch[4] = {f, 2 * f, 4 * f, 1};
  for (int k = 0; k < 4; ++k) {
    const std::string name = "layer" + std::to_string(k + 1);
    auto block = register_module(name, std::make_shared<torch::nn::Module>());
    conv_.push_back(block->register_module("conv", conv(k == 0 ? 1 : ch[k - 1], ch[k], 5, 1, 2, true)));
    if (k == 1 || k == 2) norm_.push_back(block->register_module("norm", Norm(ch[k])));
  }
}

torch::Tensor LowResEstimatorImpl::forward(const torch::Tensor& x) {
  const auto lrelu = F::LeakyReLUFuncOptions().negative_slope(0.2);
  torch::Tensor y = F::leaky_relu(torch::dropout(conv_[0]->forward(x), dropout_, is_training()), lrelu);
  for (int k = 1; k <= 2; ++k) {
    y = torch::max_pool2d(conv_[k]->forward(y), {2, 2}, {2, 2});
    y = F::leaky_relu(torch::dropout(norm_[k - 1]->forward(y), dropout_, is_training()), lrelu);
  }
  return torch::sigmoid(conv_[3]->forward(y));
}

torch::Tensor LowResEstimatorImpl::pooled_conv2_rows(const torch::Tensor& x, std::int64_t y0, std::int64_t y1) {
  // Rows of conv 2's output depend on input rows 4 either side (two 5x5 convs); 8 keeps the
  // slice on the pooling grid. Clipped at the field's edges, where forward() pads with zeros too.
  constexpr std::int64_t kHaloRows = 8;
  const auto lrelu = F::LeakyReLUFuncOptions().negative_slope(0.2);
  const std::int64_t a0 = std::max<std::int64_t>(0, y0 - kHaloRows), a1 = std::min(x.size(2), y1 + kHaloRows);
  const torch::Tensor a = F::leaky_relu(conv_[0]->forward(x.slice(2, a0, a1)), lrelu);
  return torch::max_pool2d(conv_[1]->forward(a), {2, 2}, {2, 2}).slice(2, (y0 - a0) / 2, (y1 - a0) / 2);
}

torch::Tensor LowResEstimatorImpl::forward_in_bands(const torch::Tensor& x, std::int64_t band_rows) {
  if (is_training()) throw std::logic_error("LowResEstimator::forward_in_bands: inference only (eval mode)");
  const std::int64_t h = x.dim() == 4 ? x.size(2) : 0, w = x.dim() == 4 ? x.size(3) : 0;
  if (x.dim() != 4 || x.size(0) != 1 || h % 4 != 0 || w % 4 != 0 || band_rows < 4 || band_rows % 4 != 0)
    throw std::invalid_argument("LowResEstimator::forward_in_bands: needs a (1, C, H, W) input with H, W multiples of 4 "
                                "and bands of a multiple of 4 rows");
  if (h <= band_rows) return forward(x);
  const auto lrelu = F::LeakyReLUFuncOptions().negative_slope(0.2);
  // Norm 1's statistics: conv 2's pooled output over the whole field, band by band (in double:
  // millions of terms).
  const std::int64_t channels = conv_[1]->options.out_channels();
  torch::Tensor sum = torch::zeros({channels}, torch::kFloat64), sum_sq = torch::zeros({channels}, torch::kFloat64);
  for (std::int64_t y0 = 0; y0 < h; y0 += band_rows) {
    const torch::Tensor b = pooled_conv2_rows(x, y0, std::min(h, y0 + band_rows)).to(torch::kCPU, torch::kFloat64);
    sum += b.sum({0, 2, 3});
    sum_sq += (b * b).sum({0, 2, 3});
  }
  const double n = double(h / 2) * double(w / 2);
  const torch::Tensor mean = sum / n, var = (sum_sq / n - mean * mean).clamp_min(0.0);
  // instance_norm's affine map with those statistics (its eps).
  const torch::Tensor scale64 = norm_[0]->weight.detach().to(torch::kCPU, torch::kFloat64) / torch::sqrt(var + 1e-5);
  const torch::Tensor shift64 = norm_[0]->bias.detach().to(torch::kCPU, torch::kFloat64) - mean * scale64;
  // Conv 3's pooled output, band by band: its rows need norm 1's output 2 rows either side at
  // half resolution, 4 input rows (8 keeps the grid); conv 3 pads with zeros at the field's edges.
  std::vector<torch::Tensor> c_bands;
  torch::Tensor scale, shift;
  for (std::int64_t y0 = 0; y0 < h; y0 += band_rows) {
    const std::int64_t y1 = std::min(h, y0 + band_rows);
    const std::int64_t e0 = std::max<std::int64_t>(0, y0 - 8), e1 = std::min(h, y1 + 8);
    const torch::Tensor b = pooled_conv2_rows(x, e0, e1);
    if (!scale.defined()) {
      scale = scale64.to(b.device(), b.scalar_type()).view({1, channels, 1, 1});
      shift = shift64.to(b.device(), b.scalar_type()).view({1, channels, 1, 1});
    }
    const torch::Tensor c = torch::max_pool2d(conv_[2]->forward(F::leaky_relu(b * scale + shift, lrelu)), {2, 2}, {2, 2});
    c_bands.push_back(c.slice(2, (y0 - e0) / 4, (y1 - e0) / 4));
  }
  // From here on at 1/4 size: the whole field at once, as forward() does.
  const torch::Tensor c = torch::cat(c_bands, 2);
  c_bands.clear();
  return torch::sigmoid(conv_[3]->forward(F::leaky_relu(norm_[1]->forward(c), lrelu)));
}

std::int64_t parameter_count(const torch::nn::Module& m) {
  std::int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

void init_weights(Generator& g, Discriminator& d, LowResEstimator& q) {
  torch::NoGradGuard no_grad;
  for (torch::nn::Module* m : {static_cast<torch::nn::Module*>(g.get()), static_cast<torch::nn::Module*>(d.get())}) {
    for (auto& p : m->named_parameters()) {
      const std::string& name = p.key();
      if (name.size() >= 11 && name.compare(name.size() - 11, 11, "norm.weight") == 0) p.value().normal_(1.0, 0.02);
      else if (name.size() >= 9 && name.compare(name.size() - 9, 9, "norm.bias") == 0) p.value().zero_();
      else p.value().normal_(0.0, 0.02);  // conv weights and switch weights
    }
  }
  for (auto& p : q->named_parameters()) {
    const std::string& name = p.key();
    if (name.size() >= 11 && name.compare(name.size() - 11, 11, "norm.weight") == 0) p.value().normal_(1.0, 0.02);
    else if (name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0) p.value().zero_();
    else torch::nn::init::xavier_uniform_(p.value());
  }
}

}  // namespace annamosaic::anet
