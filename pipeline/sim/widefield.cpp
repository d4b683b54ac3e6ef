#include "sim/widefield.hpp"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>

namespace annamosaic {
namespace {

constexpr double kWindowSigmas = 5.0;  // PSF cut: loses < 1e-6 of the light per axis
constexpr long kBandRows = 32;         // rows per parallel task; labels near a band edge are splatted twice
constexpr double kSizeTolPx = 1e-9;    // so that exact multiples of the pixel size do not gain a pixel
constexpr double kMinPathPx = 1e-6;    // shorter stage travel than this is treated as no motion

// The camera grid in pixel units: a label's centre is at u = (x - x0) / px (+ shift).
struct Grid {
  double x0_nm = 0, y0_nm = 0, px_nm = 1;
  long width = 0, height = 0;
};

// The light distribution of one label in pixel units: a Gaussian of sigma_px, smeared uniformly over the
// content offsets [path_lo_px, path_hi_px] along x and [path_y_lo_px, path_y_hi_px] along y (the stage moves
// along one axis; all 0 for a static frame).
struct Spot {
  double sigma_px = 1;
  double path_lo_px = 0, path_hi_px = 0;
  double path_y_lo_px = 0, path_y_hi_px = 0;
  bool moving() const { return path_hi_px - path_lo_px > kMinPathPx; }
  bool moving_y() const { return path_y_hi_px - path_y_lo_px > kMinPathPx; }
};

struct LabelPx {
  double u = 0, v = 0;  // centre in pixel coordinates (pixel i covers [i, i+1))
  long band_first = 0, band_last = 0;
};

void validate(const WidefieldOptions& opt) {
  if (!(opt.camera_pixel_nm > 0) || !std::isfinite(opt.camera_pixel_nm))
    throw std::invalid_argument("widefield: camera_pixel_nm must be > 0");
  const double s = psf_sigma_nm(opt);
  if (!(s > 0) || !std::isfinite(s)) throw std::invalid_argument("widefield: the PSF sigma must be > 0");
  if (opt.frames < 0) throw std::invalid_argument("widefield: frames must be >= 0");
  if (std::abs(opt.motion_dx) + std::abs(opt.motion_dy) != 1)
    throw std::invalid_argument("widefield: the motion direction must be one of (+-1, 0), (0, +-1)");
}

long size_px(double extent_nm, double px_nm) {
  return std::max(0L, static_cast<long>(std::ceil(extent_nm / px_nm - kSizeTolPx)));
}

Grid make_grid(const RectNm& fov, const WidefieldOptions& opt) {
  return {fov.x0_nm, fov.y0_nm, opt.camera_pixel_nm, size_px(fov.width_nm, opt.camera_pixel_nm),
          size_px(fov.height_nm, opt.camera_pixel_nm)};
}

// Pixels [first, last] that receive light from an extent [lo, hi] (pixel units), clipped to [0, n).
bool pixel_range(double lo, double hi, long n, long& first, long& last) {
  if (!(hi >= 0) || !(lo < static_cast<double>(n))) return false;  // also rejects NaN
  first = std::max(0L, static_cast<long>(std::floor(lo)));
  last = std::min(n - 1, static_cast<long>(std::floor(hi)));
  return first <= last;
}

// Gaussian mass of pixels first .. first+n-1: Phi differences at the pixel edges.
void gaussian_weights(double centre, double sigma, long first, long n, double* w) {
  const double inv = 1.0 / (std::sqrt(2.0) * sigma);
  double prev = std::erf((static_cast<double>(first) - centre) * inv);
  for (long k = 0; k < n; ++k) {
    const double next = std::erf((static_cast<double>(first + k + 1) - centre) * inv);
    w[k] = 0.5 * (next - prev);
    prev = next;
  }
}

// Antiderivative of the standard normal CDF: G(t) = t Phi(t) + phi(t); exact to 1e-15 beyond |t| = 8.
double normal_cdf_integral(double t) {
  if (t > 8) return t;
  if (t < -8) return 0;
  constexpr double kInvSqrt2Pi = 0.3989422804014327;
  return t * 0.5 * std::erfc(-t / std::sqrt(2.0)) + kInvSqrt2Pi * std::exp(-0.5 * t * t);
}

// Mass in pixels first .. first+n-1 of a Gaussian whose centre moves uniformly over [centre+lo, centre+hi]:
// the density is (Phi((p-centre-lo)/s) - Phi((p-centre-hi)/s)) / (hi-lo), integrated over each pixel with G.
void path_weights(double centre, double sigma, double lo, double hi, long first, long n, double* w) {
  const double scale = sigma / (hi - lo);
  auto edge = [&](long k) {
    const double p = static_cast<double>(first + k) - centre;
    return normal_cdf_integral((p - lo) / sigma) - normal_cdf_integral((p - hi) / sigma);
  };
  double prev = edge(0);
  for (long k = 0; k < n; ++k) {
    const double next = edge(k + 1);
    w[k] = std::max(0.0, scale * (next - prev));  // cancellation may leave -1e-16 in the tails
    prev = next;
  }
}

void x_weights(const Spot& spot, double u, long first, long n, double* w) {
  if (spot.moving())
    path_weights(u, spot.sigma_px, spot.path_lo_px, spot.path_hi_px, first, n, w);
  else
    gaussian_weights(u + spot.path_lo_px, spot.sigma_px, first, n, w);
}

void y_weights(const Spot& spot, double v, long first, long n, double* w) {
  if (spot.moving_y())
    path_weights(v, spot.sigma_px, spot.path_y_lo_px, spot.path_y_hi_px, first, n, w);
  else
    gaussian_weights(v + spot.path_y_lo_px, spot.sigma_px, first, n, w);
}

// Labels in pixel units that light the image, each with the row bands it touches (in label order, so that
// every pixel sums its contributions in the same order whatever the thread count).
std::vector<LabelPx> visible_labels(const std::vector<PointNm>& labels, const Grid& g, PointNm shift_px,
                                    const Spot& spot) {
  const double r = kWindowSigmas * spot.sigma_px;
  std::vector<LabelPx> out;
  out.reserve(labels.size());
  for (const PointNm& p : labels) {
    LabelPx l;
    l.u = (p.x_nm - g.x0_nm) / g.px_nm + shift_px.x_nm;
    l.v = (p.y_nm - g.y0_nm) / g.px_nm + shift_px.y_nm;
    long fx, lx, fy, ly;
    if (!pixel_range(l.u + spot.path_lo_px - r, l.u + spot.path_hi_px + r, g.width, fx, lx)) continue;
    if (!pixel_range(l.v + spot.path_y_lo_px - r, l.v + spot.path_y_hi_px + r, g.height, fy, ly)) continue;
    l.band_first = fy / kBandRows;
    l.band_last = ly / kBandRows;
    out.push_back(l);
  }
  return out;
}

// Indices of the labels touching each band, bucketed stably (counting sort).
std::vector<std::vector<std::uint32_t>> bucket_by_band(const std::vector<LabelPx>& pts, long bands) {
  std::vector<std::size_t> counts(static_cast<std::size_t>(bands), 0);
  for (const LabelPx& l : pts)
    for (long b = l.band_first; b <= l.band_last; ++b) ++counts[static_cast<std::size_t>(b)];
  std::vector<std::vector<std::uint32_t>> lists(static_cast<std::size_t>(bands));
  for (long b = 0; b < bands; ++b) lists[static_cast<std::size_t>(b)].reserve(counts[static_cast<std::size_t>(b)]);
  for (std::size_t i = 0; i < pts.size(); ++i)
    for (long b = pts[i].band_first; b <= pts[i].band_last; ++b)
      lists[static_cast<std::size_t>(b)].push_back(static_cast<std::uint32_t>(i));
  return lists;
}

// Splats the labels of one band into rows [row0, row1) of `out`, accumulating in double.
void render_band(const std::vector<LabelPx>& pts, const std::vector<std::uint32_t>& members, const Grid& g,
                 const Spot& spot, double photons, long row0, long row1, ImageF& out) {
  const double r = kWindowSigmas * spot.sigma_px;
  const auto width = static_cast<std::size_t>(g.width);
  std::vector<double> acc(static_cast<std::size_t>(row1 - row0) * width, 0.0);
  std::vector<double> wx, wy;
  for (std::uint32_t idx : members) {
    const LabelPx& l = pts[idx];
    long fx, lx, fy, ly;
    if (!pixel_range(l.u + spot.path_lo_px - r, l.u + spot.path_hi_px + r, g.width, fx, lx)) continue;
    if (!pixel_range(l.v + spot.path_y_lo_px - r, l.v + spot.path_y_hi_px + r, g.height, fy, ly)) continue;
    fy = std::max(fy, row0);
    ly = std::min(ly, row1 - 1);
    if (fy > ly) continue;
    const long nx = lx - fx + 1, ny = ly - fy + 1;
    wx.resize(static_cast<std::size_t>(nx));
    wy.resize(static_cast<std::size_t>(ny));
    x_weights(spot, l.u, fx, nx, wx.data());
    y_weights(spot, l.v, fy, ny, wy.data());
    for (long j = 0; j < ny; ++j) {
      double* row = acc.data() + static_cast<std::size_t>(fy + j - row0) * width + static_cast<std::size_t>(fx);
      const double a = wy[static_cast<std::size_t>(j)];
      for (long k = 0; k < nx; ++k) row[k] += a * wx[static_cast<std::size_t>(k)];
    }
  }
  for (long y = row0; y < row1; ++y) {
    const double* src = acc.data() + static_cast<std::size_t>(y - row0) * width;
    float* dst = out.row(static_cast<std::size_t>(y));
    for (std::size_t x = 0; x < width; ++x) dst[x] = static_cast<float>(photons * src[x]);
  }
}

// The expected photon image: row bands rendered in parallel, each independent of the partitioning.
ImageF render_expected(const std::vector<PointNm>& labels, const Grid& g, PointNm shift_px, const Spot& spot,
                       double photons) {
  ImageF out(static_cast<std::size_t>(g.width), static_cast<std::size_t>(g.height));
  if (out.empty()) return out;
  const std::vector<LabelPx> pts = visible_labels(labels, g, shift_px, spot);
  const long bands = (g.height + kBandRows - 1) / kBandRows;
  const auto lists = bucket_by_band(pts, bands);
  tbb::parallel_for(tbb::blocked_range<long>(0, bands, 1), [&](const tbb::blocked_range<long>& range) {
    for (long b = range.begin(); b != range.end(); ++b)
      render_band(pts, lists[static_cast<std::size_t>(b)], g, spot, photons, b * kBandRows,
                  std::min(g.height, (b + 1) * kBandRows), out);
  });
  return out;
}

// One recorded frame from an expected photon image (see widefield_stack for the model).
ImageF record_frame(const ImageF& expected, const ImageF& vignette, const WidefieldOptions& opt,
                    std::uint64_t seed) {
  ImageF out(expected.width(), expected.height());
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> read_noise(0.0, std::max(0.0, opt.read_noise_e));
  std::poisson_distribution<std::int64_t> shot;
  using Param = std::poisson_distribution<std::int64_t>::param_type;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const double photons =
        std::max(0.0, (static_cast<double>(expected.data()[i]) + opt.background_photons) * vignette.data()[i]);
    double adu;
    if (opt.noise) {
      const double electrons =
          (photons > 0 ? static_cast<double>(shot(rng, Param(photons))) : 0.0) + read_noise(rng);
      adu = std::round(opt.gain_adu_per_e * electrons + opt.offset_adu);
    } else {
      adu = opt.gain_adu_per_e * photons + opt.offset_adu;
    }
    out.data()[i] = static_cast<float>(std::clamp(adu, 0.0, 65535.0));
  }
  return out;
}

}  // namespace

