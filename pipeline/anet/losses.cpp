#include "anet/losses.hpp"

#include <torch/fft.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace annamosaic::anet {
namespace {

// 1-D normalised Gaussian of odd `size`; the 2-D window of the authors is its outer product
// (exp(-(x^2+y^2)/2s^2) normalised factorises exactly).
std::vector<double> gauss1d(std::int64_t size, double sigma) {
  std::vector<double> k(static_cast<std::size_t>(size));
  double s = 0;
  const std::int64_t r = size / 2;
  for (std::int64_t i = -r; i <= r; ++i) s += k[static_cast<std::size_t>(i + r)] = std::exp(-0.5 * i * i / (sigma * sigma));
  for (double& v : k) v /= s;
  return k;
}

// Window size and sigma for a nominal (size, sigma) on an h x w image (see header).
std::pair<std::int64_t, double> window_for(std::int64_t size, double sigma, std::int64_t h, std::int64_t w) {
  std::int64_t s = std::min({size, h, w});
  const double sg = static_cast<double>(s) * sigma / static_cast<double>(size);
  if (s % 2 == 0) s -= 1;
  return {std::max<std::int64_t>(s, 1), sg};
}

// Zero-padded Gaussian filtering of every channel of x [N, C, H, W] by several windows at once,
// through the FFT: the input is padded with zeros to at least (H + 32) x (W + 32), so the circular
// convolution with a window of at most 33 px equals the zero-padded linear one exactly (up to
// rounding). Depthwise spatial convolutions with 11-33 px kernels take 10-30x longer in
// LibTorch's CPU build, and this filter runs 6 times per training step on 5 moment maps.
std::vector<torch::Tensor> gauss_filter(const torch::Tensor& x, const std::vector<std::pair<std::int64_t, double>>& windows) {
  const std::int64_t h = x.size(2), w = x.size(3);
  std::int64_t pad = 0;
  for (const auto& win : windows) pad = std::max(pad, win.first - 1);
  // Any larger padding is as exact; a size the FFT factors well is up to 3x faster.
  const std::int64_t hp = fft_friendly_size(h + pad), wp = fft_friendly_size(w + pad);
  const torch::Tensor xf = torch::fft::rfft2(torch::constant_pad_nd(x.to(torch::kFloat32), {0, wp - w, 0, hp - h}, 0.0));
  std::vector<torch::Tensor> out;
  for (const auto& [size, sigma] : windows) {
    // The window with its centre at (0, 0), wrapped around: circular == linear here.
    const std::vector<double> g = gauss1d(size, sigma);
    const std::int64_t r = size / 2;
    std::vector<float> gy(static_cast<std::size_t>(hp), 0.0f), gx(static_cast<std::size_t>(wp), 0.0f);
    for (std::int64_t i = -r; i <= r; ++i) {
      gy[static_cast<std::size_t>((i + hp) % hp)] = static_cast<float>(g[static_cast<std::size_t>(i + r)]);
      gx[static_cast<std::size_t>((i + wp) % wp)] = static_cast<float>(g[static_cast<std::size_t>(i + r)]);
    }
    // The window is separable, so its 2-D transform is the outer product of two 1-D ones.
    const torch::Tensor kf = torch::fft::fft(torch::tensor(gy).to(x.device())).unsqueeze(1) *
                             torch::fft::rfft(torch::tensor(gx).to(x.device())).unsqueeze(0);
    out.push_back(torch::fft::irfft2(xf * kf, std::vector<std::int64_t>{hp, wp}).slice(2, 0, h).slice(3, 0, w).to(x.dtype()));
  }
  return out;
}

}  // namespace

std::int64_t fft_friendly_size(std::int64_t n) {
  for (std::int64_t m = std::max<std::int64_t>(n, 1);; ++m) {
    std::int64_t k = m;
    for (std::int64_t p : {2, 3, 5, 7})
      while (k % p == 0) k /= p;
    if (k == 1) return m;
  }
}

torch::Tensor msssim_map(const torch::Tensor& a, const torch::Tensor& b) {
  constexpr double c1 = 1e-4, c2 = 9e-4;
  const std::int64_t h = a.size(2), w = a.size(3);
  const double sigmas[5] = {0.5, 1, 2, 4, 8};
  std::vector<std::pair<std::int64_t, double>> windows;
  for (double sigma : sigmas)
    windows.push_back(window_for(static_cast<std::int64_t>(std::max(sigma * 4 + 1, 11.0)), sigma, h, w));
  // The five moments, filtered by the five windows in one FFT pass.
  const std::vector<torch::Tensor> f = gauss_filter(torch::cat({a, b, a * a, b * b, a * b}, 1), windows);
  torch::Tensor result;
  for (int i = 0; i < 5; ++i) {
    const torch::Tensor mu1 = f[i].slice(1, 0, 1), mu2 = f[i].slice(1, 1, 2);
    const torch::Tensor mu11 = mu1 * mu1, mu22 = mu2 * mu2, mu12 = mu1 * mu2;
    const torch::Tensor s11 = f[i].slice(1, 2, 3) - mu11, s22 = f[i].slice(1, 3, 4) - mu22, s12 = f[i].slice(1, 4, 5) - mu12;
    const torch::Tensor cs_raw = (2 * s12 + c2) / (s11 + s22 + c2);
    const torch::Tensor cs = cs_raw.clamp(0, 1);
    result = i == 0 ? cs : result * cs;
    if (i == 4) result = result * (((2 * mu12 + c1) / (mu11 + mu22 + c1)) * cs_raw).clamp(0, 1);
  }
  return result;
}

torch::Tensor gaussian_l1_map(const torch::Tensor& a, const torch::Tensor& b) {
  return gauss_filter((a - b).abs(), {window_for(33, 8.0, a.size(2), a.size(3))})[0];
}

torch::Tensor superres_loss(const torch::Tensor& a, const torch::Tensor& t, double rho) {
  return (rho * (1 - msssim_map(a, t)) + (1 - rho) * gaussian_l1_map(a, t)).mean();
}

torch::Tensor error_map(const torch::Tensor& q_of_a, const torch::Tensor& w_down) {
  return (1 - msssim_map(q_of_a, w_down)) * (q_of_a + w_down);
}

}  // namespace annamosaic::anet
