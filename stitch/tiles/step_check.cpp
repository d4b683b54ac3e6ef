#include "tiles/step_check.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/numeric.hpp"
#include "imgproc/filters.hpp"
#include "register/phase_correlation.hpp"

namespace annamosaic {
namespace {
constexpr double kMinStepFraction = 0.05;
}  // namespace

StepCheck check_steps(const TileSource& source, const std::vector<PairResult>& pairs, std::size_t channel,
                      std::size_t pairs_per_axis, std::size_t max_side_px, double min_ncc) {
  StepCheck out;
  const double um_per_px = source.pixel_nm() / 1000.0;
  // Whole tiles, no window: the overlap lies at their edges, which a window would fade out. The
  // periodic interpretations of each peak are scored by NCC, so the FFT's wrap-around and the
  // edges' own correlation at zero shift do not pass for a match.
  PcOptions pc;
  pc.window = Window::None;
  pc.prefilter = Prefilter::Gaussian;
  pc.prefilter_sigma_px = 1.0;
  pc.peaks = 32;
  pc.min_overlap_fraction = 0.02;
  pc.subpixel = Subpixel::Paraboloid;
  for (const bool along_rows : {true, false}) {
    std::vector<const PairResult*> candidates;
    for (const PairResult& p : pairs) {
      // (Pairs the positions leave without overlap are kept: a fov-um or a positions' scale too large
      // puts every pair so, and the whole tiles' correlation needs no predicted overlap.)
      if (p.skipped) continue;
      const TileInfo& a = source.info(p.pair.a);
      const TileInfo& b = source.info(p.pair.b);
      if ((a.row == b.row) == along_rows) candidates.push_back(&p);
    }
    StepAxis& axis = along_rows ? out.rows : out.cols;
    std::vector<double> positions, images;
    const std::size_t n = std::min(pairs_per_axis, candidates.size());
    for (std::size_t k = 0; k < n; ++k) {
      const PairResult& p = *candidates[k * candidates.size() / n];  // spread over the grid
      ++axis.tried;
      const TileInfo& a = source.info(p.pair.a);
      axis.tile_um = static_cast<double>(along_rows ? a.width_px : a.height_px) * um_per_px;
      const std::size_t factor =
          std::max<std::size_t>(1, (std::max(a.width_px, a.height_px) + max_side_px - 1) / max_side_px);
      const ImageF fa = downsample_mean(source.load(p.pair.a, channel).view(), factor);
      const ImageF fb = downsample_mean(source.load(p.pair.b, channel).view(), factor);
      if (fa.width() != fb.width() || fa.height() != fb.height()) continue;
      // Only where a neighbour can lie: b's origin on along the axis (the way the positions run:
      // x or y may fall as col or row grows), by less than a tile, and across it by less than a
      // quarter of one (a grid's neighbours).
      const double nominal_px = along_rows ? p.nominal_dx_px : p.nominal_dy_px;
      const double sense = nominal_px < 0 ? -1 : 1;
      PcOptions o = pc;
      const double w = static_cast<double>(fa.width()), h = static_cast<double>(fa.height());
      o.expected_dx_px = along_rows ? -sense * w / 2 : 0, o.max_shift_x_px = along_rows ? w / 2 : w / 4;
      o.expected_dy_px = along_rows ? 0 : -sense * h / 2, o.max_shift_y_px = along_rows ? h / 4 : h / 2;
      const PcResult r = phase_correlate(fa.view(), fb.view(), o);
      // moving(x + dx) ~ fixed(x): b's pixel 0 is a's pixel -dx, so b's origin lies -dx on from a's.
      const double step_px = -sense * (along_rows ? r.dx_px : r.dy_px) * static_cast<double>(factor);
      const double size_px = static_cast<double>(along_rows ? a.width_px : a.height_px);
      // A step under a twentieth of a tile is no grid's (an overlap of over 95%): tiles alike at no
      // shift, their localizations all in one corner (coordinates in a unit 1000x too large), matched
      // "a median 5.31e-13 um apart" (probe90).
      if (!r.valid || r.ncc < min_ncc || !(step_px >= kMinStepFraction * size_px) || step_px >= size_px) continue;
      ++axis.matched;
      images.push_back(step_px * um_per_px);  // both as lengths (the sense is the positions')
      positions.push_back(std::abs(nominal_px) * um_per_px);
    }
    if (images.empty()) continue;  // NaN medians: nothing matched
    axis.positions_um = median(positions);
    axis.images_um = median(images);
    std::vector<double> dev;
    for (const double s : images) dev.push_back(std::abs(s - axis.images_um));
    axis.spread_um = median(dev);
  }
  return out;
}

std::string step_check_warning(const StepCheck& check, double search_um, double pixel_nm) {
  std::string said;
  int axes_said = 0;
  for (const bool along_rows : {true, false}) {
    const StepAxis& a = along_rows ? check.rows : check.cols;
    if (a.matched < 2 || 2 * a.matched < a.tried) continue;
    const double off = a.images_um - a.positions_um;
    const double allowed = std::max({search_um, 0.1 * std::abs(a.positions_um), 3 * a.spread_um});
    if (!(std::abs(off) > allowed)) continue;
    ++axes_said;
    const std::string overlap = fmt::format("; with tiles of {:.3g} um, an overlap of {:.2g} um, the positions' {:.2g} um",
                                            a.tile_um, a.tile_um - a.images_um, a.tile_um - a.positions_um);
    said += fmt::format("{}the images put neighbouring tiles a median {:.3g} um apart along the {}, the positions {:.3g} um "
                        "({} of {} pairs matched across whole tiles, spread {:.2g} um{})",
                        said.empty() ? "" : "; ", a.images_um, along_rows ? "rows" : "columns", a.positions_um, a.matched,
                        a.tried, a.spread_um, overlap);
  }
  if (said.empty()) return "";
  // Both axes off by one factor: the images' um are pixels times the pixel size, so a pixel size
  // off by that factor reads the same as positions scaled by it (probe98: --pixel-nm 110 for
  // 100 nm tiles was blamed on overlap-um alone, and the mosaic written 10% off in scale).
  std::string pixel;
  const double r_rows = check.rows.images_um / check.rows.positions_um, r_cols = check.cols.images_um / check.cols.positions_um;
  if (axes_said == 2 && pixel_nm > 0 && std::isfinite(r_rows) && std::isfinite(r_cols) && r_rows > 0 &&
      std::abs(r_rows - r_cols) < 0.03 * r_rows)
    pixel = fmt::format(", or the pixel size (both axes differ by the same factor, {:.3f}: at {:.4g} nm instead of {:g} the "
                        "images would match the positions)",
                        0.5 * (r_rows + r_cols), pixel_nm * 2 / (r_rows + r_cols), pixel_nm);
  return said + fmt::format(": registration looks for each overlap where the positions put it (+-{:g} um, --search-um); "
                            "farther off it matches little or falsely, and tiles it cannot join lie where the positions "
                            "say. Is overlap-um (or fov-um, or the positions' scale) right{}? Fix it, then stitch again (run: "
                            "into a new output folder)",
                            search_um, pixel);
}

std::string step_check_text(const StepCheck& check) {
  const auto axis = [](const StepAxis& a, const char* along) {
    if (a.tried == 0) return fmt::format("no pair {}", along);
    return fmt::format("{} of {} pairs {} matched", a.matched, a.tried, along) +
           (a.matched > 0 ? fmt::format(" (step: images {:.3g} um, positions {:.3g} um)", a.images_um, a.positions_um) : "");
  };
  return "positions' steps checked against the images: " + axis(check.rows, "along the rows") + ", " +
         axis(check.cols, "down the columns");
}

}  // namespace annamosaic
