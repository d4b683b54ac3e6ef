#include "register/phase_correlation.hpp"

#include <algorithm>
#include <cmath>
#include <complex>
#include <limits>
#include <map>
#include <mutex>
#include <stdexcept>
#include <utility>

#include "fft/fft.hpp"
#include "register/preprocess.hpp"

namespace annamosaic {
namespace {

constexpr double kPi = 3.14159265358979323846;

// Plans are cached per padded size for the life of the process: creating one takes the global
// planner lock, executing it does not.
std::shared_ptr<const Fft2d> cached_fft(std::size_t w, std::size_t h) {
  static std::mutex m;
  static std::map<std::pair<std::size_t, std::size_t>, std::shared_ptr<const Fft2d>> cache;
  std::lock_guard<std::mutex> lock(m);
  auto& slot = cache[{w, h}];
  if (!slot) slot = std::make_shared<const Fft2d>(w, h);
  return slot;
}

std::vector<float> window_1d(std::size_t n, Window window, double alpha) {
  std::vector<float> w(n, 1.0f);
  if (window == Window::None || n == 0) return w;
  if (window == Window::Hann) alpha = 1.0;
  alpha = std::clamp(alpha, 0.0, 1.0);
  const double taper = alpha * static_cast<double>(n) / 2.0;  // tapered length on each side
  if (taper <= 0) return w;
  for (std::size_t i = 0; i < n; ++i) {
    // Pixel centres: never exactly 0 at the ends, so border pixels still count a little.
    const double d = std::min(i + 0.5, static_cast<double>(n) - i - 0.5);
    if (d < taper) w[i] = static_cast<float>(0.5 * (1.0 - std::cos(kPi * d / taper)));
  }
  return w;
}

PcRect resolve(const PcRect& r, std::size_t w, std::size_t h, const char* which) {
  if (r.width == 0) return {0, 0, w, h};
  if (r.height == 0 || r.x0 + r.width > w || r.y0 + r.height > h)
    throw std::invalid_argument(std::string("phase_correlate: ") + which + " valid rectangle outside the image");
  return r;
}

// Per-thread scratch buffers: the correlator runs thousands of times on same-sized strips, and
// fresh multi-megabyte allocations cost more in page faults than the arithmetic.
struct Workspace {
  std::vector<float> a, b, pa, pb, surface;
  std::vector<Complexf> fa, fb;
};
Workspace& workspace() {
  thread_local Workspace ws;
  return ws;
}

// Resizes and zero-fills; returns a dense w x h view over the buffer.
ImageView<float> zeroed(std::vector<float>& buf, std::size_t w, std::size_t h) {
  buf.assign(w * h, 0.0f);
  return ImageView<float>(buf.data(), w, h, w);
}

// The image as the correlator sees it (written into `out`, w x h): pre-filtered, mean removed over
// the valid rectangle, 0 outside it (and at non-finite pixels). Returns whether it has structure.
bool prepare(ImageView<const float> in, const PcRect& r, const PcOptions& opt, ImageView<float> out) {
  ImageF filtered;
  ImageView<const float> src = in.region(r.x0, r.y0, r.width, r.height);
  if (opt.prefilter != Prefilter::None) {
    filtered = prefilter_image(src, opt.prefilter, opt.prefilter_sigma_px);
    src = filtered.view();
  }
  double sum = 0;
  std::size_t n = 0;
  for (std::size_t y = 0; y < r.height; ++y) {
    const float* s = src.row(y);
    for (std::size_t x = 0; x < r.width; ++x)
      if (std::isfinite(s[x])) sum += s[x], ++n;
  }
  if (n == 0) return false;
  const double mean = sum / static_cast<double>(n);
  const float meanf = static_cast<float>(mean);
  double ss = 0;
  for (std::size_t y = 0; y < r.height; ++y) {
    const float* s = src.row(y);
    float* d = out.row(r.y0 + y) + r.x0;
    float row = 0;
    for (std::size_t x = 0; x < r.width; ++x) {
      const float v = std::isfinite(s[x]) ? s[x] - meanf : 0.0f;
      d[x] = v;
      row += v * v;
    }
    ss += row;
  }
  const double var = ss / static_cast<double>(n);
  // A constant image (empty strip, all zeros) carries no position information.
  return std::isfinite(var) && var > 1e-10 * std::max(mean * mean, 1e-20);
}

struct Peak {
  double value;
  std::size_t x, y;
};

// Integer shifts s with |s - expected| <= max + 0.5 that leave a non-empty overlap (|s| < n),
// as a mask over the residues s mod m.
std::vector<char> allowed_residues(std::size_t m, std::size_t n, double expected, double max_shift) {
  std::vector<char> ok(m, 0);
  const long ln = static_cast<long>(n);
  long lo = -(ln - 1), hi = ln - 1;
  if (max_shift >= 0) {
    lo = std::max(lo, static_cast<long>(std::ceil(expected - max_shift - 0.5)));
    hi = std::min(hi, static_cast<long>(std::floor(expected + max_shift + 0.5)));
  }
  const long lm = static_cast<long>(m);
  for (long s = lo; s <= hi; ++s) ok[static_cast<std::size_t>(((s % lm) + lm) % lm)] = 1;
  return ok;
}

// The top-n local maxima at allowed residues, sorted by value (ties by position, so the order
// never depends on the thread). A maximum must dominate its periodic (2 kNms + 1)^2 neighbourhood:
// the shoulders of one broad peak (or a ridge along a filament) then do not take all n places.
constexpr int kNms = 2;

std::vector<Peak> top_peaks(ImageView<const float> r, const std::vector<char>& okx, const std::vector<char>& oky, int n) {
  const std::size_t W = r.width(), H = r.height();
  std::vector<Peak> best;
  for (std::size_t y = 0; y < H; ++y) {
    if (!oky[y]) continue;
    const float* r0 = r.row(y);
    for (std::size_t x = 0; x < W; ++x) {
      if (!okx[x]) continue;
      const float v = r0[x];
      if (!std::isfinite(v)) continue;
      if (static_cast<int>(best.size()) == n && v <= best.back().value) continue;
      // Strict against earlier neighbours (in scan order), non-strict against later ones: one peak per plateau.
      bool is_max = true;
      for (int j = -kNms; j <= kNms && is_max; ++j) {
        const float* rr = r.row((y + H + static_cast<std::size_t>(j + static_cast<int>(H))) % H);
        for (int i = -kNms; i <= kNms; ++i) {
          if (i == 0 && j == 0) continue;
          const float u = rr[(x + W + static_cast<std::size_t>(i + static_cast<int>(W))) % W];
          if ((j < 0 || (j == 0 && i < 0)) ? !(v > u) : !(v >= u)) {
            is_max = false;
            break;
          }
        }
      }
      if (!is_max) continue;
      Peak p{v, x, y};
      auto it = std::upper_bound(best.begin(), best.end(), p, [](const Peak& a, const Peak& b) { return a.value > b.value; });
      best.insert(it, p);
      if (static_cast<int>(best.size()) > n) best.pop_back();
    }
  }
  return best;
}

struct Overlap {
  std::size_t x0 = 0, y0 = 0, w = 0, h = 0;  // in fixed coordinates
};

Overlap implied_overlap(const PcRect& f, const PcRect& m, long sx, long sy) {
  // moving(x + sx) pairs with fixed(x): the moving rectangle seen in fixed coordinates starts at m.x0 - sx.
  const long x0 = std::max(static_cast<long>(f.x0), static_cast<long>(m.x0) - sx);
  const long x1 = std::min(static_cast<long>(f.x0 + f.width), static_cast<long>(m.x0 + m.width) - sx);
  const long y0 = std::max(static_cast<long>(f.y0), static_cast<long>(m.y0) - sy);
  const long y1 = std::min(static_cast<long>(f.y0 + f.height), static_cast<long>(m.y0 + m.height) - sy);
  Overlap o;
  if (x1 <= x0 || y1 <= y0) return o;
  o.x0 = static_cast<std::size_t>(x0), o.y0 = static_cast<std::size_t>(y0);
  o.w = static_cast<std::size_t>(x1 - x0), o.h = static_cast<std::size_t>(y1 - y0);
  return o;
}

double ncc_overlap(ImageView<const float> a, ImageView<const float> b, const Overlap& o, long sx, long sy) {
  if (o.w == 0 || o.h == 0) return 0;
  double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
  for (std::size_t y = 0; y < o.h; ++y) {
    const float* pa = a.row(o.y0 + y) + o.x0;
    const float* pb = b.row(static_cast<std::size_t>(static_cast<long>(o.y0 + y) + sy)) + static_cast<long>(o.x0) + sx;
    // Per-row float partial sums keep the inner loop vectorisable; rows are summed in double.
    float ra = 0, rb = 0, raa = 0, rbb = 0, rab = 0;
    for (std::size_t x = 0; x < o.w; ++x) {
      const float va = pa[x], vb = pb[x];
      ra += va, rb += vb, raa += va * va, rbb += vb * vb, rab += va * vb;
    }
    sa += ra, sb += rb, saa += raa, sbb += rbb, sab += rab;
  }
  const double n = static_cast<double>(o.w * o.h);
  const double va = saa - sa * sa / n, vb = sbb - sb * sb / n;
  if (!(va > 0 && vb > 0)) return 0;
  const double c = (sab - sa * sb / n) / std::sqrt(va * vb);
  return std::isfinite(c) ? std::clamp(c, -1.0, 1.0) : 0.0;
}

// Participation ratio of each image over the overlap (after removing the overlap mean): the
// smaller one.
double active_pixels(ImageView<const float> a, ImageView<const float> b, const Overlap& o, long sx, long sy) {
  if (o.w == 0 || o.h == 0) return 0;
  double sa = 0, sb = 0;
  for (std::size_t y = 0; y < o.h; ++y) {
    const float* pa = a.row(o.y0 + y) + o.x0;
    const float* pb = b.row(static_cast<std::size_t>(static_cast<long>(o.y0 + y) + sy)) + static_cast<long>(o.x0) + sx;
    for (std::size_t x = 0; x < o.w; ++x) sa += pa[x], sb += pb[x];
  }
  const double n = static_cast<double>(o.w * o.h), ma = sa / n, mb = sb / n;
  double a2 = 0, a4 = 0, b2 = 0, b4 = 0;
  for (std::size_t y = 0; y < o.h; ++y) {
    const float* pa = a.row(o.y0 + y) + o.x0;
    const float* pb = b.row(static_cast<std::size_t>(static_cast<long>(o.y0 + y) + sy)) + static_cast<long>(o.x0) + sx;
    for (std::size_t x = 0; x < o.w; ++x) {
      const double va = (pa[x] - ma) * (pa[x] - ma), vb = (pb[x] - mb) * (pb[x] - mb);
      a2 += va, a4 += va * va, b2 += vb, b4 += vb * vb;
    }
  }
  const double pra = a4 > 0 ? a2 * a2 / a4 : 0, prb = b4 > 0 ? b2 * b2 / b4 : 0;
  return std::min(pra, prb);
}

// Least-squares quadratic through the 3x3 neighbourhood; falls back to per-axis parabolas when
// the fit has no maximum within a pixel (e.g. a ridge).
std::pair<double, double> paraboloid_offset(ImageView<const float> r, std::size_t px, std::size_t py) {
  const std::size_t W = r.width(), H = r.height();
  double v[3][3];
  for (int j = -1; j <= 1; ++j)
    for (int i = -1; i <= 1; ++i)
      v[j + 1][i + 1] = r((px + W + i) % W, (py + H + j) % H);
  double s1x = 0, s0x = 0, s1y = 0, s0y = 0, gx = 0, gy = 0;
  for (int k = 0; k < 3; ++k) {
    s1x += v[k][0] + v[k][2], s0x += v[k][1];
    s1y += v[0][k] + v[2][k], s0y += v[1][k];
    gx += v[k][2] - v[k][0], gy += v[2][k] - v[0][k];
  }
  const double cx = gx / 6, cy = gy / 6, cxx = (s1x - 2 * s0x) / 6, cyy = (s1y - 2 * s0y) / 6;
  const double cxy = (v[2][2] - v[0][2] - v[2][0] + v[0][0]) / 4;
  const double det = 4 * cxx * cyy - cxy * cxy;
  if (cxx < 0 && det > 0) {
    const double ox = (-2 * cyy * cx + cxy * cy) / det, oy = (-2 * cxx * cy + cxy * cx) / det;
    if (std::abs(ox) <= 1 && std::abs(oy) <= 1) return {ox, oy};
  }
  auto para = [](double m, double c, double p) {
    const double d = m - 2 * c + p;
    return d < 0 ? std::clamp(0.5 * (m - p) / d, -0.5, 0.5) : 0.0;
  };
  return {para(v[1][0], v[1][1], v[1][2]), para(v[0][1], v[1][1], v[2][1])};
}

// Per-axis parabola through the logarithm of the peak and its neighbours: exact for a Gaussian
// peak, which is what blurred images give; falls back to the paraboloid where a value is <= 0.
std::pair<double, double> gaussian_offset(ImageView<const float> r, std::size_t px, std::size_t py) {
  const std::size_t W = r.width(), H = r.height();
  const double c = r(px, py), l = r((px + W - 1) % W, py), rr = r((px + 1) % W, py);
  const double u = r(px, (py + H - 1) % H), d = r(px, (py + 1) % H);
  if (!(c > 0 && l > 0 && rr > 0 && u > 0 && d > 0)) return paraboloid_offset(r, px, py);
  auto fit = [](double m, double c0, double p) {
    const double lm = std::log(m), lc = std::log(c0), lp = std::log(p);
    const double den = lm - 2 * lc + lp;
    return den < 0 ? std::clamp(0.5 * (lm - lp) / den, -0.5, 0.5) : 0.0;
  };
  return {fit(l, c, rr), fit(u, c, d)};
}

// Guizar-Sicairos et al. (2008): the inverse DFT of the cross-power spectrum evaluated on a
// 1/up grid within +-0.75 px of the integer peak, using the half spectrum of a real signal.
std::pair<double, double> upsampled_offset(const std::vector<Complexf>& spec, std::size_t M, std::size_t N, std::size_t px,
                                           std::size_t py, int up) {
  up = std::max(up, 2);
  const int half = static_cast<int>(std::ceil(0.75 * up));
  const int n = 2 * half + 1;
  const std::size_t K = M / 2 + 1;
  // E[v][kx] = weight(kx) * exp(2 pi i kx (px + v) / M); weight 2 for columns whose conjugate is not stored.
  std::vector<std::complex<double>> ex(static_cast<std::size_t>(n) * K);
  for (int v = 0; v < n; ++v) {
    const double pos = static_cast<double>(px) + static_cast<double>(v - half) / up;
    for (std::size_t k = 0; k < K; ++k) {
      const double w = (k == 0 || (M % 2 == 0 && k == M / 2)) ? 1.0 : 2.0;
      const double a = 2 * kPi * static_cast<double>(k) * pos / static_cast<double>(M);
      ex[static_cast<std::size_t>(v) * K + k] = w * std::complex<double>(std::cos(a), std::sin(a));
    }
  }
  std::vector<std::complex<double>> t(N * static_cast<std::size_t>(n));
  for (std::size_t ky = 0; ky < N; ++ky) {
    const Complexf* row = spec.data() + ky * K;
    for (int v = 0; v < n; ++v) {
      const std::complex<double>* e = ex.data() + static_cast<std::size_t>(v) * K;
      double re = 0, im = 0;
      for (std::size_t k = 0; k < K; ++k) {
        const double ar = row[k].real(), ai = row[k].imag(), br = e[k].real(), bi = e[k].imag();
        re += ar * br - ai * bi;
        im += ar * bi + ai * br;
      }
      t[ky * static_cast<std::size_t>(n) + static_cast<std::size_t>(v)] = {re, im};
    }
  }
  double best = -std::numeric_limits<double>::infinity();
  int bu = half, bv = half;
  std::vector<double> cc(static_cast<std::size_t>(n) * n);
  for (int u = 0; u < n; ++u) {
    const double pos = static_cast<double>(py) + static_cast<double>(u - half) / up;
    std::vector<double> acc(static_cast<std::size_t>(n), 0.0);
    for (std::size_t ky = 0; ky < N; ++ky) {
      // Signed frequency: the band-limited interpolation between samples.
      const double f = ky <= N / 2 ? static_cast<double>(ky) : static_cast<double>(ky) - static_cast<double>(N);
      const double a = 2 * kPi * f * pos / static_cast<double>(N);
      const double c = std::cos(a), s = std::sin(a);
      const std::complex<double>* tr = t.data() + ky * static_cast<std::size_t>(n);
      for (int v = 0; v < n; ++v) acc[static_cast<std::size_t>(v)] += tr[v].real() * c - tr[v].imag() * s;
    }
    for (int v = 0; v < n; ++v) {
      cc[static_cast<std::size_t>(u) * n + v] = acc[static_cast<std::size_t>(v)];
      if (acc[static_cast<std::size_t>(v)] > best) best = acc[static_cast<std::size_t>(v)], bu = u, bv = v;
    }
  }
  // A parabola through the fine grid's maximum removes the last 1/(2 up) of quantisation.
  auto para = [](double m, double c, double p) {
    const double d = m - 2 * c + p;
    return d < 0 ? std::clamp(0.5 * (m - p) / d, -0.5, 0.5) : 0.0;
  };
  double fu = bu, fv = bv;
  if (bv > 0 && bv < n - 1) fv += para(cc[bu * n + bv - 1], cc[bu * n + bv], cc[bu * n + bv + 1]);
  if (bu > 0 && bu < n - 1) fu += para(cc[(bu - 1) * n + bv], cc[bu * n + bv], cc[(bu + 1) * n + bv]);
  return {(fv - half) / up, (fu - half) / up};
}

// Climbs the NCC over integer shifts from (sx, sy) (value `start` there, or < -1 to compute it) to
// a local maximum (at most max_steps moves), then fits a per-axis Gaussian (log-parabola, else
// parabola) through it and its neighbours. ncc = -2: no usable overlap.
struct NccClimb {
  long sx = 0, sy = 0;
  double ox = 0, oy = 0, ncc = -2;
};

NccClimb climb_ncc(ImageView<const float> a, ImageView<const float> b, const PcRect& fr, const PcRect& mr, long sx, long sy,
                   double start, int max_steps, double min_area) {
  auto ncc_at = [&](long x, long y) {
    const Overlap o = implied_overlap(fr, mr, x, y);
    if (o.w == 0 || static_cast<double>(o.w * o.h) < min_area) return -2.0;
    return ncc_overlap(a, b, o, x, y);
  };
  NccClimb c;
  c.sx = sx, c.sy = sy;
  double v[3][3] = {{-2, -2, -2}, {-2, -2, -2}, {-2, -2, -2}};
  for (int step = 0; step <= std::max(0, max_steps); ++step) {
    for (int j = -1; j <= 1; ++j)
      for (int i = -1; i <= 1; ++i)
        v[j + 1][i + 1] = (i == 0 && j == 0 && step == 0 && start >= -1) ? start : ncc_at(c.sx + i, c.sy + j);
    int bi = 0, bj = 0;
    for (int j = -1; j <= 1; ++j)
      for (int i = -1; i <= 1; ++i)
        if (v[j + 1][i + 1] > v[bj + 1][bi + 1]) bi = i, bj = j;
    if (bi == 0 && bj == 0) break;
    if (step == max_steps) return c;  // still climbing: no maximum within reach
    c.sx += bi, c.sy += bj;
  }
  if (v[1][1] <= -2) return c;
  auto fit = [](double m, double c0, double p) {
    if (m > 0 && c0 > 0 && p > 0) {
      const double lm = std::log(m), lc = std::log(c0), lp = std::log(p), den = lm - 2 * lc + lp;
      if (den < 0) return std::clamp(0.5 * (lm - lp) / den, -0.5, 0.5);
    }
    const double den = m - 2 * c0 + p;
    return den < 0 ? std::clamp(0.5 * (m - p) / den, -0.5, 0.5) : 0.0;
  };
  c.ox = fit(v[1][0], v[1][1], v[1][2]);
  c.oy = fit(v[0][1], v[1][1], v[2][1]);
  c.ncc = v[1][1];
  return c;
}

PcResult correlate_impl(const Fft2d& fft, const std::vector<float>& wx, const std::vector<float>& wy,
                        ImageView<const float> fixed, ImageView<const float> moving, const PcRect& fr_in,
                        const PcRect& mr_in, const PcOptions& opt) {
  const std::size_t w = fixed.width(), h = fixed.height();
  if (moving.width() != w || moving.height() != h) throw std::invalid_argument("phase_correlate: images differ in size");
  PcResult res;
  if (w == 0 || h == 0) return res;
  const PcRect fr = resolve(fr_in, w, h, "fixed"), mr = resolve(mr_in, w, h, "moving");
  Workspace& ws = workspace();
  const ImageView<float> av = zeroed(ws.a, w, h), bv = zeroed(ws.b, w, h);
  if (!prepare(fixed, fr, opt, av) || !prepare(moving, mr, opt, bv)) return res;
  const ImageView<const float> ia = av, ib = bv;

  const std::size_t M = fft.width(), N = fft.height();
  const ImageView<float> pa = zeroed(ws.pa, M, N), pb = zeroed(ws.pb, M, N);
  for (std::size_t y = 0; y < h; ++y) {
    const float* sa = av.row(y);
    const float* sb = bv.row(y);
    float* da = pa.row(y);
    float* db = pb.row(y);
    const float wyy = wy[y];
    for (std::size_t x = 0; x < w; ++x) {
      const float k = wx[x] * wyy;
      da[x] = sa[x] * k;
      db[x] = sb[x] * k;
    }
  }
  const std::size_t S = fft.spectrum_size();
  std::vector<Complexf>& fa = ws.fa;
  std::vector<Complexf>& fb = ws.fb;
  fa.resize(S), fb.resize(S);
  fft.forward(pa, fa.data());
  fft.forward(pb, fb.data());
  // Cross-power spectrum moving * conj(fixed): its inverse peaks at +shift. Magnitudes via norms
  // (no hypot), the usual exponents without pow. The norms in double: |fa|^2 |fb|^2 passes a
  // float's range for bright large images (a 2048 px tile of 16-bit counts), and one infinite
  // bin would zero the whole surface.
  const auto norm_d = [](Complexf z) {
    const double re = z.real(), im = z.imag();
    return re * re + im * im;
  };
  double mean_mag = 0;
  for (std::size_t k = 0; k < S; ++k) mean_mag += std::sqrt(norm_d(fa[k]) * norm_d(fb[k]));
  mean_mag /= static_cast<double>(S);
  const double eps = std::max(1e-6 * mean_mag, 1e-30);
  const double eps2 = eps * eps;
  const double wexp = opt.whitening;
  for (std::size_t k = 0; k < S; ++k) {
    const Complexf c = fb[k] * std::conj(fa[k]);
    const double m2 = std::max(norm_d(c), eps2);  // |c|^2
    float scale;
    if (wexp == 1.0) scale = static_cast<float>(1.0 / std::sqrt(m2));
    else if (wexp == 0.5) scale = static_cast<float>(1.0 / std::sqrt(std::sqrt(m2)));
    else if (wexp <= 0.0) scale = 1.0f;
    else scale = static_cast<float>(std::pow(m2, -0.5 * wexp));
    fa[k] = c * scale;
  }
  const ImageView<float> surface = zeroed(ws.surface, M, N);
  fft.inverse(fa.data(), surface);

  const auto okx = allowed_residues(M, w, opt.expected_dx_px, opt.max_shift_x_px);
  const auto oky = allowed_residues(N, h, opt.expected_dy_px, opt.max_shift_y_px);
  const std::vector<Peak> peaks = top_peaks(surface, okx, oky, std::max(1, opt.peaks));
  if (peaks.empty()) return res;

  const double min_area = opt.min_overlap_fraction *
                          static_cast<double>(std::min(fr.width * fr.height, mr.width * mr.height));
  auto in_window = [](long s, long n, double expected, double max_shift) {
    if (s <= -n || s >= n) return false;
    return max_shift < 0 || std::abs(static_cast<double>(s) - expected) <= max_shift + 0.5;
  };
  struct Choice {
    long sx = 0, sy = 0;
    const Peak* peak = nullptr;
    double score = -std::numeric_limits<double>::infinity(), ncc = 0;
    std::size_t area = 0;
    double active = -1;
  } best;
  struct Scored {
    long sx, sy;
    double ncc;
  };
  std::vector<Scored> scored;
  for (const Peak& p : peaks) {
    const long cx[2] = {static_cast<long>(p.x), static_cast<long>(p.x) - static_cast<long>(M)};
    const long cy[2] = {static_cast<long>(p.y), static_cast<long>(p.y) - static_cast<long>(N)};
    for (long sy : cy) {
      if (!in_window(sy, static_cast<long>(h), opt.expected_dy_px, opt.max_shift_y_px)) continue;
      for (long sx : cx) {
        if (!in_window(sx, static_cast<long>(w), opt.expected_dx_px, opt.max_shift_x_px)) continue;
        const Overlap o = implied_overlap(fr, mr, sx, sy);
        if (o.w == 0 || static_cast<double>(o.w * o.h) < min_area) continue;
        ++res.candidates;
        double score, ncc = 0;
        double active = -1;
        if (opt.validate_ncc) {
          ncc = ncc_overlap(ia, ib, o, sx, sy);
          score = ncc;
          if (score > best.score && opt.min_active_px > 0) {
            active = active_pixels(ia, ib, o, sx, sy);
            if (active < opt.min_active_px) continue;
          }
        } else {
          // Without validation: the highest peak, and of its interpretations the one nearest the expected shift.
          const double dist = std::hypot(sx - opt.expected_dx_px, sy - opt.expected_dy_px);
          score = p.value * 1e6 - dist;
        }
        if (opt.validate_ncc) scored.push_back({sx, sy, ncc});
        if (score > best.score) best = {sx, sy, &p, score, ncc, o.w * o.h, active};
      }
    }
  }
  if (!best.peak) {
    res.peak = peaks.front().value;
    return res;
  }
  for (const Scored& c : scored)
    if (std::max(std::abs(c.sx - best.sx), std::abs(c.sy - best.sy)) > 2 && c.ncc > res.second_ncc) {
      res.second_ncc = c.ncc;
      res.second_dx_px = static_cast<double>(c.sx), res.second_dy_px = static_cast<double>(c.sy);
    }
  for (const Peak& p : peaks)
    if (&p != best.peak) {
      res.second_peak = p.value;
      break;
    }
  double ox = 0, oy = 0;
  if (opt.subpixel == Subpixel::Ncc) {
    const NccClimb c = climb_ncc(ia, ib, fr, mr, best.sx, best.sy, best.ncc, 4, min_area);
    if (c.ncc > -2) {
      ox = c.ox, oy = c.oy;
      best.sx = c.sx, best.sy = c.sy, best.ncc = c.ncc;
      const Overlap o = implied_overlap(fr, mr, c.sx, c.sy);
      best.area = o.w * o.h;
      best.active = -1;
    }
  } else if (opt.subpixel == Subpixel::Paraboloid) {
    std::tie(ox, oy) = paraboloid_offset(surface, best.peak->x, best.peak->y);
  } else if (opt.subpixel == Subpixel::Gaussian) {
    std::tie(ox, oy) = gaussian_offset(surface, best.peak->x, best.peak->y);
  } else if (opt.subpixel == Subpixel::UpsampledDft) {
    std::tie(ox, oy) = upsampled_offset(fa, M, N, best.peak->x, best.peak->y, opt.upsample);
  }
  res.dx_px = static_cast<double>(best.sx) + ox;
  res.dy_px = static_cast<double>(best.sy) + oy;
  res.peak = best.peak->value;
  res.ncc = best.ncc;
  res.overlap_px = best.area;
  res.active_px = best.active >= 0 ? best.active
                                   : active_pixels(ia, ib, implied_overlap(fr, mr, best.sx, best.sy),
                                                   best.sx, best.sy);
  if (opt.validate_ncc) {
    res.confidence = std::clamp(best.ncc, 0.0, 1.0);
    res.valid = best.ncc > 0;
  } else {
    res.confidence = std::clamp(res.peak, 0.0, 1.0);
    res.valid = true;
  }
  return res;
}

}  // namespace

std::size_t fast_fft_size(std::size_t n) {
  if (n <= 1) return 1;
  for (std::size_t m = n;; ++m) {
    std::size_t r = m;
    for (std::size_t p : {2, 3, 5, 7})
      while (r % p == 0) r /= p;
    if (r == 1) return m;
  }
}

ImageF make_window(std::size_t width, std::size_t height, Window window, double tukey_alpha) {
  const auto wx = window_1d(width, window, tukey_alpha), wy = window_1d(height, window, tukey_alpha);
  ImageF out(width, height);
  for (std::size_t y = 0; y < height; ++y)
    for (std::size_t x = 0; x < width; ++x) out(x, y) = wx[x] * wy[y];
  return out;
}

struct PhaseCorrelator::Impl {
  std::shared_ptr<const Fft2d> fft;
  std::vector<float> wx, wy;
};

PhaseCorrelator::PhaseCorrelator(std::size_t width, std::size_t height, PcOptions opt)
    : width_(width), height_(height), opt_(opt), impl_(new Impl) {
  if (width == 0 || height == 0) throw std::invalid_argument("PhaseCorrelator: empty size");
  const std::size_t M = opt.pad_to_fast_size ? fast_fft_size(width) : width;
  const std::size_t N = opt.pad_to_fast_size ? fast_fft_size(height) : height;
  impl_->fft = cached_fft(M, N);
  impl_->wx = window_1d(width, opt.window, opt.tukey_alpha);
  impl_->wy = window_1d(height, opt.window, opt.tukey_alpha);
}

PhaseCorrelator::~PhaseCorrelator() = default;

PcResult PhaseCorrelator::correlate(ImageView<const float> fixed, ImageView<const float> moving, const PcRect& fixed_valid,
                                    const PcRect& moving_valid) const {
  if (fixed.width() != width_ || fixed.height() != height_)
    throw std::invalid_argument("PhaseCorrelator::correlate: image size differs from the correlator's");
  return correlate_impl(*impl_->fft, impl_->wx, impl_->wy, fixed, moving, fixed_valid, moving_valid, opt_);
}

PcResult phase_correlate(ImageView<const float> fixed, ImageView<const float> moving, const PcOptions& opt) {
  if (fixed.width() != moving.width() || fixed.height() != moving.height())
    throw std::invalid_argument("phase_correlate: images differ in size");
  if (fixed.empty()) return {};
  const std::size_t w = fixed.width(), h = fixed.height();
  const auto fft = cached_fft(opt.pad_to_fast_size ? fast_fft_size(w) : w, opt.pad_to_fast_size ? fast_fft_size(h) : h);
  return correlate_impl(*fft, window_1d(w, opt.window, opt.tukey_alpha), window_1d(h, opt.window, opt.tukey_alpha), fixed,
                        moving, {}, {}, opt);
}

NccRefinement refine_shift_ncc(ImageView<const float> fixed, ImageView<const float> moving, long sx, long sy,
                              const PcRect& fixed_valid, const PcRect& moving_valid, int max_steps, double min_overlap_px) {
  if (fixed.width() != moving.width() || fixed.height() != moving.height())
    throw std::invalid_argument("refine_shift_ncc: images differ in size");
  NccRefinement r;
  if (fixed.empty()) return r;
  const PcRect fr = resolve(fixed_valid, fixed.width(), fixed.height(), "fixed");
  const PcRect mr = resolve(moving_valid, moving.width(), moving.height(), "moving");
  const NccClimb c = climb_ncc(fixed, moving, fr, mr, sx, sy, -2, max_steps, std::max(1.0, min_overlap_px));
  if (c.ncc <= -2) return r;
  r.dx_px = static_cast<double>(c.sx) + c.ox;
  r.dy_px = static_cast<double>(c.sy) + c.oy;
  r.ncc = c.ncc;
  r.valid = true;
  return r;
}

double ncc_at_shift(ImageView<const float> fixed, ImageView<const float> moving, long dx, long dy) {
  if (fixed.width() != moving.width() || fixed.height() != moving.height()) return 0;
  const PcRect all{0, 0, fixed.width(), fixed.height()};
  return ncc_overlap(fixed, moving, implied_overlap(all, all, dx, dy), dx, dy);
}

}  // namespace annamosaic