double psf_sigma_nm(const WidefieldOptions& opt) {
  if (opt.psf_sigma_nm > 0) return opt.psf_sigma_nm;
  return 0.21 * opt.wavelength_nm / opt.numerical_aperture;
}

ImageF widefield_expected(const std::vector<PointNm>& labels, const RectNm& fov, PointNm shift_px,
                          const WidefieldOptions& opt, double extra_shift_x_nm) {
  validate(opt);
  const Grid g = make_grid(fov, opt);
  Spot spot;
  spot.sigma_px = psf_sigma_nm(opt) / g.px_nm;
  spot.path_lo_px = spot.path_hi_px = extra_shift_x_nm / g.px_nm;
  return render_expected(labels, g, shift_px, spot, opt.photons_per_label);
}

ImageF widefield_motion_blurred_expected(const std::vector<PointNm>& labels, const RectNm& fov, PointNm shift_px,
                                         const WidefieldOptions& opt) {
  validate(opt);
  const Grid g = make_grid(fov, opt);
  const double travel_px = opt.motion_blur_um * 1000.0 / g.px_nm;
  Spot spot;
  spot.sigma_px = psf_sigma_nm(opt) / g.px_nm;
  // The content ends at the rest position (offset 0), coming from -travel along its direction.
  const double from_px = -travel_px * (opt.motion_dx != 0 ? opt.motion_dx : opt.motion_dy);
  double& lo = opt.motion_dx != 0 ? spot.path_lo_px : spot.path_y_lo_px;
  double& hi = opt.motion_dx != 0 ? spot.path_hi_px : spot.path_y_hi_px;
  lo = std::min(from_px, 0.0);
  hi = std::max(from_px, 0.0);
  if (!(hi - lo > kMinPathPx)) lo = hi = 0;
  return render_expected(labels, g, shift_px, spot, opt.photons_per_label);
}

