#pragma once
// Losses of the A-net (anet.md "Losses" and "MS-SSIM as the authors computed it"). Internal to
// pipeline/anet (torch). Images are [N, 1, H, W] in [0, 1] unless said otherwise.
#include <torch/torch.h>

namespace annamosaic::anet {

// The authors' per-pixel multi-sigma MS-SSIM map: Gaussian windows sigma 0.5, 1, 2, 4, 8 of sizes
// max(4 sigma + 1, 11) = 11, 11, 11, 17, 33 (normalised), zero padding of size/2, C1 = 1e-4,
// C2 = 9e-4; ssim and cs maps clipped to [0, 1]; map = ssim(8) * prod_sigma cs(sigma). Same size
// as the input. For images smaller than a window the window shrinks to the image size with its
// sigma scaled alike (as the authors' code does), rounded down to an odd size so the map keeps
// the input's size (the authors' even windows grew it by one pixel).
torch::Tensor msssim_map(const torch::Tensor& a, const torch::Tensor& b);

// |a - b| smoothed by a 33 x 33 Gaussian of sigma 8, zero padding.
torch::Tensor gaussian_l1_map(const torch::Tensor& a, const torch::Tensor& b);

// L_SuperRes = mean(rho (1 - MSSSIM_map) + (1 - rho) G_sigma * |A - T|).
torch::Tensor superres_loss(const torch::Tensor& a, const torch::Tensor& t, double rho = 0.84);

// The smallest size >= n with no prime factor above 7: FFTs of such sizes run fast in LibTorch
// (pocketfft on the CPU, cuFFT). The Q grid of a 2765 px FoV padded for the 33 px window is
// 724 = 4 x 181: its error map took 0.31 s on one core, 0.11 s at 729 = 3^6.
std::int64_t fft_friendly_size(std::int64_t n);

// Least-squares GAN terms.
inline torch::Tensor lsgan_real(const torch::Tensor& d) { return (d - 1).pow(2).mean(); }
inline torch::Tensor lsgan_fake(const torch::Tensor& d) { return d.pow(2).mean(); }

// Error map E = (1 - MSSSIM_map(Q(A), W_down)) * (Q(A) + W_down) at the Q grid.
torch::Tensor error_map(const torch::Tensor& q_of_a, const torch::Tensor& w_down);

}  // namespace annamosaic::anet
