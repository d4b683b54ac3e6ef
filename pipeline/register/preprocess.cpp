#include "register/preprocess.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>


namespace annamosaic {

namespace {

// Separable Gaussian (kernel cut at 4 sigma, replicated borders: the same filter as imgproc's
// gaussian_blur with Border::Replicate), single-threaded and branch-free in the inner loops: the
// registration calls it on thousands of small strips from many threads at once.
ImageF blur(ImageView<const float> in, double sigma) {
  const std::size_t W = in.width(), H = in.height();
  if (W == 0 || H == 0 || !(sigma > 0)) return to_image(in);
  const int r = std::max(1, static_cast<int>(std::ceil(4 * sigma)));
  std::vector<float> k(2 * static_cast<std::size_t>(r) + 1);
  double sum = 0;
  for (int i = -r; i <= r; ++i) sum += k[static_cast<std::size_t>(i + r)] = static_cast<float>(std::exp(-0.5 * i * i / (sigma * sigma)));
  for (auto& v : k) v = static_cast<float>(v / sum);
  ImageF tmp(W, H), out(W, H);
  std::vector<float> row(W + 2 * static_cast<std::size_t>(r));
  for (std::size_t y = 0; y < H; ++y) {
    const float* s = in.row(y);
    for (int i = 0; i < r; ++i) row[static_cast<std::size_t>(i)] = s[0], row[W + static_cast<std::size_t>(r + i)] = s[W - 1];
    std::copy_n(s, W, row.data() + r);
    float* d = tmp.row(y);
    for (std::size_t x = 0; x < W; ++x) d[x] = 0;
    for (int i = 0; i <= 2 * r; ++i) {
      const float kw = k[static_cast<std::size_t>(i)];
      const float* src = row.data() + i;
      for (std::size_t x = 0; x < W; ++x) d[x] += kw * src[x];
    }
  }
  for (std::size_t y = 0; y < H; ++y) {
    float* d = out.row(y);
    for (int i = -r; i <= r; ++i) {
      const long yy = std::clamp(static_cast<long>(y) + i, 0L, static_cast<long>(H) - 1);
      const float kw = k[static_cast<std::size_t>(i + r)];
      const float* src = tmp.row(static_cast<std::size_t>(yy));
      for (std::size_t x = 0; x < W; ++x) d[x] += kw * src[x];
    }
  }
  return out;
}

}  // namespace

ImageF prefilter_image(ImageView<const float> in, Prefilter filter, double sigma_px) {
  switch (filter) {
    case Prefilter::None:
      return to_image(in);
    case Prefilter::Gaussian:
      return blur(in, sigma_px);
    case Prefilter::LaplacianOfGaussian: {
      const ImageF b = blur(in, sigma_px);
      const std::size_t W = b.width(), H = b.height();
      ImageF out(W, H);
      for (std::size_t y = 0; y < H; ++y) {
        const float* r0 = b.row(y);
        const float* rm = b.row(y > 0 ? y - 1 : 0);
        const float* rp = b.row(y + 1 < H ? y + 1 : H - 1);
        float* d = out.row(y);
        for (std::size_t x = 0; x < W; ++x) {
          const float l = r0[x > 0 ? x - 1 : 0], r = r0[x + 1 < W ? x + 1 : W - 1];
          d[x] = 4 * r0[x] - l - r - rm[x] - rp[x];
        }
      }
      return out;
    }
  }
  return to_image(in);
}

ImageF equalize_histogram(ImageView<const float> in, std::size_t bins) {
  ImageF out(in.width(), in.height());
  if (in.empty() || bins == 0) return out;
  float lo = std::numeric_limits<float>::infinity(), hi = -lo;
  for (std::size_t y = 0; y < in.height(); ++y)
    for (std::size_t x = 0; x < in.width(); ++x)
      if (std::isfinite(in(x, y))) lo = std::min(lo, in(x, y)), hi = std::max(hi, in(x, y));
  if (!(lo <= hi)) return out;
  if (lo == hi) {
    for (std::size_t y = 0; y < in.height(); ++y)
      for (std::size_t x = 0; x < in.width(); ++x) out(x, y) = std::isfinite(in(x, y)) ? 1.0f : 0.0f;
    return out;
  }
  const double width = (static_cast<double>(hi) - lo) / static_cast<double>(bins);
  std::vector<double> cdf(bins, 0.0);
  for (std::size_t y = 0; y < in.height(); ++y)
    for (std::size_t x = 0; x < in.width(); ++x) {
      const float v = in(x, y);
      if (!std::isfinite(v)) continue;
      const std::size_t b = std::min(bins - 1, static_cast<std::size_t>((v - lo) / width));
      cdf[b] += 1;
    }
  for (std::size_t b = 1; b < bins; ++b) cdf[b] += cdf[b - 1];
  const double total = cdf.back();
  for (double& c : cdf) c /= total;
  // np.interp(value, bin_centres, cdf): clamped to the first/last bin centre.
  for (std::size_t y = 0; y < in.height(); ++y)
    for (std::size_t x = 0; x < in.width(); ++x) {
      const float v = in(x, y);
      if (!std::isfinite(v)) {
        out(x, y) = 0;
        continue;
      }
      const double pos = (v - lo) / width - 0.5;  // in units of bins, 0 at the first centre
      double r;
      if (pos <= 0) r = cdf.front();
      else if (pos >= static_cast<double>(bins - 1)) r = cdf.back();
      else {
        const std::size_t i = static_cast<std::size_t>(pos);
        const double f = pos - static_cast<double>(i);
        r = cdf[i] + f * (cdf[i + 1] - cdf[i]);
      }
      out(x, y) = static_cast<float>(r);
    }
  return out;
}

}  // namespace annamosaic
