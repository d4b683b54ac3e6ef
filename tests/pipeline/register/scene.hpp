#pragma once
// Synthetic test scenes with exactly known sub-pixel shifts: Gaussian blobs and short line
// segments at continuous positions, rendered analytically (no interpolation).
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "core/image.hpp"

namespace annamosaic::test {

struct Blob {
  double x, y, sigma, amp;
};

// Blobs spread over [-margin, w + margin) x [-margin, h + margin).
inline std::vector<Blob> random_blobs(std::size_t w, std::size_t h, std::size_t n, std::uint64_t seed, double margin = 40) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> ux(-margin, w + margin), uy(-margin, h + margin), us(1.2, 3.0), ua(0.5, 2.0);
  std::vector<Blob> b;
  for (std::size_t i = 0; i < n; ++i) b.push_back({ux(rng), uy(rng), us(rng), ua(rng)});
  return b;
}

// The scene seen with its content displaced by (dx, dy): a blob at p appears at p + d.
inline ImageF render_blobs(const std::vector<Blob>& blobs, std::size_t w, std::size_t h, double dx = 0, double dy = 0) {
  ImageF img(w, h);
  for (const Blob& b : blobs) {
    const double cx = b.x + dx, cy = b.y + dy, r = 4 * b.sigma;
    const long x0 = std::max(0L, static_cast<long>(std::floor(cx - r))), x1 = std::min(static_cast<long>(w) - 1, static_cast<long>(std::ceil(cx + r)));
    const long y0 = std::max(0L, static_cast<long>(std::floor(cy - r))), y1 = std::min(static_cast<long>(h) - 1, static_cast<long>(std::ceil(cy + r)));
    for (long y = y0; y <= y1; ++y)
      for (long x = x0; x <= x1; ++x) {
        const double ex = x - cx, ey = y - cy;
        img(static_cast<std::size_t>(x), static_cast<std::size_t>(y)) +=
            static_cast<float>(b.amp * std::exp(-(ex * ex + ey * ey) / (2 * b.sigma * b.sigma)));
      }
  }
  return img;
}

}  // namespace annamosaic::test
