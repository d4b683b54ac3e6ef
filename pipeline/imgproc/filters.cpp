#include "imgproc/filters.hpp"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <iterator>
#include <vector>

#include "core/error.hpp"

namespace annamosaic {
namespace {

std::vector<float> gaussian_kernel(double sigma) {
  const int r = std::max(1, static_cast<int>(std::ceil(4 * sigma)));
  std::vector<float> k(2 * r + 1);
  double sum = 0;
  for (int i = -r; i <= r; ++i) sum += k[i + r] = static_cast<float>(std::exp(-0.5 * i * i / (sigma * sigma)));
  for (auto& v : k) v = static_cast<float>(v / sum);
  return k;
}

inline std::ptrdiff_t clampi(std::ptrdiff_t i, std::ptrdiff_t n) { return i < 0 ? 0 : (i >= n ? n - 1 : i); }

// One row of the horizontal pass: d (zeroed, w px) += the kernel k over s. Pixels within r of the
// edges take the border rule per tap; the interior is accumulated tap by tap over the whole row
// (d[x] += k[i] s[x+i]), which vectorises across x and adds each pixel's terms in the same order
// as the per-pixel loop (identical results; it was ~5x slower as a per-pixel reduction, which the
// compiler cannot vectorise).
void blur_row_horizontal(const float* s, float* d, std::ptrdiff_t w, const std::vector<float>& k, Border border) {
  const std::ptrdiff_t r = static_cast<std::ptrdiff_t>(k.size() / 2);
  const std::ptrdiff_t x_lo = std::min(r, w), x_hi = std::max(x_lo, w - r);
  const auto edge_pixel = [&](std::ptrdiff_t x) {
    float acc = 0;
    for (std::ptrdiff_t i = -r; i <= r; ++i) {
      const std::ptrdiff_t xx = x + i;
      if (xx < 0 || xx >= w) {
        if (border == Border::Zero) continue;
        acc += k[i + r] * s[clampi(xx, w)];
      } else {
        acc += k[i + r] * s[xx];
      }
    }
    return acc;
  };
  for (std::ptrdiff_t x = 0; x < x_lo; ++x) d[x] = edge_pixel(x);
  for (std::ptrdiff_t i = -r; i <= r; ++i) {
    const float kw = k[i + r];
    const float* si = s + i;
    for (std::ptrdiff_t x = x_lo; x < x_hi; ++x) d[x] += kw * si[x];
  }
  for (std::ptrdiff_t x = x_hi; x < w; ++x) d[x] = edge_pixel(x);
}

// One row of the vertical pass: d (zeroed) += the kernel k down the column at row y of src,
// row-oriented for cache friendliness (vectorises across x).
void blur_row_vertical(ImageView<const float> src, std::ptrdiff_t y, float* d, const std::vector<float>& k, Border border) {
  const std::ptrdiff_t r = static_cast<std::ptrdiff_t>(k.size() / 2), h = static_cast<std::ptrdiff_t>(src.height());
  for (std::ptrdiff_t i = -r; i <= r; ++i) {
    std::ptrdiff_t yy = y + i;
    if (yy < 0 || yy >= h) {
      if (border == Border::Zero) continue;
      yy = clampi(yy, h);
    }
    const float kw = k[i + r];
    const float* s = src.row(static_cast<std::size_t>(yy));
    for (std::size_t x = 0; x < src.width(); ++x) d[x] += kw * s[x];
  }
}

}  // namespace

ImageF gaussian_blur(ImageView<const float> in, double sigma_px, Border border) {
  const std::size_t W = in.width(), H = in.height();
  ImageF tmp(W, H), out(W, H);
  if (W == 0 || H == 0) return out;
  if (!(sigma_px > 0)) return to_image(in);
  const std::vector<float> k = gaussian_kernel(sigma_px);
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, H, 16), [&](const tbb::blocked_range<std::size_t>& rows) {
    for (std::size_t y = rows.begin(); y < rows.end(); ++y)
      blur_row_horizontal(in.row(y), tmp.row(y), static_cast<std::ptrdiff_t>(W), k, border);
  });
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, H, 16), [&](const tbb::blocked_range<std::size_t>& rows) {
    for (std::size_t y = rows.begin(); y < rows.end(); ++y)
      blur_row_vertical(tmp.view(), static_cast<std::ptrdiff_t>(y), out.row(y), k, border);
  });
  return out;
}

ImageF gaussian_blur_rows(ImageView<const float> in, double sigma_px, Border border, const std::vector<std::size_t>& rows) {
  const std::size_t W = in.width(), H = in.height();
  ImageF out(W, rows.size());
  for (std::size_t y : rows)
    if (y >= H) throw std::out_of_range("gaussian_blur_rows: row " + std::to_string(y) + " of a " + std::to_string(H) + " row image");
  if (W == 0 || rows.empty()) return out;
  if (!(sigma_px > 0)) {
    for (std::size_t i = 0; i < rows.size(); ++i) std::copy_n(in.row(rows[i]), W, out.row(i));
    return out;
  }
  const std::vector<float> k = gaussian_kernel(sigma_px);
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, rows.size(), 8), [&](const tbb::blocked_range<std::size_t>& idx) {
    std::vector<float> col(W);
    for (std::size_t i = idx.begin(); i < idx.end(); ++i) {
      // The vertical pass for this row only, then the horizontal one.
      std::fill(col.begin(), col.end(), 0.0f);
      blur_row_vertical(in, static_cast<std::ptrdiff_t>(rows[i]), col.data(), k, border);
      blur_row_horizontal(col.data(), out.row(i), static_cast<std::ptrdiff_t>(W), k, border);
    }
  });
  return out;
}