ImageF vignetting_profile(std::size_t width_px, std::size_t height_px, double vignetting) {
  ImageF out(width_px, height_px);
  const double cx = 0.5 * (static_cast<double>(width_px) - 1), cy = 0.5 * (static_cast<double>(height_px) - 1);
  // Normalise so that the corner pixel centres sit at r = 1 (a 1-pixel axis does not count).
  const int axes = (width_px > 1 ? 1 : 0) + (height_px > 1 ? 1 : 0);
  for (std::size_t y = 0; y < height_px; ++y) {
    const double ny = cy > 0 ? (static_cast<double>(y) - cy) / cy : 0.0;
    for (std::size_t x = 0; x < width_px; ++x) {
      const double nx = cx > 0 ? (static_cast<double>(x) - cx) / cx : 0.0;
      const double r2 = axes > 0 ? (nx * nx + ny * ny) / axes : 0.0;
      out(x, y) = static_cast<float>(1.0 - vignetting * r2);
    }
  }
  return out;
}

std::vector<ImageF> widefield_stack(const std::vector<PointNm>& labels, const RectNm& fov, PointNm shift_px,
                                    const WidefieldOptions& opt, std::uint64_t seed) {
  validate(opt);
  const int frames = opt.frames;
  const int blurred = std::clamp(opt.motion_blurred_frames, 0, frames);
  const ImageF still = blurred < frames ? widefield_expected(labels, fov, shift_px, opt) : ImageF();
  const ImageF moving = blurred > 0 ? widefield_motion_blurred_expected(labels, fov, shift_px, opt) : ImageF();
  const ImageF& any = blurred > 0 ? moving : still;
  const ImageF vignette = vignetting_profile(any.width(), any.height(), opt.vignetting);

  std::vector<ImageF> stack(static_cast<std::size_t>(frames));
  // Each frame has its own random stream, so frames are independent tasks.
  tbb::parallel_for(0, frames, [&](int f) {
    const ImageF& expected = f < blurred ? moving : still;
    stack[static_cast<std::size_t>(f)] =
        record_frame(expected, vignette, opt, mix_seed(seed, static_cast<std::uint64_t>(f)));
  });
  return stack;
}

}  // namespace annamosaic
