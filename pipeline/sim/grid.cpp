#include "sim/grid.hpp"

#include <fmt/format.h>

#include <cmath>
#include <random>
#include <stdexcept>

#include "core/error.hpp"
#include "sim/geometry.hpp"

namespace annamosaic {

GridOrder parse_grid_order(const std::string& s) {
  if (s == "raster") return GridOrder::Raster;
  if (s == "snake") return GridOrder::Snake;
  throw InputError("--order", "unknown grid order '" + s + "' (raster or snake)");
}

void check_grid_options(const GridOptions& opt) {
  if (opt.rows < 1 || opt.cols < 1) throw InputError("--rows/--cols", "grid must have at least one row and column");
  // FoV ids are ints and every FoV is a folder of files: a typo's 100000 x 100000 ran out of memory.
  if (const auto n = static_cast<long long>(opt.rows) * opt.cols; n > kMaxGridFovs)
    throw InputError("--rows/--cols", fmt::format("a grid of {} x {} = {} FoVs; at most {} FoVs (ANNA-PALM's largest "
                                                  "mosaic was 33 x 33)", opt.rows, opt.cols, n, kMaxGridFovs));
  // A FoV of a millimetre at 20 nm is 50000 px a side (10 GB as floats): a unit slip (nm for um).
  if (opt.fov_um > kMaxFovUm)
    throw InputError("--fov-um", fmt::format("{:g} um: FoVs of a microscope camera are at most a few hundred um (at most {:g}); "
                                             "is the value in nm?", opt.fov_um, kMaxFovUm));
  if (!(opt.fov_um > 0) || opt.overlap_um < 0 || opt.overlap_um >= opt.fov_um)
    throw InputError("--overlap-um", "overlap must be >= 0 and smaller than the FoV");
}

std::vector<FovPlacement> make_grid(const GridOptions& opt) {
  check_grid_options(opt);
  const double step = opt.fov_um - opt.overlap_um;
  std::vector<FovPlacement> out;
  out.reserve(static_cast<std::size_t>(opt.rows) * opt.cols);
  int id = 0;
  for (int r = 0; r < opt.rows; ++r)
    for (int k = 0; k < opt.cols; ++k) {
      const int c = (opt.order == GridOrder::Snake && r % 2 == 1) ? opt.cols - 1 - k : k;
      FovPlacement p;
      p.id = id;
      p.row = r;
      p.col = c;
      p.nominal_x_um = c * step;
      p.nominal_y_um = r * step;
      // Each FoV's jitter has its own stream: independent of grid size and order.
      std::mt19937_64 rng(mix_seed(opt.seed, 21, static_cast<std::uint64_t>(r), static_cast<std::uint64_t>(c)));
      std::normal_distribution<double> n(0.0, 1.0);
      auto draw = [&] {
        double v;
        do v = n(rng);
        while (std::abs(v) > opt.jitter_truncate);
        return v * opt.jitter_um;
      };
      p.true_x_um = p.nominal_x_um + draw();
      p.true_y_um = p.nominal_y_um + draw();
      out.push_back(p);
      ++id;
    }
  return out;
}

}  // namespace annamosaic
