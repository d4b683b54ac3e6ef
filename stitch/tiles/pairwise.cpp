#include "tiles/pairwise.hpp"

#include <fmt/format.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <stdexcept>
#include <tuple>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/numeric.hpp"
#include "core/text_list.hpp"
#include "register/preprocess.hpp"
#include "tiles/work_split.hpp"

namespace annamosaic {

// Measured on a simulated 8 x 8 campaign (55.3 um FoVs, 1 um overlap, jitter 0.3 um, dense
// renders at scale 2, 112 neighbour pairs, ground truth): whitening 0.5 gave 0.21 px RMS per axis
// on accepted edges and no false match, pure phase (1.0) 0.35 px and 2 false matches, 0.3 0.25 px
// and 1. Refining on the correlation surface leaves a bias of -0.25 px per edge in the thin
// direction (the two strips' supports tilt the surface), which adds up over a grid: final
// position RMS 1.03 px with the paraboloid, 0.96 with the upsampled DFT, 0.38 with the NCC fit,
// 0.25 px (0.08 px per edge) with the NCC refined at full resolution (RegistrationSignal).
PcOptions default_strip_pc_options() {
  PcOptions pc;
  pc.window = Window::Tukey;
  pc.tukey_alpha = 0.5;
  pc.whitening = 0.5;
  pc.subpixel = Subpixel::Ncc;
  // Weak true overlaps are often not among the 8 highest peaks of a strip (3 of 87 structured pairs
  // of the 8 x 8 campaign); 16 distinct peaks (non-maximum suppression over 5 x 5) find them and
  // the ambiguity of line-like overlaps (see min_ncc_margin), for ~1 ms more per pair.
  pc.peaks = 16;
  pc.validate_ncc = true;
  // Thin true overlaps must stay candidates (20 px of 50 happen at 0.3 um jitter); spurious
  // small-overlap matches are rejected by the structure test (min_features) instead.
  pc.min_overlap_fraction = 0.05;
  return pc;
}

std::vector<TilePair> grid_neighbours(const TileSource& source) {
  std::map<std::pair<int, int>, std::size_t> cell;
  for (std::size_t i = 0; i < source.size(); ++i) cell[{source.info(i).row, source.info(i).col}] = i;
  std::vector<TilePair> out;
  for (std::size_t i = 0; i < source.size(); ++i) {
    const TileInfo& t = source.info(i);
    if (auto it = cell.find({t.row, t.col + 1}); it != cell.end()) out.push_back({i, it->second});
    if (auto it = cell.find({t.row + 1, t.col}); it != cell.end()) out.push_back({i, it->second});
  }
  std::sort(out.begin(), out.end(), [](const TilePair& x, const TilePair& y) { return x.a != y.a ? x.a < y.a : x.b < y.b; });
  return out;
}

namespace {
// The overlap of b placed at (dx, dy) from a: (across the seam, along it), full-resolution px.
std::pair<double, double> implied_overlap_px(const TileInfo& a, const TileInfo& b, double dx, double dy) {
  const double ox = std::min(static_cast<double>(a.width_px), dx + static_cast<double>(b.width_px)) - std::max(0.0, dx);
  const double oy = std::min(static_cast<double>(a.height_px), dy + static_cast<double>(b.height_px)) - std::max(0.0, dy);
  return a.row == b.row ? std::make_pair(std::max(0.0, ox), std::max(0.0, oy)) : std::make_pair(std::max(0.0, oy), std::max(0.0, ox));
}
}  // namespace

bool pair_ambiguous(const PairResult& r, const PairRegistration& reg, double min_ncc_margin) {
  if (!r.valid || r.accepted || r.too_small || r.implausible || r.signal < 0 || static_cast<std::size_t>(r.signal) >= reg.calibration.size())
    return false;
  return r.ncc >= reg.calibration[static_cast<std::size_t>(r.signal)].threshold &&
         r.ncc - std::max(r.second_ncc, 0.0) < min_ncc_margin;
}

AmbiguousPairs ambiguous_pairs(const PairRegistration& reg, double min_ncc_margin,
                               const std::function<bool(const PairResult&)>& counted) {
  AmbiguousPairs a;
  for (const PairResult& p : reg.pairs)
    if (counted(p) && pair_ambiguous(p, reg, min_ncc_margin)) {
      ++a.count;
      if (p.ncc > a.best_ncc) a.best_ncc = p.ncc, a.its_second = p.second_ncc;
    }
  return a;
}

double implausible_distance_px(const PairResult& r, const PairRegistration& reg) {
  return std::max(std::abs(r.dx_px - r.nominal_dx_px - reg.median_deviation_x_px),
                  std::abs(r.dy_px - r.nominal_dy_px - reg.median_deviation_y_px));
}

std::size_t reject_implausible_pairs(PairRegistration& reg, double search_px, const std::vector<int>& row,
                                     const std::vector<int>& col) {
  std::vector<std::size_t> acc;
  for (std::size_t k = 0; k < reg.pairs.size(); ++k)
    if (reg.pairs[k].accepted) acc.push_back(k);
  if (acc.size() < 20) return 0;
  const auto median = [](std::vector<double> v) {
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    return v[v.size() / 2];
  };
  std::vector<double> dx, dy;
  for (std::size_t k : acc) {
    dx.push_back(reg.pairs[k].dx_px - reg.pairs[k].nominal_dx_px);
    dy.push_back(reg.pairs[k].dy_px - reg.pairs[k].nominal_dy_px);
  }
  const double mx = median(dx), my = median(dy);
  std::vector<double> ax, ay;
  for (std::size_t i = 0; i < acc.size(); ++i) ax.push_back(std::abs(dx[i] - mx)), ay.push_back(std::abs(dy[i] - my));
  const double spread = 1.4826 * std::max(median(ax), median(ay));
  // 4 spreads: past every true link of the 32 x 32 campaign above (at most 3.4); agreement within 2
  // (two links of one moved tile differ by one link's noise), so that a chance agreement is rare.
  const double beyond = std::max(4 * spread, 0.25 * search_px), agree = std::max(2 * spread, 5.0);
  reg.stage_spread_px = spread;
  reg.implausible_beyond_px = beyond;
  reg.median_deviation_x_px = mx, reg.median_deviation_y_px = my;
  // Deviation of pair k: its offset b - a, measured less stage, less the median.
  const auto dev = [&](std::size_t k) {
    const PairResult& r = reg.pairs[k];
    return std::pair{r.dx_px - r.nominal_dx_px - mx, r.dy_px - r.nominal_dy_px - my};
  };
  const auto agrees = [&](double ox, double oy, double ex, double ey) {
    return std::abs(ox - ex) <= agree && std::abs(oy - ey) <= agree;
  };
  const auto cell = [&](std::size_t t) { return t < row.size() && t < col.size() ? std::pair{row[t], col[t]} : std::pair{-1, -1}; };
  // The seam a pair crosses: between two grid columns (along a row) or two rows (down a column).
  const auto seam = [&](const PairResult& r) {
    const auto [ra, ca] = cell(r.pair.a);
    const auto [rb, cb] = cell(r.pair.b);
    return ra == rb ? std::tuple{0, ca, cb} : std::tuple{1, ra, rb};
  };
  std::vector<std::size_t> implausible;
  for (std::size_t k : acc) {
    const PairResult& r = reg.pairs[k];
    if (implausible_distance_px(r, reg) <= beyond) continue;
    const auto [ux, uy] = dev(k);
    // A match as good as most true overlaps' is kept whatever its offset (a tile whose only link
    // says the stage misplaced it).
    if (r.signal >= 0 && static_cast<std::size_t>(r.signal) < reg.calibration.size() &&
        r.ncc >= reg.calibration[static_cast<std::size_t>(r.signal)].median_ncc)
      continue;
    bool corroborated = false;
    for (std::size_t j : acc) {
      if (j == k || corroborated) continue;
      const PairResult& o = reg.pairs[j];
      const auto [ox, oy] = dev(j);
      // b moved by (ux, uy), or a by minus that: another pair of that tile sees the same move, with
      // the sign its side gives it.
      for (const auto& [tile, sign] : {std::pair{r.pair.b, 1.0}, std::pair{r.pair.a, -1.0}}) {
        const double s = o.pair.b == tile ? sign : o.pair.a == tile ? -sign : 0.0;
        if (s != 0 && agrees(ox, oy, s * ux, s * uy)) corroborated = true;
      }
      // A row or column of tiles moved together (backlash on one row): its whole seam agrees.
      if (!row.empty() && seam(o) == seam(r) && agrees(ox, oy, ux, uy)) corroborated = true;
    }
    if (!corroborated) implausible.push_back(k);
  }
  for (std::size_t k : implausible) reg.pairs[k].accepted = false, reg.pairs[k].implausible = true;
  return implausible.size();
}

bool apart_by_positions(const std::vector<PairResult>& pairs, const std::vector<int>& component) {
  // Every pair between two groups leaves no overlap: each group is apart by the positions from all
  // others. Pairs with a tile that takes no part (a failed FoV: a group of its own) say nothing
  // either way.
  std::size_t across = 0;
  for (const PairResult& p : pairs) {
    if (p.pair.a >= component.size() || p.pair.b >= component.size()) return false;
    if (p.skipped || component[p.pair.a] == component[p.pair.b]) continue;
    if (!p.no_overlap) return false;
    ++across;
  }
  return across > 0;
}

std::string apart_by_positions_warning(const std::vector<int>& ids, const std::string& what) {
  return fmt::format("{} {} are not joined to the main group by any registered overlap (ids {}): their positions leave "
                     "none with it (blocks acquired apart?), so they are placed by their positions, as the group is, off "
                     "by the stage's error; among themselves they are registered where they overlap",
                     ids.size(), what, first_items(ids, 10));
}

bool overlaps_disagree(double a_um, double b_um) {
  return std::abs(a_um - b_um) > std::max(0.2, 0.25 * std::max(a_um, b_um));
}

double nominal_overlap_um(const TileSource& source) {
  std::vector<double> overlaps_um;
  const double um_per_px = source.pixel_nm() / 1000.0;
  for (const TilePair& p : grid_neighbours(source)) {
    const TileInfo &a = source.info(p.a), &b = source.info(p.b);
    overlaps_um.push_back(a.row == b.row ? a.width_px * um_per_px - std::abs(b.x_um - a.x_um)
                                         : a.height_px * um_per_px - std::abs(b.y_um - a.y_um));
  }
  return std::max(0.0, median(std::move(overlaps_um)));  // 0 with no pairs
}

std::size_t default_registration_scale(double overlap_px) {
  // A gap between nominal positions (probe63: 5 px true overlaps, stage errors of 0.6 um, a -12 px
  // median down the columns) halved what strips the stage's error left: 1 of 12 pairs registered.
  return overlap_px < thin_overlap_full_resolution_px ? 1 : RegistrationSignal{}.scale;  // NaN: false
}

std::string thinner_overlap_text(double overlap_px) {
  if (std::abs(overlap_px) < 0.5) return "tiles that abut in the positions";
  return overlap_px > 0 ? fmt::format("{:.3g} px along the thinner axis", overlap_px)
                        : fmt::format("a gap of {:.3g} px between the positions", -overlap_px);
}

std::string full_resolution_reason(double overlap_px) {
  if (default_registration_scale(overlap_px) != 1) return "";
  if (overlap_px >= 0.5)
    return fmt::format("neighbours overlap by {:.3g} px (along the thinner axis), under {:g} px, too thin to halve", overlap_px,
                       thin_overlap_full_resolution_px);
  return "no overlap in the stage positions (" + thinner_overlap_text(overlap_px) +
         "): any true overlap lies within the stage's error, thin at best";
}

double thinner_axis_overlap_um(const TileSource& source) {
  std::vector<double> across, down;  // along a row; down a column
  const double um_per_px = source.pixel_nm() / 1000.0;
  for (const TilePair& p : grid_neighbours(source)) {
    const TileInfo &a = source.info(p.a), &b = source.info(p.b);
    if (a.row == b.row) across.push_back(a.width_px * um_per_px - std::abs(b.x_um - a.x_um));
    else down.push_back(a.height_px * um_per_px - std::abs(b.y_um - a.y_um));
  }
  if (across.empty() && down.empty()) return std::numeric_limits<double>::quiet_NaN();
  if (across.empty()) return median(std::move(down));
  if (down.empty()) return median(std::move(across));
  return std::min(median(std::move(across)), median(std::move(down)));
}

StripGeometry strip_geometry(const TileInfo& a, const TileInfo& b, double pixel_nm, double search_px) {
  StripGeometry g;
  g.nominal_dx_px = (b.x_um - a.x_um) * 1000.0 / pixel_nm;
  g.nominal_dy_px = (b.y_um - a.y_um) * 1000.0 / pixel_nm;
  g.d0x = std::lround(g.nominal_dx_px);
  g.d0y = std::lround(g.nominal_dy_px);
  const long e = static_cast<long>(std::ceil(std::max(0.0, search_px)));
  auto axis = [e](long d0, long na, long nb, long& lo, long& hi) {
    const long i0 = std::max(0L, d0), i1 = std::min(na, d0 + nb);  // nominal intersection (may be empty)
    const long u0 = std::min(0L, d0), u1 = std::max(na, d0 + nb);   // hull of both tiles
    lo = std::max(u0, i0 - e);
    hi = std::min(u1, i1 + e);
  };
  long x0, x1, y0, y1;
  axis(g.d0x, static_cast<long>(a.width_px), static_cast<long>(b.width_px), x0, x1);
  axis(g.d0y, static_cast<long>(a.height_px), static_cast<long>(b.height_px), y0, y1);
  if (x1 <= x0 || y1 <= y0) return g;
  g.x0 = x0, g.y0 = y0;
  g.width = static_cast<std::size_t>(x1 - x0), g.height = static_cast<std::size_t>(y1 - y0);
  return g;
}

namespace {

// Mean of f x f blocks of a view whose size is a multiple of f (what extract_strip cuts): rows are
// summed first, then groups of f columns, so the inner loops are plain streams.
ImageF reduce_mean(ImageView<const float> in, std::size_t f) {
  const std::size_t W = in.width() / f, H = in.height() / f;
  ImageF out(W, H);
  std::vector<float> acc(in.width());
  const float norm = 1.0f / static_cast<float>(f * f);
  for (std::size_t y = 0; y < H; ++y) {
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (std::size_t j = 0; j < f; ++j) {
      const float* s = in.row(y * f + j);
      for (std::size_t x = 0; x < in.width(); ++x) acc[x] += s[x];
    }
    float* d = out.row(y);
    for (std::size_t x = 0; x < W; ++x) {
      float v = 0;
      for (std::size_t i = 0; i < f; ++i) v += acc[x * f + i];
      d[x] = v * norm;
    }
  }
  return out;
}

}  // namespace

namespace {
double percentile_of_finite(ImageView<const float> img, double q) {
  std::vector<float> v;
  v.reserve(img.width() * img.height());
  for (std::size_t y = 0; y < img.height(); ++y)
    for (std::size_t x = 0; x < img.width(); ++x)
      if (std::isfinite(img(x, y))) v.push_back(img(x, y));
  if (v.empty()) return 0;
  const auto k = v.begin() + static_cast<long>(std::lround(q * static_cast<double>(v.size() - 1)));
  std::nth_element(v.begin(), k, v.end());
  return *k;
}
}  // namespace

double tile_level(ImageView<const float> tile) { return percentile_of_finite(tile, 0.9999); }

namespace {
// A filtered image's rectangle less the `reach` px along its sides where the filter ran out of
// data (it repeats the edge there): those pixels differ between two tiles of the same content,
// and an NCC over them favoured the shift that took in fewer of them. Every link of a grid then
// leaned the same way, +0.036 px for 24 px seams, which a 33 x 33 layout summed to +-0.6 px at
// its edges (probe52). Kept whole along an axis too short to lose them.
PcRect inside_filter_reach(const PcRect& r, std::size_t reach) {
  PcRect out = r;
  if (r.width > 2 * reach + 8) out.x0 += reach, out.width -= 2 * reach;
  if (r.height > 2 * reach + 8) out.y0 += reach, out.height -= 2 * reach;
  return out;
}
std::size_t filter_reach(Prefilter f, double sigma_px) {
  return f == Prefilter::None ? 0 : static_cast<std::size_t>(std::ceil(3 * sigma_px));
}
}  // namespace

Strip extract_strip(ImageView<const float> tile, long x0, long y0, std::size_t width, std::size_t height,
                    const RegistrationSignal& signal) {
  const long f = static_cast<long>(std::max<std::size_t>(1, signal.scale));
  const std::size_t rw = (width + f - 1) / f, rh = (height + f - 1) / f;
  Strip s;
  s.image = ImageF(rw, rh);
  // Reduced pixel k covers [x0 + k f, x0 + (k+1) f): keep only those entirely inside the tile.
  auto range = [f](long origin, long extent, long n, std::size_t reduced, long& k0, long& k1) {
    k0 = std::max(0L, (-origin + f - 1) >= 0 ? (-origin + f - 1) / f : 0L);
    k1 = std::min(static_cast<long>(reduced), (std::min(n, origin + extent) - origin) / f);
  };
  long kx0, kx1, ky0, ky1;
  range(x0, static_cast<long>(width), static_cast<long>(tile.width()), rw, kx0, kx1);
  range(y0, static_cast<long>(height), static_cast<long>(tile.height()), rh, ky0, ky1);
  if (kx1 <= kx0 || ky1 <= ky0) return s;
  const ImageView<const float> data =
      tile.region(static_cast<std::size_t>(x0 + kx0 * f), static_cast<std::size_t>(y0 + ky0 * f),
                  static_cast<std::size_t>((kx1 - kx0) * f), static_cast<std::size_t>((ky1 - ky0) * f));
  const ImageF reduced = f == 1 ? to_image(data) : reduce_mean(data, static_cast<std::size_t>(f));
  s.level = percentile_of_finite(reduced.view(), 0.999);
  const ImageF filtered = prefilter_image(reduced.view(), signal.prefilter, signal.prefilter_sigma_px);
  for (std::size_t y = 0; y < filtered.height(); ++y)
    std::copy_n(filtered.row(y), filtered.width(), s.image.row(static_cast<std::size_t>(ky0) + y) + kx0);
  s.valid = {static_cast<std::size_t>(kx0), static_cast<std::size_t>(ky0), filtered.width(), filtered.height()};
  if (f > 1 && signal.refine_full_resolution) {
    // All tile pixels inside the region, not only whole reduced blocks.
    const long fx0 = std::max(0L, x0), fx1 = std::min(static_cast<long>(tile.width()), x0 + static_cast<long>(width));
    const long fy0 = std::max(0L, y0), fy1 = std::min(static_cast<long>(tile.height()), y0 + static_cast<long>(height));
    s.full = ImageF(width, height);
    for (long y = fy0; y < fy1; ++y)
      std::copy_n(tile.row(static_cast<std::size_t>(y)) + fx0, fx1 - fx0, s.full.row(static_cast<std::size_t>(y - y0)) + (fx0 - x0));
    s.full_valid = {static_cast<std::size_t>(fx0 - x0), static_cast<std::size_t>(fy0 - y0), static_cast<std::size_t>(fx1 - fx0),
                    static_cast<std::size_t>(fy1 - fy0)};
  }
  return s;
}

namespace {

// NaN or inf (a float tile's "no data", e.g. a border) would spread through the filters and the
// correlation and fail every pair of the tile. Filled from the finite pixels around them, a ring
// at a time (a border continues the image next to it; a constant would be an edge that does not
// move with the content and biases the match), for up to 16 rings; anything left: the mean.
void fill_not_finite(ImageF& img) {
  const std::size_t W = img.width(), H = img.height();
  double sum = 0;
  std::size_t n = 0;
  for (float v : img)
    if (std::isfinite(v)) sum += v, ++n;
  if (n == img.size()) return;
  const float mean = n ? static_cast<float>(sum / static_cast<double>(n)) : 0.0f;  // of the finite pixels
  for (int ring = 0; ring < 16 && n < img.size(); ++ring) {
    ImageF next = img.clone();
    std::size_t filled = 0;
    for (std::size_t y = 0; y < H; ++y)
      for (std::size_t x = 0; x < W; ++x) {
        if (std::isfinite(img(x, y))) continue;
        double s = 0;
        int k = 0;
        const auto take = [&](std::size_t xx, std::size_t yy) {
          if (std::isfinite(img(xx, yy))) s += img(xx, yy), ++k;
        };
        if (x > 0) take(x - 1, y);
        if (x + 1 < W) take(x + 1, y);
        if (y > 0) take(x, y - 1);
        if (y + 1 < H) take(x, y + 1);
        if (k) next(x, y) = static_cast<float>(s / k), ++filled;
      }
    if (filled == 0) break;
    img = std::move(next);
    n += filled;
  }
  for (float& v : img)
    if (!std::isfinite(v)) v = mean;
}

PcRect intersect(const PcRect& a, long x0, long y0, long x1, long y1) {
  const long ax0 = std::max(static_cast<long>(a.x0), x0), ax1 = std::min(static_cast<long>(a.x0 + a.width), x1);
  const long ay0 = std::max(static_cast<long>(a.y0), y0), ay1 = std::min(static_cast<long>(a.y0 + a.height), y1);
  if (ax1 <= ax0 || ay1 <= ay0) return {0, 0, 0, 0};
  return {static_cast<std::size_t>(ax0 - x0), static_cast<std::size_t>(ay0 - y0), static_cast<std::size_t>(ax1 - ax0),
          static_cast<std::size_t>(ay1 - ay0)};
}

// Full-resolution NCC refinement of the strip shift s (full-resolution px, moving(x + s) ~ fixed(x)):
// both strips are cut around the implied overlap (so that the shift between the cuts starts at 0),
// pre-filtered there only, and the NCC climbed and fitted. Returns false if it cannot improve.
bool refine_full(const Strip& a, const Strip& b, const RegistrationSignal& sig, double& sx, double& sy, double& ncc) {
  if (a.full.empty() || b.full.empty()) return false;
  const long isx = std::lround(sx), isy = std::lround(sy);
  const long W = static_cast<long>(a.full.width()), H = static_cast<long>(a.full.height());
  // Implied overlap of the data rectangles, in fixed coordinates.
  const long ox0 = std::max(static_cast<long>(a.full_valid.x0), static_cast<long>(b.full_valid.x0) - isx);
  const long ox1 = std::min(static_cast<long>(a.full_valid.x0 + a.full_valid.width), static_cast<long>(b.full_valid.x0 + b.full_valid.width) - isx);
  const long oy0 = std::max(static_cast<long>(a.full_valid.y0), static_cast<long>(b.full_valid.y0) - isy);
  const long oy1 = std::min(static_cast<long>(a.full_valid.y0 + a.full_valid.height), static_cast<long>(b.full_valid.y0 + b.full_valid.height) - isy);
  if (ox1 <= ox0 || oy1 <= oy0) return false;
  const long steps = static_cast<long>(std::max<std::size_t>(2, sig.scale)) + 1;
  const long m = steps + 1 + static_cast<long>(std::ceil(4 * sig.refine_sigma_px));
  // The cut in fixed coordinates; the same rectangle moved by the shift must stay inside the moving strip.
  const long cx0 = std::max({0L, ox0 - m, -isx}), cx1 = std::min({W, ox1 + m, W - isx});
  const long cy0 = std::max({0L, oy0 - m, -isy}), cy1 = std::min({H, oy1 + m, H - isy});
  if (cx1 <= cx0 || cy1 <= cy0) return false;
  const std::size_t cw = static_cast<std::size_t>(cx1 - cx0), ch = static_cast<std::size_t>(cy1 - cy0);
  const PcRect va = intersect(a.full_valid, cx0, cy0, cx1, cy1), vb = intersect(b.full_valid, cx0 + isx, cy0 + isy, cx1 + isx, cy1 + isy);
  if (va.width == 0 || vb.width == 0) return false;
  // Each cut filtered over its tile's data only: blurred across the zeros beyond the tile's edge,
  // an image on a bright background (camera tiles, offset 100s of counts) gets an edge that does
  // not move with the content and pulls the NCC peak (0.3-0.8 px off, NCC 0.78-0.95 at a perfect
  // whole-pixel match of natural-image tiles; SMLM renders, dark outside structure, never showed it).
  const auto filtered = [&](const Strip& s, long x0, long y0, const PcRect& v) {
    ImageF out(cw, ch);
    const ImageF f = prefilter_image(
        s.full.view().region(static_cast<std::size_t>(x0) + v.x0, static_cast<std::size_t>(y0) + v.y0, v.width, v.height),
        Prefilter::Gaussian, sig.refine_sigma_px);
    for (std::size_t y = 0; y < v.height; ++y) std::copy_n(f.row(y), v.width, out.row(v.y0 + y) + v.x0);
    return out;
  };
  const ImageF fa = filtered(a, cx0, cy0, va), fb = filtered(b, cx0 + isx, cy0 + isy, vb);
  const std::size_t reach = filter_reach(Prefilter::Gaussian, sig.refine_sigma_px);
  const PcRect ia = inside_filter_reach(va, reach), ib = inside_filter_reach(vb, reach);
  const double lost_x = static_cast<double>(va.width - ia.width), lost_y = static_cast<double>(va.height - ia.height);
  const NccRefinement r = refine_shift_ncc(
      fa.view(), fb.view(), 0, 0, ia, ib, static_cast<int>(steps),
      0.5 * std::max(1.0, static_cast<double>(ox1 - ox0) - lost_x) * std::max(1.0, static_cast<double>(oy1 - oy0) - lost_y));
  if (!r.valid) return false;
  sx = static_cast<double>(isx) + r.dx_px;
  sy = static_cast<double>(isy) + r.dy_px;
  ncc = r.ncc;
  return true;
}

}  // namespace

PcResult register_strips(const Strip& a, const Strip& b, const StripGeometry& g, const RegistrationSignal& signal,
                         const PcOptions& pc_in, double search_px, double margin) {
  PcResult r;
  if (a.valid.width == 0 || b.valid.width == 0 || a.image.empty()) return r;
  if (const double level = std::max(a.tile_level, b.tile_level);
      signal.min_strip_level_fraction > 0 && level > 0 && std::min(a.level, b.level) < signal.min_strip_level_fraction * level)
    return r;  // faint background on one side at least: nothing to match
  const double f = static_cast<double>(std::max<std::size_t>(1, signal.scale));
  PcOptions pc = pc_in;
  pc.prefilter = Prefilter::None;  // done on the data by extract_strip
  pc.expected_dx_px = pc.expected_dy_px = 0;
  // The rounding of the nominal offset moves the expected shift by < 1 full px.
  pc.max_shift_x_px = pc.max_shift_y_px = (search_px + 1.0) / f;
  const double blob = 2 * 3.14159265358979323846 *
                      ((signal.prefilter == Prefilter::None ? 0.0 : signal.prefilter_sigma_px * signal.prefilter_sigma_px) + 0.25);
  pc.min_active_px = signal.min_features * blob;
  const PhaseCorrelator corr(a.image.width(), a.image.height(), pc);
  r = corr.correlate(a.image.view(), b.image.view(), a.valid, b.valid);
  if (!r.valid) return r;
  double sx = r.dx_px * f, sy = r.dy_px * f, ncc = r.ncc;
  // At full scale nothing refines the correlator's sub-pixel fit, made over the whole strips:
  // fitted again here inside the prefilter's reach (see inside_filter_reach), its whole-pixel
  // shift kept.
  if (const std::size_t reach = filter_reach(signal.prefilter, signal.prefilter_sigma_px); f == 1 && reach > 0) {
    const NccRefinement q = refine_shift_ncc(a.image.view(), b.image.view(), std::lround(sx), std::lround(sy),
                                             inside_filter_reach(a.valid, reach), inside_filter_reach(b.valid, reach), 0, 1.0);
    if (q.valid && std::abs(q.dx_px - sx) < 1.0 && std::abs(q.dy_px - sy) < 1.0) sx = q.dx_px, sy = q.dy_px;
  }
  const bool ncc_full = f > 1 && signal.refine_full_resolution && refine_full(a, b, signal, sx, sy, ncc);
  if (ncc_full) r.ncc = ncc;
  // The stage's own offset is a candidate too: a smooth image (a photograph, a widefield-like
  // tile) can leave the true peak out of the reduced-scale phase correlation's candidates, and a
  // wrong one wins (tiles of a natural image 1 px from their stage offset matched 9 px off at NCC
  // 0.89 while the true offset scored 1.0). Refined from the stage offset, the better NCC wins;
  // the loser, if more than 2 px away, is the "other interpretation" the margin test weighs.
  bool second_full = false;  // second_ncc measured at full resolution
  if (f > 1 && signal.refine_full_resolution) {
    double nx = 0, ny = 0, nncc = -1;
    if (refine_full(a, b, signal, nx, ny, nncc) && nncc > r.ncc + 1e-6) {
      if (std::hypot(nx - sx, ny - sy) > 2.0 && r.ncc >= r.second_ncc) {
        r.second_ncc = r.ncc, second_full = true;
        r.second_dx_px = sx / f, r.second_dy_px = sy / f;  // reduced px, as the PC reports it (scaled below)
      }
      sx = nx, sy = ny, r.ncc = nncc;
    }
  }
  // The other interpretation refined at full resolution too where the margin test would reject
  // on it, so that the test compares two NCCs of one scale (with the reduced scale's, rejected
  // edges showed a second_ncc above their ncc; refined, it only fell, 0.04-0.14 on the demo). Not
  // swapped in when it refines better: it never passed the active-pixel test, and such an edge is
  // ambiguous either way.
  if (ncc_full && r.second_ncc >= 0 && !second_full && r.ncc - r.second_ncc < margin) {
    double ox = r.second_dx_px * f, oy = r.second_dy_px * f, oncc = -1;
    if (refine_full(a, b, signal, ox, oy, oncc) && std::hypot(ox - sx, oy - sy) > 2.0) {
      r.second_ncc = oncc;
      r.second_dx_px = std::round(ox) / f, r.second_dy_px = std::round(oy) / f;
    }
  }
  // moving (b over region - d0) at x + s matches fixed (a) at x: b - a = d0 - s.
  r.dx_px = static_cast<double>(g.d0x) - sx;
  r.dy_px = static_cast<double>(g.d0y) - sy;
  r.second_dx_px = static_cast<double>(g.d0x) - r.second_dx_px * f;
  r.second_dy_px = static_cast<double>(g.d0y) - r.second_dy_px * f;
  r.confidence = std::clamp(r.ncc, 0.0, 1.0);
  return r;
}

namespace {

struct Job {
  std::size_t a, b;
  StripGeometry g;
  long result_slot;  // >= 0: index into pairs; < 0: -(random index) - 1
  std::unique_ptr<Strip> sa, sb;
  PcResult result;
  bool done = false;
};

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = std::clamp(q, 0.0, 1.0) * static_cast<double>(v.size() - 1);
  return v[static_cast<std::size_t>(std::lround(pos))];
}

}  // namespace