ImageF resize_bilinear(ImageView<const float> in, std::size_t width, std::size_t height) {
  ImageF out(width, height);
  if (in.empty() || width == 0 || height == 0) return out;
  const double sx = static_cast<double>(in.width()) / width, sy = static_cast<double>(in.height()) / height;
  const std::ptrdiff_t W = static_cast<std::ptrdiff_t>(in.width()), H = static_cast<std::ptrdiff_t>(in.height());
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, height, 16), [&](const tbb::blocked_range<std::size_t>& rows) {
    for (std::size_t y = rows.begin(); y < rows.end(); ++y) {
      const double fy = std::clamp((y + 0.5) * sy - 0.5, 0.0, static_cast<double>(H - 1));
      const std::ptrdiff_t y0 = static_cast<std::ptrdiff_t>(fy), y1 = std::min(y0 + 1, H - 1);
      const float wy = static_cast<float>(fy - y0);
      const float* r0 = in.row(static_cast<std::size_t>(y0));
      const float* r1 = in.row(static_cast<std::size_t>(y1));
      float* d = out.row(y);
      for (std::size_t x = 0; x < width; ++x) {
        const double fx = std::clamp((x + 0.5) * sx - 0.5, 0.0, static_cast<double>(W - 1));
        const std::ptrdiff_t x0 = static_cast<std::ptrdiff_t>(fx), x1 = std::min(x0 + 1, W - 1);
        const float wx = static_cast<float>(fx - x0);
        const float top = r0[x0] + wx * (r0[x1] - r0[x0]);
        const float bot = r1[x0] + wx * (r1[x1] - r1[x0]);
        d[x] = top + wy * (bot - top);
      }
    }
  });
  return out;
}

ImageF downsample_mean(ImageView<const float> in, std::size_t factor) {
  if (factor == 0) throw std::invalid_argument("downsample_mean: factor must be >= 1");
  const std::size_t W = (in.width() + factor - 1) / factor, H = (in.height() + factor - 1) / factor;
  ImageF out(W, H);
  for (std::size_t y = 0; y < H; ++y)
    for (std::size_t x = 0; x < W; ++x) {
      double s = 0;
      std::size_t n = 0;
      for (std::size_t yy = y * factor; yy < std::min(in.height(), (y + 1) * factor); ++yy)
        for (std::size_t xx = x * factor; xx < std::min(in.width(), (x + 1) * factor); ++xx, ++n) s += in(xx, yy);
      out(x, y) = static_cast<float>(s / static_cast<double>(n));
    }
  return out;
}

ImageF block_min_floor(ImageView<const float> im, std::size_t block_px) {
  const std::size_t block = std::max<std::size_t>(1, block_px);
  const std::size_t W = im.width(), H = im.height();
  if (W == 0 || H == 0) return ImageF(W, H);
  const std::size_t bw = (W + block - 1) / block, bh = (H + block - 1) / block;
  std::vector<float> mins(bw * bh, INFINITY);
  for (std::size_t y = 0; y < H; ++y) {
    const float* row = im.row(y);
    float* m = &mins[(y / block) * bw];
    for (std::size_t bx = 0; bx < bw; ++bx)
      m[bx] = std::min(m[bx], *std::min_element(row + bx * block, row + std::min(W, (bx + 1) * block)));
  }
  ImageF smooth(bw, bh);  // each block's minimum averaged with its neighbours'
  for (std::size_t by = 0; by < bh; ++by)
    for (std::size_t bx = 0; bx < bw; ++bx) {
      double sum = 0;
      int n = 0;
      for (std::size_t yy = by ? by - 1 : 0; yy <= std::min(bh - 1, by + 1); ++yy)
        for (std::size_t xx = bx ? bx - 1 : 0; xx <= std::min(bw - 1, bx + 1); ++xx) sum += mins[yy * bw + xx], ++n;
      smooth(bx, by) = static_cast<float>(sum / n);
    }
  return resize_bilinear(smooth.view(), W, H);  // block centres to pixel centres
}

std::string repair_nonfinite(ImageF& img, const std::string& path) {
  const auto finite = [](float v) { return std::isfinite(v); };
  const auto bad = static_cast<std::size_t>(std::count_if(img.begin(), img.end(), [&](float v) { return !finite(v); }));
  if (bad == 0) return "";  // the usual case costs one pass, no copy
  if (bad == img.size()) throw InputError(path, "every pixel is NaN or infinite");
  std::vector<float> kept;
  kept.reserve(img.size() - bad);
  std::copy_if(img.begin(), img.end(), std::back_inserter(kept), finite);
  std::nth_element(kept.begin(), kept.begin() + static_cast<std::ptrdiff_t>(kept.size() / 2), kept.end());
  const float median = kept[kept.size() / 2];
  for (float& v : img)
    if (!finite(v)) v = median;
  return fmt::format("{}: {} of {} pixels are NaN or infinite: set to the median of the others ({:.4g})", path, bad, img.size(),
                     median);
}

}  // namespace annamosaic
