#include "anet/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "fft/fft.hpp"

namespace annamosaic {
namespace {

void check_same(ImageView<const float> a, ImageView<const float> b, const char* what) {
  if (a.width() != b.width() || a.height() != b.height())
    throw std::invalid_argument(std::string(what) + ": images differ in size (" + std::to_string(a.width()) + "x" +
                                std::to_string(a.height()) + " vs " + std::to_string(b.width()) + "x" +
                                std::to_string(b.height()) + ")");
}

// scipy.ndimage.gaussian_filter's kernel: radius int(truncate * sigma + 0.5), truncate 3.5 in skimage.
std::vector<double> gauss_kernel(double sigma) {
  const int r = static_cast<int>(3.5 * sigma + 0.5);
  std::vector<double> k(static_cast<std::size_t>(2 * r + 1));
  double s = 0;
  for (int i = -r; i <= r; ++i) s += k[static_cast<std::size_t>(i + r)] = std::exp(-0.5 * i * i / (sigma * sigma));
  for (double& v : k) v /= s;
  return k;
}

// Dense double image for intermediate sums.
struct Grid {
  std::size_t w = 0, h = 0;
  std::vector<double> v;
  Grid(std::size_t w_, std::size_t h_) : w(w_), h(h_), v(w_ * h_, 0.0) {}
  double& at(std::size_t x, std::size_t y) { return v[y * w + x]; }
  double at(std::size_t x, std::size_t y) const { return v[y * w + x]; }
};

// 'valid' separable filtering: output (w - 2r) x (h - 2r).
Grid filter_valid(const Grid& in, const std::vector<double>& k) {
  const std::size_t n = k.size();
  const std::size_t ow = in.w - (n - 1), oh = in.h - (n - 1);
  Grid tmp(ow, in.h), out(ow, oh);
  for (std::size_t y = 0; y < in.h; ++y)
    for (std::size_t x = 0; x < ow; ++x) {
      double s = 0;
      for (std::size_t i = 0; i < n; ++i) s += k[i] * in.at(x + i, y);
      tmp.at(x, y) = s;
    }
  for (std::size_t y = 0; y < oh; ++y)
    for (std::size_t x = 0; x < ow; ++x) {
      double s = 0;
      for (std::size_t i = 0; i < n; ++i) s += k[i] * tmp.at(x, y + i);
      out.at(x, y) = s;
    }
  return out;
}

struct SsimMeans {
  double ssim = 0, cs = 0;
};

SsimMeans ssim_means(const Grid& a, const Grid& b, const SsimOptions& opt) {
  const std::vector<double> k = gauss_kernel(opt.sigma);
  if (a.w < k.size() || a.h < k.size())
    throw std::invalid_argument("ssim: image of " + std::to_string(a.w) + "x" + std::to_string(a.h) +
                                " px is smaller than the " + std::to_string(k.size()) + " px window");
  Grid aa(a.w, a.h), bb(a.w, a.h), ab(a.w, a.h);
  for (std::size_t i = 0; i < a.v.size(); ++i) {
    aa.v[i] = a.v[i] * a.v[i];
    bb.v[i] = b.v[i] * b.v[i];
    ab.v[i] = a.v[i] * b.v[i];
  }
  const Grid ua = filter_valid(a, k), ub = filter_valid(b, k), uaa = filter_valid(aa, k), ubb = filter_valid(bb, k),
             uab = filter_valid(ab, k);
  const double c1 = std::pow(opt.k1 * opt.data_range, 2), c2 = std::pow(opt.k2 * opt.data_range, 2);
  double s_sum = 0, cs_sum = 0;
  for (std::size_t i = 0; i < ua.v.size(); ++i) {
    const double mx = ua.v[i], my = ub.v[i];
    const double vx = uaa.v[i] - mx * mx, vy = ubb.v[i] - my * my, vxy = uab.v[i] - mx * my;
    const double cs = (2 * vxy + c2) / (vx + vy + c2);
    cs_sum += cs;
    s_sum += (2 * mx * my + c1) / (mx * mx + my * my + c1) * cs;
  }
  const double n = static_cast<double>(ua.v.size());
  return {s_sum / n, cs_sum / n};
}

Grid to_grid(ImageView<const float> im) {
  Grid g(im.width(), im.height());
  for (std::size_t y = 0; y < im.height(); ++y)
    for (std::size_t x = 0; x < im.width(); ++x) g.at(x, y) = im(x, y);
  return g;
}

Grid halve(const Grid& g) {
  Grid out(g.w / 2, g.h / 2);
  for (std::size_t y = 0; y < out.h; ++y)
    for (std::size_t x = 0; x < out.w; ++x)
      out.at(x, y) = 0.25 * (g.at(2 * x, 2 * y) + g.at(2 * x + 1, 2 * y) + g.at(2 * x, 2 * y + 1) + g.at(2 * x + 1, 2 * y + 1));
  return out;
}

}  // namespace

double ssim(ImageView<const float> a, ImageView<const float> b, const SsimOptions& opt) {
  check_same(a, b, "ssim");
  return ssim_means(to_grid(a), to_grid(b), opt).ssim;
}

MsSsimResult ms_ssim_wang_detail(ImageView<const float> a, ImageView<const float> b, const SsimOptions& opt) {
  check_same(a, b, "ms_ssim_wang");
  static const double kWeights[5] = {0.0448, 0.2856, 0.3001, 0.2363, 0.1333};
  const std::size_t win = gauss_kernel(opt.sigma).size();
  // Scales that keep the window inside the image.
  int scales = 0;
  for (std::size_t w = a.width(), h = a.height(); scales < 5 && w >= win && h >= win; w /= 2, h /= 2) ++scales;
  if (scales == 0) throw std::invalid_argument("ms_ssim_wang: image smaller than the SSIM window");
  // Wang's weights as published (they sum to 1.0001); renormalised only when scales are missing.
  double wsum = 1.0;
  if (scales < 5) {
    wsum = 0;
    for (int s = 0; s < scales; ++s) wsum += kWeights[s];
  }
  Grid ga = to_grid(a), gb = to_grid(b);
  double value = 1;
  for (int s = 0; s < scales; ++s) {
    const SsimMeans m = ssim_means(ga, gb, opt);
    const double w = kWeights[s] / wsum;
    const double term = s + 1 == scales ? m.ssim : m.cs;
    value *= std::pow(std::max(term, 0.0), w);
    if (s + 1 < scales) {
      ga = halve(ga);
      gb = halve(gb);
    }
  }
  return {value, scales};
}

double psnr(ImageView<const float> a, ImageView<const float> b, double data_range) {
  check_same(a, b, "psnr");
  double se = 0;
  for (std::size_t y = 0; y < a.height(); ++y)
    for (std::size_t x = 0; x < a.width(); ++x) {
      const double d = static_cast<double>(a(x, y)) - b(x, y);
      se += d * d;
    }
  const double mse = se / static_cast<double>(a.width() * a.height());
  if (mse == 0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(data_range * data_range / mse);
}

FrcResult frc(ImageView<const float> a, ImageView<const float> b, double pixel_nm, double threshold) {
  check_same(a, b, "frc");
  const std::size_t W = a.width(), H = a.height();
  if (W < 8 || H < 8) throw std::invalid_argument("frc: images must be at least 8 x 8 px");
  auto tukey = [](std::size_t n) {
    std::vector<double> w(n, 1.0);
    const double alpha = 0.25, edge = alpha * (static_cast<double>(n) - 1) / 2;
    for (std::size_t i = 0; i < n; ++i) {
      const double d = std::min<double>(static_cast<double>(i), static_cast<double>(n - 1 - i));
      if (d < edge) w[i] = 0.5 * (1 - std::cos(M_PI * d / edge));
    }
    return w;
  };
  const std::vector<double> wx = tukey(W), wy = tukey(H);
  ImageF wa(W, H), wb(W, H);
  for (std::size_t y = 0; y < H; ++y)
    for (std::size_t x = 0; x < W; ++x) {
      wa(x, y) = static_cast<float>(a(x, y) * wx[x] * wy[y]);
      wb(x, y) = static_cast<float>(b(x, y) * wx[x] * wy[y]);
    }
  Fft2d fft(W, H);
  std::vector<Complexf> fa(fft.spectrum_size()), fb(fft.spectrum_size());
  fft.forward(wa.view(), fa.data());
  fft.forward(wb.view(), fb.data());
  const std::size_t SW = fft.spectrum_width();
  const double bin = 1.0 / static_cast<double>(std::max(W, H));  // cycles/px per ring
  const std::size_t rings = static_cast<std::size_t>(0.5 / bin) + 1;
  std::vector<double> num(rings, 0), da(rings, 0), db(rings, 0);
  for (std::size_t ky = 0; ky < H; ++ky) {
    const double fy = (ky <= H / 2 ? static_cast<double>(ky) : static_cast<double>(ky) - static_cast<double>(H)) / H;
    for (std::size_t kx = 0; kx < SW; ++kx) {
      const double fx = static_cast<double>(kx) / W;
      const std::size_t r = static_cast<std::size_t>(std::lround(std::sqrt(fx * fx + fy * fy) / bin));
      if (r >= rings) continue;
      // The half spectrum stores each conjugate pair once: inner columns count twice.
      const double w = (kx == 0 || (W % 2 == 0 && kx == W / 2)) ? 1.0 : 2.0;
      const std::complex<double> A = fa[ky * SW + kx], B = fb[ky * SW + kx];
      num[r] += w * (A * std::conj(B)).real();
      da[r] += w * std::norm(A);
      db[r] += w * std::norm(B);
    }
  }
  FrcResult out;
  for (std::size_t r = 0; r < rings; ++r) {
    out.frequency_per_nm.push_back(r * bin / pixel_nm);
    const double d = std::sqrt(da[r] * db[r]);
    out.correlation.push_back(d > 0 ? num[r] / d : 0.0);
  }
  out.resolution_nm = 2 * pixel_nm;
  // An empty half (no localizations in it), or no agreement at any of the lowest rings: nothing is
  // resolved, and the crossing below would read as the field's size. (Ring 1 alone holds a few
  // coefficients: one low value there is noise.)
  const bool empty_half = std::all_of(da.begin(), da.end(), [](double v) { return v == 0; }) ||
                          std::all_of(db.begin(), db.end(), [](double v) { return v == 0; });
  bool lowest_rings_below = rings > 1;
  for (std::size_t r = 1; r < std::min<std::size_t>(rings, 4); ++r) lowest_rings_below = lowest_rings_below && out.correlation[r] < threshold;
  if (empty_half || lowest_rings_below) {
    out.resolution_nm = std::numeric_limits<double>::quiet_NaN();
    return out;
  }
  for (std::size_t r = 2; r < rings; ++r) {
    if (out.correlation[r] < threshold) {
      const double c0 = out.correlation[r - 1], c1 = out.correlation[r];
      const double t = c0 > c1 ? (c0 - threshold) / (c0 - c1) : 0.0;
      const double f = (static_cast<double>(r - 1) + std::clamp(t, 0.0, 1.0)) * bin / pixel_nm;
      out.resolution_nm = 1.0 / f;
      out.crossed = true;
      break;
    }
  }
  return out;
}

ImageF normalise_to_unit(ImageView<const float> image, double quantile) {
  ImageF out = to_image(image);
  if (out.empty()) return out;
  std::vector<float> v(out.begin(), out.end());
  const std::size_t k = std::min(v.size() - 1, static_cast<std::size_t>(std::clamp(quantile, 0.0, 1.0) * (v.size() - 1)));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  float scale = v[k];
  if (!(scale > 0)) scale = *std::max_element(out.begin(), out.end());
  if (!(scale > 0)) return out;
  for (float& p : out) p = std::clamp(p / scale, 0.0f, 1.0f);
  return out;
}

}  // namespace annamosaic