double random_match_quantile(const std::vector<double>& sorted_ncc, double q, bool* at_second_largest) {
  *at_second_largest = false;
  double v = quantile(sorted_ncc, q);
  // Below 100 matches the nearest-rank 99% quantile is the largest (below 51, always): one chance
  // match of two sparse strips set the threshold above every true overlap (probe67, a campaign
  // half acquired: 0.92 among 41 whose next was 0.51, true overlaps 0.87-0.91, 1 of 13 accepted).
  // From 20 matches on, the second largest is the ceiling (q = 1 asks for the largest: kept).
  if (const std::size_t n = sorted_ncc.size(); n >= 20 && q < 1 && sorted_ncc[n - 2] < v)
    v = sorted_ncc[n - 2], *at_second_largest = true;
  return v;
}

namespace {
// The numbers of a PcResult, for the exchange between processes (all zero = not computed here).
constexpr std::size_t kPacked = 13;
void pack(const PcResult& r, double* d) {
  const double v[kPacked] = {r.dx_px, r.dy_px, r.peak, r.ncc, r.confidence, static_cast<double>(r.overlap_px), r.active_px,
                             static_cast<double>(r.candidates), r.second_ncc, r.second_dx_px, r.second_dy_px, r.second_peak,
                             r.valid ? 1.0 : 0.0};
  std::copy_n(v, kPacked, d);
}
PcResult unpack(const double* d) {
  PcResult r;
  r.dx_px = d[0], r.dy_px = d[1], r.peak = d[2], r.ncc = d[3], r.confidence = d[4];
  r.overlap_px = static_cast<std::size_t>(d[5]);
  r.active_px = d[6];
  r.candidates = static_cast<int>(d[7]);
  r.second_ncc = d[8], r.second_dx_px = d[9], r.second_dy_px = d[10], r.second_peak = d[11];
  r.valid = d[12] != 0;
  return r;
}

// Which grid rows this process registers: contiguous blocks of rows with about equal job counts.
std::set<int> rows_of_rank(const std::vector<int>& job_row, const WorkShare& share) {
  std::map<int, std::size_t> per_row;
  for (int r : job_row) ++per_row[r];
  std::vector<double> work;
  for (const auto& [row, n] : per_row) work.push_back(static_cast<double>(n));
  const std::vector<int> owner = split_contiguous(work, static_cast<std::size_t>(share.ranks));
  std::set<int> mine;
  std::size_t i = 0;
  for (const auto& [row, n] : per_row)
    if (owner[i++] == share.rank) mine.insert(row);
  return mine;
}

}  // namespace

