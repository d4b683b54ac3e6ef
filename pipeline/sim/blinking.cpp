#include "sim/blinking.hpp"

#include <cmath>
#include <random>
#include <stdexcept>

namespace annamosaic {

LocTable simulate_localizations(const std::vector<PointNm>& labels, const RectNm& fov, const BlinkingOptions& opt,
                                std::uint64_t seed) {
  if (opt.frames < 1) throw std::invalid_argument("simulate_localizations: frames must be >= 1");
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> frame_of(1, opt.frames);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::normal_distribution<double> loc(0.0, opt.sigma_loc_nm);
  std::normal_distribution<double> spread(0.0, opt.structured_spread_nm);
  std::lognormal_distribution<double> photons(std::log(opt.mean_photons) - 0.08, 0.4);
  std::poisson_distribution<int> detections(opt.detections_per_label);

  struct Row {
    std::int32_t frame;
    double x, y;
    float photons;
  };
  std::vector<Row> rows;
  rows.reserve(static_cast<std::size_t>(labels.size() * opt.detections_per_label * 1.1) + 64);
  auto add = [&](double x, double y) {
    // At the 0.001 nm the tables are written with: the ground truth rendered from these values
    // is then the written table rendered (a point on a pixel edge stays on the same side).
    const double lx = std::round((x - fov.x0_nm) * 1e3) / 1e3, ly = std::round((y - fov.y0_nm) * 1e3) / 1e3;
    const int f = frame_of(rng);
    const float ph = static_cast<float>(photons(rng));
    if (lx >= 0 && lx < fov.width_nm && ly >= 0 && ly < fov.height_nm) rows.push_back({f, lx, ly, ph});
  };
  for (const PointNm& p : labels) {
    const int k = detections(rng);
    for (int i = 0; i < k; ++i) {
      // Drawn into names, y first: the order of two draws in one call's arguments is left to the
      // compiler (g++ took y first), so a seed gave other tables under clang.
      const bool structured = u(rng) < opt.structured_false_fraction;
      const double dy = structured ? spread(rng) : loc(rng);
      const double dx = structured ? spread(rng) : loc(rng);
      add(p.x_nm + dx, p.y_nm + dy);
    }
  }
  const double area_um2 = fov.width_nm * fov.height_nm / 1e6;
  const int n_false = std::poisson_distribution<int>(opt.false_per_um2_per_frame * area_um2 * opt.frames)(rng);
  for (int i = 0; i < n_false; ++i) {
    const double fy = u(rng), fx = u(rng);
    add(fov.x0_nm + fx * fov.width_nm, fov.y0_nm + fy * fov.height_nm);
  }

  // Counting sort by frame: stable, O(rows + frames).
  std::vector<std::size_t> start(static_cast<std::size_t>(opt.frames) + 2, 0);
  for (const Row& r : rows) ++start[static_cast<std::size_t>(r.frame) + 1];
  for (std::size_t f = 1; f < start.size(); ++f) start[f] += start[f - 1];
  LocTable t;
  const std::size_t n = rows.size();
  t.frame.resize(n);
  t.x_nm.resize(n);
  t.y_nm.resize(n);
  t.intensity.resize(n);
  t.uncertainty_nm.assign(n, static_cast<float>(opt.sigma_loc_nm));
  for (const Row& r : rows) {
    const std::size_t i = start[static_cast<std::size_t>(r.frame)]++;
    t.frame[i] = r.frame;
    t.x_nm[i] = r.x;
    t.y_nm[i] = r.y;
    t.intensity[i] = r.photons;
  }
  return t;
}

}  // namespace annamosaic
