#include "sim/specimen.hpp"

#include <algorithm>
#include <cmath>
#include <random>

#include "core/error.hpp"

namespace annamosaic {
namespace {
constexpr double kPi = 3.14159265358979323846;
constexpr double kTileNm = 20'000.0;  // filament start tiles
constexpr double kPoreCellNm = 250.0; // pore lattice cell: a 150 nm ring (+ label spread) always fits
constexpr std::uint64_t kCellStream = 11, kFilamentStream = 12, kPoreStream = 13;

double uniform01(std::uint64_t h) { return (h >> 11) * (1.0 / 9007199254740992.0); }
}  // namespace

Structure parse_structure(const std::string& name) {
  if (name == "microtubules") return Structure::Microtubules;
  if (name == "nuclear-pores") return Structure::NuclearPores;
  throw InputError("--structure", "unknown structure '" + name + "' (microtubules or nuclear-pores)");
}
const char* structure_name(Structure s) { return s == Structure::Microtubules ? "microtubules" : "nuclear-pores"; }
int structure_switch_id(Structure s) { return s == Structure::Microtubules ? 0 : 1; }

Specimen::Specimen(SpecimenOptions opt) : opt_(opt) {}

double Specimen::cell_cover(double x, double y, double radius_scale) const {
  // Cells on a jittered lattice; the nearest few lattice sites can reach (x, y).
  const double s = opt_.cell_spacing_um * 1000.0;
  const std::int64_t cx = static_cast<std::int64_t>(std::floor(x / s)), cy = static_cast<std::int64_t>(std::floor(y / s));
  double cover = 0;
  for (std::int64_t j = cy - 1; j <= cy + 1; ++j)
    for (std::int64_t i = cx - 1; i <= cx + 1; ++i) {
      const std::uint64_t h = mix_seed(opt_.seed, kCellStream, static_cast<std::uint64_t>(i), static_cast<std::uint64_t>(j));
      if (uniform01(h) >= opt_.cell_fraction) continue;
      const double ox = (i + 0.5 + 0.3 * (uniform01(mix_seed(h, 1)) - 0.5)) * s;
      const double oy = (j + 0.5 + 0.3 * (uniform01(mix_seed(h, 2)) - 0.5)) * s;
      const double r = opt_.cell_radius_um * 1000.0 * (0.75 + 0.5 * uniform01(mix_seed(h, 3))) * radius_scale;
      const double d = std::hypot(x - ox, y - oy);
      // Smooth edge over the outer 15% of the radius.
      const double edge = std::clamp((r - d) / (0.15 * r), 0.0, 1.0);
      cover = std::max(cover, edge * edge * (3 - 2 * edge));
    }
  return cover;
}

double Specimen::density_at(double x, double y) const {
  const RectNm& R = opt_.region;
  const double t = R.width_nm > 0 ? std::clamp((x - R.x0_nm) / R.width_nm, 0.0, 1.0) : 0.0;
  const double grad = 1.0 - opt_.gradient * t;
  // Nuclear pores sit in the nucleus: a disc of half the cell radius.
  const double scale = opt_.structure == Structure::NuclearPores ? 0.5 : 1.0;
  return cell_cover(x, y, scale) * grad;
}

void Specimen::filament_labels(std::int64_t tx, std::int64_t ty, const RectNm& rect, std::vector<PointNm>& out) const {
  const std::uint64_t tile_seed = mix_seed(opt_.seed, kFilamentStream, static_cast<std::uint64_t>(tx), static_cast<std::uint64_t>(ty));
  std::mt19937_64 rng(tile_seed);
  std::uniform_real_distribution<double> u01(0.0, 1.0);
  const double x0 = tx * kTileNm, y0 = ty * kTileNm;
  // Expected starts from the density at the tile's centre region (rejection below refines it).
  const double mean = opt_.filaments_per_100um2 * (kTileNm * kTileNm / 1e8);
  const int candidates = std::poisson_distribution<int>(mean)(rng);
  const double seg = opt_.segment_nm;
  const double bend_sigma = std::sqrt(seg / (opt_.persistence_um * 1000.0));
  for (int f = 0; f < candidates; ++f) {
    // Each filament has its own stream: its shape does not depend on which others were kept.
    std::mt19937_64 fr(mix_seed(tile_seed, static_cast<std::uint64_t>(f)));
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::normal_distribution<double> n01(0.0, 1.0);
    double x = x0 + u(fr) * kTileNm, y = y0 + u(fr) * kTileNm;
    if (u(fr) >= density_at(x, y)) continue;  // start only where there is cell
    if (!opt_.region.contains(x, y)) continue;
    double heading = u(fr) * 2 * kPi;
    const double length = (opt_.min_length_um + u(fr) * (opt_.max_length_um - opt_.min_length_um)) * 1000.0;
    const bool bundled = u(fr) < opt_.bundle_fraction;
    const double side = u(fr) < 0.5 ? -1.0 : 1.0;
    const int steps = std::max(1, static_cast<int>(length / seg));
    std::poisson_distribution<int> nlab(opt_.labels_per_um * seg / 1000.0);
    for (int s = 0; s < steps; ++s) {
      const double nx = x + seg * std::cos(heading), ny = y + seg * std::sin(heading);
      // Labels of this segment (and of its bundle companion), drawn whether or not they are in
      // `rect`, so the stream stays identical for every rectangle.
      const int copies = bundled ? 2 : 1;
      for (int c = 0; c < copies; ++c) {
        const double off = c == 0 ? 0.0 : side * opt_.bundle_spacing_nm;
        const double px = -std::sin(heading) * off, py = std::cos(heading) * off;
        const int k = nlab(fr);
        for (int l = 0; l < k; ++l) {
          const double t = u(fr);
          const double lx = x + t * (nx - x) + px + opt_.label_offset_nm * n01(fr);
          const double ly = y + t * (ny - y) + py + opt_.label_offset_nm * n01(fr);
          if (rect.contains(lx, ly) && opt_.region.contains(lx, ly) && density_at(lx, ly) > 0) out.push_back({lx, ly});
        }
      }
      x = nx;
      y = ny;
      heading += bend_sigma * n01(fr);
    }
  }
}

std::vector<PointNm> Specimen::pore_centres_in(const RectNm& rect) const {
  std::vector<PointNm> out;
  if (opt_.structure != Structure::NuclearPores) return out;
  const double c = kPoreCellNm;
  const double ring_r = opt_.pore_diameter_nm / 2;
  const double slack = std::max(0.0, c / 2 - ring_r - 4 * opt_.site_spread_nm);  // keeps rings apart
  const std::int64_t i0 = static_cast<std::int64_t>(std::floor(rect.x0_nm / c)) - 1;
  const std::int64_t i1 = static_cast<std::int64_t>(std::floor(rect.x1_nm() / c)) + 1;
  const std::int64_t j0 = static_cast<std::int64_t>(std::floor(rect.y0_nm / c)) - 1;
  const std::int64_t j1 = static_cast<std::int64_t>(std::floor(rect.y1_nm() / c)) + 1;
  for (std::int64_t j = j0; j <= j1; ++j)
    for (std::int64_t i = i0; i <= i1; ++i) {
      const std::uint64_t h = mix_seed(opt_.seed, kPoreStream, static_cast<std::uint64_t>(i), static_cast<std::uint64_t>(j));
      const double cx = (i + 0.5) * c + slack * (2 * uniform01(mix_seed(h, 1)) - 1);
      const double cy = (j + 0.5) * c + slack * (2 * uniform01(mix_seed(h, 2)) - 1);
      if (!opt_.region.contains(cx, cy) || !rect.contains(cx, cy)) continue;
      if (uniform01(h) >= opt_.pore_occupancy * density_at(cx, cy)) continue;
      out.push_back({cx, cy});
    }
  return out;
}

void Specimen::pore_labels(const RectNm& rect, std::vector<PointNm>& out) const {
  const double ring_r = opt_.pore_diameter_nm / 2;
  // Pores whose labels can reach `rect`.
  for (const PointNm& p : pore_centres_in(rect.expanded(ring_r + 6 * opt_.site_spread_nm + kPoreCellNm))) {
    const std::uint64_t h = mix_seed(opt_.seed, kPoreStream + 100, static_cast<std::uint64_t>(std::llround(p.x_nm * 8)),
                                     static_cast<std::uint64_t>(std::llround(p.y_nm * 8)));
    std::mt19937_64 rng(h);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::normal_distribution<double> n(0.0, opt_.site_spread_nm);
    std::poisson_distribution<int> nlab(opt_.labels_per_site);
    const double rot = u(rng) * 2 * kPi / opt_.pore_sites;
    for (int s = 0; s < opt_.pore_sites; ++s) {
      const double a = rot + 2 * kPi * s / opt_.pore_sites;
      const double sx = p.x_nm + ring_r * std::cos(a), sy = p.y_nm + ring_r * std::sin(a);
      const int k = nlab(rng);
      for (int l = 0; l < k; ++l) {
        const double lx = sx + n(rng), ly = sy + n(rng);
        if (rect.contains(lx, ly)) out.push_back({lx, ly});
      }
    }
  }
}

std::vector<PointNm> Specimen::labels_in(const RectNm& rect) const {
  std::vector<PointNm> out;
  if (opt_.structure == Structure::NuclearPores) {
    pore_labels(rect, out);
    return out;
  }
  // A filament starting in tile t reaches at most max_length (+ bundle spacing) from its start.
  const double reach = opt_.max_length_um * 1000.0 + opt_.bundle_spacing_nm + 4 * opt_.label_offset_nm;
  const RectNm r = rect.expanded(reach);
  const std::int64_t tx0 = static_cast<std::int64_t>(std::floor(r.x0_nm / kTileNm));
  const std::int64_t tx1 = static_cast<std::int64_t>(std::floor(r.x1_nm() / kTileNm));
  const std::int64_t ty0 = static_cast<std::int64_t>(std::floor(r.y0_nm / kTileNm));
  const std::int64_t ty1 = static_cast<std::int64_t>(std::floor(r.y1_nm() / kTileNm));
  for (std::int64_t ty = ty0; ty <= ty1; ++ty)
    for (std::int64_t tx = tx0; tx <= tx1; ++tx) filament_labels(tx, ty, rect, out);
  return out;
}

}  // namespace annamosaic
