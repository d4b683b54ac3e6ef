#include "pyramid/pyramid.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace annamosaic {

std::vector<LevelSize> plan_pyramid(std::size_t width, std::size_t height) {
  if (width == 0 || height == 0) throw std::invalid_argument("plan_pyramid: empty image");
  std::vector<LevelSize> levels{{width, height}};
  for (;;) {
    const LevelSize& last = levels.back();
    const bool fits_one_chunk = last.width <= kChunkWidth && last.height <= kChunkHeight;
    if (fits_one_chunk || last.width < 2 || last.height < 2) break;
    levels.push_back({last.width / 2, last.height / 2});
  }
  return levels;
}

void downsample_2x2(ImageView<const std::uint16_t> src, ImageView<std::uint16_t> dst) {
  if (dst.width() != src.width() / 2 || dst.height() != src.height() / 2)
    throw std::invalid_argument("downsample_2x2: destination " + std::to_string(dst.width()) + " x " +
                                std::to_string(dst.height()) + " is not half of " + std::to_string(src.width()) +
                                " x " + std::to_string(src.height()));
  const std::size_t w = dst.width();
  for (std::size_t y = 0; y < dst.height(); ++y) {
    const std::uint16_t* a = src.row(2 * y);
    const std::uint16_t* b = src.row(2 * y + 1);
    std::uint16_t* out = dst.row(y);
    // Plain loop over 32-bit sums: GCC vectorises it at -O2/-O3.
    for (std::size_t x = 0; x < w; ++x) {
      const std::uint32_t s = std::uint32_t(a[2 * x]) + a[2 * x + 1] + b[2 * x] + b[2 * x + 1];
      out[x] = static_cast<std::uint16_t>((s + 2) >> 2);
    }
  }
}

BinnedHistogram rebin_histogram(const FullHistogram& full, std::size_t bins) {
  if (full.size() != kFullHistogramBins) throw std::invalid_argument("rebin_histogram: need 65536 bins");
  if (bins == 0) throw std::invalid_argument("rebin_histogram: zero bins");
  BinnedHistogram h;
  h.counts.assign(bins, 0);
  std::size_t lo = kFullHistogramBins, hi = 0;
  for (std::size_t v = 0; v < kFullHistogramBins; ++v)
    if (full[v]) {
      if (lo == kFullHistogramBins) lo = v;
      hi = v;
    }
  if (lo == kFullHistogramBins) return h;  // nothing counted: min = max = 0, all bins 0
  h.min = static_cast<std::uint16_t>(lo);
  h.max = static_cast<std::uint16_t>(hi);
  const std::uint64_t span = hi - lo + 1;
  for (std::size_t v = lo; v <= hi; ++v) h.counts[static_cast<std::size_t>((v - lo) * bins / span)] += full[v];
  return h;
}

std::uint16_t histogram_percentile(const FullHistogram& full, double percent) {
  std::uint64_t n = 0;
  for (auto c : full) n += c;
  if (n == 0) return 0;
  const double p = std::min(100.0, std::max(0.0, percent));
  const auto rank = static_cast<std::uint64_t>(std::llround(p / 100.0 * double(n - 1)));
  std::uint64_t seen = 0;
  for (std::size_t v = 0; v < full.size(); ++v) {
    seen += full[v];
    if (seen > rank) return static_cast<std::uint16_t>(v);
  }
  return static_cast<std::uint16_t>(full.size() - 1);
}

std::pair<std::uint16_t, std::uint16_t> display_range(const FullHistogram& full) {
  std::uint16_t lo = histogram_percentile(full, 0.1), hi = histogram_percentile(full, 99.9);
  std::size_t v1 = 1;  // the smallest value above 0, and the next one present
  while (v1 < full.size() && full[v1] == 0) ++v1;
  std::size_t v2 = v1 + 1;
  while (v2 < full.size() && full[v2] == 0) ++v2;
  if (full[0] > 0 && v2 < full.size()) {
    FullHistogram covered = full;
    covered[0] = 0;
    const std::uint16_t covered_hi = histogram_percentile(covered, 99.9);
    // A gap: zeros far below the data, measured against its own value steps (scaled counts step
    // by their scale and have none) and against its range.
    if (v1 > 4 * (v2 - v1) && static_cast<double>(v1) > 0.05 * covered_hi)
      lo = histogram_percentile(covered, 0.1), hi = covered_hi;
  }
  if (hi <= lo) hi = rebin_histogram(full, 256).max;  // sparse channels: fall back to the maximum
  if (hi <= lo) hi = static_cast<std::uint16_t>(lo == 65535 ? lo : lo + 1);
  return {lo, hi};
}

void count_values(ImageView<const std::uint16_t> src, std::uint32_t* counts) {
  // Zeros (most of a sparse image) go to a register: runs of one value would otherwise chain
  // every increment on the same memory counter (2-3x slower on sparse data).
  std::uint32_t zeros = 0;
  for (std::size_t y = 0; y < src.height(); ++y) {
    const std::uint16_t* p = src.row(y);
    for (std::size_t x = 0; x < src.width(); ++x) {
      const std::uint16_t v = p[x];
      if (v == 0)
        ++zeros;
      else
        ++counts[v];
    }
  }
  counts[0] += zeros;
}

}  // namespace annamosaic