PairRegistration register_pairs(const TileSource& source, const std::vector<TilePair>& pairs, const PairRegOptions& opt,
                                const std::function<void()>& progress, const WorkShare* share) {
  const bool shared = share && share->ranks > 1;
  if (shared && !share->sum_all) throw std::invalid_argument("register_pairs: a WorkShare needs sum_all");
  PairRegistration out;
  out.pairs.resize(pairs.size());
  const double search_px = opt.search_um * 1000.0 / source.pixel_nm();
  std::vector<StripGeometry> geom(pairs.size());
  for (std::size_t k = 0; k < pairs.size(); ++k) {
    const TilePair& p = pairs[k];
    if (p.a >= source.size() || p.b >= source.size() || p.a == p.b)
      throw std::invalid_argument("register_pairs: pair refers to a tile that does not exist");
    geom[k] = strip_geometry(source.info(p.a), source.info(p.b), source.pixel_nm(), search_px);
    out.pairs[k].pair = p;
    out.pairs[k].nominal_dx_px = geom[k].nominal_dx_px;
    out.pairs[k].nominal_dy_px = geom[k].nominal_dy_px;
    out.pairs[k].no_overlap = geom[k].width == 0;
  }
  if (!opt.skip_tiles.empty() && opt.skip_tiles.size() != source.size())
    throw std::invalid_argument("register_pairs: skip_tiles must have one entry per tile");
  const auto skip = [&](std::size_t tile) { return !opt.skip_tiles.empty() && opt.skip_tiles[tile]; };
  for (std::size_t k = 0; k < pairs.size(); ++k)
    if (skip(pairs[k].a) || skip(pairs[k].b)) out.pairs[k].skipped = true;
  // Tiles by row, for the row-by-row sweep and for choosing random partners nearby.
  std::map<int, std::vector<std::size_t>> by_row;
  for (std::size_t i = 0; i < source.size(); ++i) by_row[source.info(i).row].push_back(i);
  std::atomic<std::size_t> loads{0};

  std::vector<char> settled(pairs.size(), 0);  // accepted by an earlier signal
  for (std::size_t si = 0; si < opt.signals.size(); ++si) {
    const RegistrationSignal& sig = opt.signals[si];
    if (sig.channel >= source.channels()) throw std::invalid_argument("register_pairs: signal channel out of range");
    std::vector<Job> jobs;
    for (std::size_t k = 0; k < pairs.size(); ++k)
      if (!settled[k] && geom[k].width > 0 && !out.pairs[k].skipped) jobs.push_back({pairs[k].a, pairs[k].b, geom[k], static_cast<long>(k), {}, {}, {}, false});
    SignalCalibration cal;
    cal.channel = sig.channel, cal.scale = sig.scale, cal.pairs_tried = jobs.size();
    if (opt.signal_started) opt.signal_started(si, jobs.size());
    if (jobs.empty()) {
      out.calibration.push_back(cal);
      continue;
    }
    // Random non-adjacent pairs: a real pair's geometry with b replaced by a tile that cannot overlap a
    // (not within one cell of it), taken from rows within 2 of a so that strips wait at most 2 rows;
    // in a grid one or two tiles wide, from rows within 8 / its width (a column of 6 tiles had 7
    // partners, against the 16 of the same tiles lying as a row; its strips are few anyway).
    std::vector<std::size_t> usable;
    for (std::size_t k = 0; k < pairs.size(); ++k)
      if (geom[k].width > 0 && !out.pairs[k].skipped) usable.push_back(k);
    std::size_t widest_row = 1;
    for (const auto& [r, tiles] : by_row) widest_row = std::max(widest_row, tiles.size());
    const int row_reach = widest_row <= 2 ? static_cast<int>(8 / widest_row) : 2;
    std::mt19937_64 rng(opt.seed * 0x9e3779b97f4a7c15ULL + si);
    long nrandom = 0;
    std::set<std::pair<std::size_t, std::size_t>> drawn;  // (geometry of pair k, partner tile)
    for (std::size_t attempt = 0; attempt < opt.random_pairs * 20 && static_cast<std::size_t>(nrandom) < opt.random_pairs;
         ++attempt) {
      const std::size_t k = usable[std::uniform_int_distribution<std::size_t>(0, usable.size() - 1)(rng)];
      const TileInfo& ta = source.info(pairs[k].a);
      std::vector<std::size_t> cand;
      for (int r = ta.row - row_reach; r <= ta.row + row_reach; ++r) {
        auto it = by_row.find(r);
        if (it == by_row.end()) continue;
        for (std::size_t c : it->second) {
          const TileInfo& tc = source.info(c);
          if ((std::abs(tc.row - ta.row) > 1 || std::abs(tc.col - ta.col) > 1) && !skip(c)) cand.push_back(c);
        }
      }
      if (cand.empty()) continue;
      const std::size_t c = cand[std::uniform_int_distribution<std::size_t>(0, cand.size() - 1)(rng)];
      // Each combination once: a small grid has few (a 1 x 3 grid one), and the same registration
      // counted 200 times would pass for a calibration.
      if (!drawn.insert({k, c}).second) continue;
      jobs.push_back({pairs[k].a, c, geom[k], -(nrandom + 1), {}, {}, {}, false});
      ++nrandom;
    }
    // Which jobs need which tile, as side a or b.
    std::vector<std::vector<std::pair<std::size_t, int>>> needs(source.size());
    for (std::size_t j = 0; j < jobs.size(); ++j) {
      needs[jobs[j].a].push_back({j, 0});
      needs[jobs[j].b].push_back({j, 1});
    }
    std::vector<int> job_row(jobs.size());
    for (std::size_t j = 0; j < jobs.size(); ++j)
      job_row[j] = std::max(source.info(jobs[j].a).row, source.info(jobs[j].b).row);
    // This process's jobs (all of them without a share); the tiles only other processes need are
    // never loaded here.
    std::vector<char> mine(jobs.size(), 1);
    if (shared) {
      const std::set<int> my_rows = rows_of_rank(job_row, *share);
      for (std::size_t j = 0; j < jobs.size(); ++j) mine[j] = my_rows.count(job_row[j]) ? 1 : 0;
      for (auto& need : needs)
        need.erase(std::remove_if(need.begin(), need.end(), [&](const auto& js) { return !mine[js.first]; }), need.end());
    }
    std::exception_ptr local_error;
    bool stopped = false;
    for (const auto& [row, tiles] : by_row) {
      if (opt.stop_requested && opt.stop_requested()) {
        Stopped stop("tile registration stopped at grid row " + std::to_string(row));
        if (!shared) throw stop;
        local_error = std::make_exception_ptr(stop);  // the others wait in sum_all
        stopped = true;
        break;
      }
      std::vector<std::size_t> load;
      for (std::size_t t : tiles)
        if (!needs[t].empty()) load.push_back(t);
      try {
        tbb::parallel_for(std::size_t{0}, load.size(), [&](std::size_t i) {
          const std::size_t t = load[i];
          ImageF img = source.load(t, sig.channel);
          fill_not_finite(img);
          ++loads;
          const double level = sig.min_strip_level_fraction > 0 ? tile_level(img.view()) : 0.0;  // only the gate needs it
          for (const auto& [j, side] : needs[t]) {
            Job& job = jobs[j];
            const long ox = side == 0 ? 0 : job.g.d0x, oy = side == 0 ? 0 : job.g.d0y;
            auto strip = std::make_unique<Strip>(
                extract_strip(img.view(), job.g.x0 - ox, job.g.y0 - oy, job.g.width, job.g.height, sig));
            strip->tile_level = level;
            (side == 0 ? job.sa : job.sb) = std::move(strip);  // each side is written by exactly one tile
          }
        });
        std::vector<std::size_t> ready;
        for (std::size_t j = 0; j < jobs.size(); ++j)
          if (mine[j] && !jobs[j].done && job_row[j] <= row && jobs[j].sa && jobs[j].sb) ready.push_back(j);
        tbb::parallel_for(std::size_t{0}, ready.size(), [&](std::size_t i) {
          Job& job = jobs[ready[i]];
          job.result = register_strips(*job.sa, *job.sb, job.g, sig, opt.pc, search_px, opt.min_ncc_margin);
          job.sa.reset();
          job.sb.reset();
          job.done = true;
          if (job.result_slot >= 0 && progress) progress();
        });
      } catch (...) {
        if (!shared) throw;
        // The other processes wait for this one in sum_all: finish the sweep's exchange, then throw.
        local_error = std::current_exception();
        break;
      }
    }
    if (shared) {
      // Everyone's results (and errors) everywhere: slot 0 counts the processes that failed,
      // slot 1 those that were asked to stop.
      constexpr std::size_t kHead = 2;
      std::vector<double> packed(kHead + jobs.size() * kPacked, 0.0);
      packed[0] = local_error && !stopped ? 1.0 : 0.0;
      packed[1] = stopped ? 1.0 : 0.0;
      for (std::size_t j = 0; j < jobs.size(); ++j)
        if (mine[j] && jobs[j].done) pack(jobs[j].result, packed.data() + kHead + j * kPacked);
      share->sum_all(packed);
      // A stop wins on every process, over failures too: all of them must leave the same way
      // (the caller's next collective depends on it). A failure is still reported here.
      if (packed[1] != 0) {
        if (stopped) std::rethrow_exception(local_error);
        if (local_error) {
          try {
            std::rethrow_exception(local_error);
          } catch (const std::exception& e) {
            spdlog::error("tile registration failed here (then stopped by a signal): {}", e.what());
          }
        }
        throw Stopped("tile registration stopped (a stop signal reached another rank)");
      }
      if (local_error) std::rethrow_exception(local_error);
      if (packed[0] != 0) throw std::runtime_error("tile registration failed on another rank (see its messages)");
      for (std::size_t j = 0; j < jobs.size(); ++j)
        if (!mine[j]) jobs[j].result = unpack(packed.data() + kHead + j * kPacked);
    }
    for (const Job& job : jobs)
      if (job.result_slot < 0) {
        ++cal.random_pairs;
        if (job.result.valid) ++cal.random_valid, cal.random_ncc.push_back(job.result.ncc);
      }
    std::sort(cal.random_ncc.begin(), cal.random_ncc.end());
    cal.random_ncc_quantile = random_match_quantile(cal.random_ncc, opt.accept_quantile, &cal.quantile_at_second_largest);
    const double base = std::max(opt.min_ncc, cal.random_ncc_quantile);
    std::vector<double> passing;
    for (const Job& job : jobs)
      if (job.result_slot >= 0 && job.result.valid && job.result.ncc >= base) passing.push_back(job.result.ncc);
    cal.median_ncc = quantile(passing, 0.5);
    cal.threshold = std::max(base, opt.min_ncc_fraction_of_median * cal.median_ncc);
    cal.set_by_median = cal.threshold > base;
    for (const Job& job : jobs) {
      if (job.result_slot < 0) continue;
      const std::size_t k = static_cast<std::size_t>(job.result_slot);
      PairResult& pr = out.pairs[k];
      const PcResult& jr = job.result;
      const auto [thickness, length] =
          jr.valid ? implied_overlap_px(source.info(pr.pair.a), source.info(pr.pair.b), jr.dx_px, jr.dy_px)
                   : std::make_pair(0.0, 0.0);
      const bool too_small = jr.valid && thickness < opt.min_overlap_thickness_px;
      const bool accepted = jr.valid && !too_small && jr.ncc >= cal.threshold &&
                            jr.ncc - std::max(jr.second_ncc, 0.0) >= opt.min_ncc_margin;
      if (!accepted && pr.signal >= 0) continue;  // keep the first signal's result for the report
      pr.overlap_thickness_px = thickness, pr.overlap_length_px = length;
      pr.too_small = too_small;
      pr.signal = static_cast<int>(si);
      pr.valid = job.result.valid;
      pr.accepted = accepted;
      pr.ncc = job.result.ncc;
      pr.peak = job.result.peak;
      pr.confidence = job.result.confidence;
      pr.second_ncc = job.result.second_ncc;
      pr.second_dx_px = job.result.second_dx_px, pr.second_dy_px = job.result.second_dy_px;
      pr.dx_px = job.result.valid ? job.result.dx_px : pr.nominal_dx_px;
      pr.dy_px = job.result.valid ? job.result.dy_px : pr.nominal_dy_px;
      if (accepted) settled[k] = 1;
    }
    out.calibration.push_back(std::move(cal));
  }
  out.tile_loads = loads;
  return out;
}

}  // namespace annamosaic
