#include "batch/qc.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include <fmt/format.h>

#include "tiles/layout.hpp"
#include "batch/fov_result.hpp"
#include "batch/qc_links.hpp"
#include "core/atomic_file.hpp"
#include "core/json_text.hpp"
#include "core/log.hpp"
#include "imageio/tiff_io.hpp"
#include "core/numeric.hpp"
#include "core/text_list.hpp"
#include "imageio/png_preview.hpp"
#include "imgproc/text_rgb.hpp"
#include "register/widefield_registration.hpp"

namespace annamosaic {
namespace {

constexpr double kFewLocalizationsFraction = 0.05;  // of the campaign's median count
// A table whose frames span under half the campaign's median span: an export or a copy cut short
// (probe83: a table cut to its first 5% of rows, 51 of 1000 frames, went unflagged; its count,
// 7.7% of the median, was above the few-localizations limit).
constexpr double kShortTableFraction = 0.5;
constexpr double kLowWidefieldConfidence = kMinWidefieldConfidence;  // below it the shift is not applied
const double kLargeLinkResidualPx = LayoutOptions{}.max_residual_px;  // the layout solver's own outlier floor

// A perceptually ordered dark-blue -> teal -> yellow ramp (viridis-like, 5 stops).
std::array<std::uint8_t, 3> ramp(double t) {
  static const double stops[5][3] = {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
  t = std::clamp(t, 0.0, 1.0) * 4.0;
  const int i = std::min(3, static_cast<int>(t));
  const double f = t - i;
  std::array<std::uint8_t, 3> c{};
  for (int k = 0; k < 3; ++k) c[k] = static_cast<std::uint8_t>(std::lround(stops[i][k] + f * (stops[i + 1][k] - stops[i][k])));
  return c;
}

std::pair<double, double> finite_range(const std::vector<double>& values) {
  double lo = INFINITY, hi = -INFINITY;
  for (double v : values)
    if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  return {lo, hi};
}

}  // namespace

RgbCanvas heat_map(const HeatMapGrid& g, int cell, const HeatMapLegend& legend) {
  const int rows = g.rows, cols = g.cols;
  const std::size_t cells = static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols);
  const auto at = [cells](const auto& v, std::size_t i, auto fallback) { return v.size() == cells ? v[i] : fallback; };
  const auto [lo, hi] = finite_range(g.values);
  const std::array<std::uint8_t, 3> grey{128, 128, 128}, red{255, 0, 0}, ink{0, 0, 0}, white{255, 255, 255},
      cyan{0, 255, 255}, magenta{255, 0, 255};
  // Row numbers at the left and column numbers on top (every k-th where a number is wider than a
  // cell), at the font's size: a FoV named in qc.json or the log is found by its row and column
  // (probe88: 33 x 33 cells of one colour scale and no way to tell which FoV a cell is).
  const int axis_scale = cell >= 32 ? 2 : 1;  // as large as the legend's beside large cells
  const int last_row_w = text_width_px(std::to_string(std::max(rows - 1, 0)), axis_scale);
  const int last_col_w = text_width_px(std::to_string(std::max(cols - 1, 0)), axis_scale);
  const auto every = [cell](int text_w) {
    for (int k : {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000})
      if (k * cell >= text_w + 3) return k;
    return 1000;
  };
  const int col_step = every(last_col_w), row_step = every(kGlyphHeightPx * axis_scale);
  const int left = last_row_w + 4, top = kGlyphHeightPx * axis_scale + 4;
  // A flagged cell's frame, inside the cell: cyan (magenta: flagged for its place alone) edged in
  // black, thicker in larger cells; in cells under 16 px one pixel of colour alone (edged, a
  // frame left an 8 px cell one pixel of its value: a review).
  const bool edged = cell >= 16;
  const int frame_px = edged ? std::max(1, cell / 10) : 1;
  const int frame_inset = edged ? frame_px + 2 : frame_px;  // pixels a frame takes from each side
  // A FoV's id inside its cell where it fits, inside a frame too (at twice the font's size where
  // that fits as well).
  int max_id = -1;
  for (std::size_t i = 0; i < cells; ++i) max_id = std::max(max_id, at(g.ids, i, -1));
  int id_scale = 0;
  for (int s : {1, 2})
    if (max_id >= 0 && text_width_px(std::to_string(max_id), s) + 2 * (frame_inset + 2) <= cell - 1 &&
        kGlyphHeightPx * s + 2 * (frame_inset + 2) <= cell - 1)
      id_scale = s;
  const int grid_w = left + cols * cell, grid_h = top + rows * cell;
  // The legend below the grid: its title, a colour bar labelled at both ends (and the middle,
  // without marks) with its marks (the median, a flag limit), what grey, a red cross and the cyan
  // and magenta frames mean, at twice the font's size (the picture widens for it).
  const int scale = 2, line = (kGlyphHeightPx + kGlyphDescentPx + 3) * scale, margin = 4 * scale;
  const std::string lo_text = std::isfinite(lo) ? legend.label(lo) : "", hi_text = std::isfinite(hi) ? legend.label(hi) : "";
  // The middle of the range only where no marks are: beside the median's mark it read as the median.
  const std::string mid_text = std::isfinite(lo) && hi > lo && legend.marks.empty() ? legend.label((lo + hi) / 2) : "";
  const std::string none_text = legend.none_text, failed_text = "failed", flagged_text = "flagged (qc.json says why)",
                    placement_text = "flagged for its place alone";
  std::vector<std::string> mark_texts;
  for (const HeatMapMark& m : legend.marks)
    mark_texts.push_back(m.name + " " + legend.label(m.value) +
                         (std::isfinite(lo) && (m.value < lo || m.value > hi) ? " (off the bar)" : ""));
  const std::string cells_text =
      id_scale > 0 ? "in a cell: its fov id. left: row, top: column" : "left: row, top: column (row, col in qc.json)";
  const int bar_w = std::max(100 * scale, text_width_px(lo_text + "  " + mid_text + "  " + hi_text, scale));
  const int swatch = kGlyphHeightPx * scale;
  const int key_w = 2 * (swatch + margin) + text_width_px(none_text + "  " + failed_text, scale) + margin;
  int legend_w = std::max({text_width_px(legend.title, scale), bar_w, key_w, swatch + margin + text_width_px(flagged_text, scale),
                           swatch + margin + text_width_px(placement_text, scale), text_width_px(cells_text, scale)});
  for (const std::string& t : mark_texts) legend_w = std::max(legend_w, 3 * scale + margin + text_width_px(t, scale));
  legend_w += 2 * margin;
  const int legend_lines = 7 + static_cast<int>(mark_texts.size());
  const int W = std::max(grid_w, legend_w), H = grid_h + margin + legend_lines * line + margin;
  RgbCanvas canvas(W, H, 255);
  for (int c = 0; c < cols; c += col_step) {
    const std::string t = std::to_string(c);
    draw_text(canvas, left + c * cell + (cell - text_width_px(t, axis_scale)) / 2, 1, t, ink, axis_scale);
  }
  for (int r = 0; r < rows; r += row_step) {
    const std::string t = std::to_string(r);
    draw_text(canvas, left - 2 - text_width_px(t, axis_scale), top + r * cell + (cell - kGlyphHeightPx * axis_scale) / 2, t,
              ink, axis_scale);
  }
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      const std::size_t i = static_cast<std::size_t>(r) * cols + c;
      const double v = at(g.values, i, std::numeric_limits<double>::quiet_NaN());
      const std::array<std::uint8_t, 3> col = std::isfinite(v) ? ramp(hi > lo ? (v - lo) / (hi - lo) : 0.5) : grey;
      const bool failed = at(g.failed, i, false), flagged = at(g.flagged, i, false);
      const std::array<std::uint8_t, 3> frame_colour = at(g.placement_only, i, false) ? magenta : cyan;
      const int x0 = left + c * cell, y0 = top + r * cell;
      for (int y = 1; y < cell; ++y)  // row and column 0 of a cell stay white: the grid lines
        for (int x = 1; x < cell; ++x) {
          const bool cross = failed && (std::abs(x - y) <= 1 || std::abs(x + y - cell + 1) <= 1);
          // Distance from the cell's inside edge: edged, 0 black, 1..frame_px colour, then black.
          const int edge = std::min({x, y, cell - x, cell - y}) - 1;
          std::array<std::uint8_t, 3> p = cross ? red : col;
          if (flagged && edge < frame_inset)
            p = edged && (edge == 0 || edge == frame_px + 1) ? ink : frame_colour;
          canvas.set(x0 + x, y0 + y, p);
        }
      if (const int id = at(g.ids, i, -1); id >= 0 && id_scale > 0) {
        // Dark ink on the ramp's light end, white on its dark end and on grey.
        const bool light = std::isfinite(v) && col[0] * 0.299 + col[1] * 0.587 + col[2] * 0.114 > 140;
        const int inset = (flagged ? frame_inset : 0) + 2;
        draw_text(canvas, x0 + 1 + inset, y0 + 1 + inset, std::to_string(id), light ? ink : white, id_scale);
      }
    }
  int y = grid_h + margin;
  draw_text(canvas, margin, y, legend.title, ink, scale);
  y += line;
  // A mark on the colour bar: a tick across it, edged so that it shows on either end of the ramp.
  const auto tick = [&](int x, int ty, int h, const std::array<std::uint8_t, 3>& colour) {
    canvas.fill_rect(x - scale, ty, 3 * scale, h, colour == ink ? white : ink);
    canvas.fill_rect(x, ty, scale, h, colour);
  };
  const std::array<std::uint8_t, 3> mark_colours[2] = {ink, cyan};
  if (std::isfinite(lo)) {
    for (int x = 0; x < bar_w; ++x) canvas.fill_rect(margin + x, y, 1, line - 2 * scale, ramp(hi > lo ? x / double(bar_w - 1) : 0.5));
    for (std::size_t k = 0; k < legend.marks.size(); ++k) {
      const double v = legend.marks[k].value;
      if (!(v >= lo && v <= hi)) continue;
      const int x = margin + static_cast<int>(std::lround(hi > lo ? (v - lo) / (hi - lo) * (bar_w - 1) : (bar_w - 1) / 2.0));
      tick(x, y - scale, line, mark_colours[std::min<std::size_t>(k, 1)]);
    }
    y += line;
    draw_text(canvas, margin, y, lo_text, ink, scale);
    if (!mid_text.empty()) draw_text(canvas, margin + (bar_w - text_width_px(mid_text, scale)) / 2, y, mid_text, ink, scale);
    if (hi > lo) draw_text(canvas, margin + bar_w - text_width_px(hi_text, scale), y, hi_text, ink, scale);
  } else {
    y += line;
  }
  y += line;
  for (std::size_t k = 0; k < mark_texts.size(); ++k) {
    tick(margin + scale, y, kGlyphHeightPx * scale, mark_colours[std::min<std::size_t>(k, 1)]);
    draw_text(canvas, margin + 3 * scale + margin, y, mark_texts[k], ink, scale);
    y += line;
  }
  int x = margin;
  canvas.fill_rect(x, y, swatch, swatch, grey);
  x += swatch + margin;
  draw_text(canvas, x, y, none_text, ink, scale);
  x += text_width_px(none_text + "  ", scale);
  canvas.fill_rect(x, y, swatch, swatch, white);
  for (int k = 0; k < swatch; ++k) canvas.set(x + k, y + k, red), canvas.set(x + swatch - 1 - k, y + k, red);
  x += swatch + margin;
  draw_text(canvas, x, y, failed_text, ink, scale);
  y += line;
  for (const auto& [colour, text] : {std::pair<std::array<std::uint8_t, 3>, std::string>{cyan, flagged_text},
                                     {magenta, placement_text}}) {
    canvas.fill_rect(margin, y, swatch, swatch, ink);
    canvas.fill_rect(margin + 1, y + 1, swatch - 2, swatch - 2, colour);
    canvas.fill_rect(margin + 1 + scale, y + 1 + scale, swatch - 2 - 2 * scale, swatch - 2 - 2 * scale, ink);
    canvas.fill_rect(margin + 2 + scale, y + 2 + scale, swatch - 4 - 2 * scale, swatch - 4 - 2 * scale, white);
    draw_text(canvas, margin + swatch + margin, y, text, ink, scale);
    y += line;
  }
  draw_text(canvas, margin, y, cells_text, ink, scale);
  return canvas;
}

RgbCanvas captioned_overview(ImageView<const float> image, const QcOverview& ov, double fov_um, const OverviewMarks& marks,
                             const std::vector<std::string>& caption) {
  PreviewOptions po;
  po.max_size_px = 2048;
  std::size_t w = 0, h = 0;
  std::vector<std::uint8_t> rgb = preview_rgb(image, po, w, h);
  const std::size_t factor = preview_block_factor(image.width(), image.height(), po.max_size_px);
  const double px_um = ov.px_um * static_cast<double>(factor);
  const auto to_px = [&](double um) { return static_cast<long>(std::lround(um / px_um)); };
  // FoVs without data of their own: their pixels that nothing reached (0 over the whole block a
  // picture pixel shows: the block maximum the preview shows, values being >= 0) grey, not the
  // colour map's black that also means "0" (probe88: an error map's black was both "no
  // disagreement" and "no error map").
  const ImageF shown = marks.no_data.empty() ? ImageF() : downsample_max(image, factor);
  for (int id : marks.no_data) {
    const auto it = ov.fov_um.find(id);
    if (it == ov.fov_um.end()) continue;
    const long x0 = std::max(0L, to_px(it->second.first - ov.x0_um)), y0 = std::max(0L, to_px(it->second.second - ov.y0_um));
    const long x1 = std::min(static_cast<long>(w), to_px(it->second.first - ov.x0_um + fov_um));
    const long y1 = std::min(static_cast<long>(h), to_px(it->second.second - ov.y0_um + fov_um));
    for (long y = y0; y < y1; ++y)
      for (long x = x0; x < x1; ++x)
        if (shown(static_cast<std::size_t>(x), static_cast<std::size_t>(y)) == 0.0f)
          std::fill_n(rgb.begin() + static_cast<std::ptrdiff_t>(3 * (static_cast<std::size_t>(y) * w + x)), 3, 128);
  }
  // Below the picture: a scale bar of a round length near a fifth of its width, then the caption,
  // its font as large as the widest line allows within the picture's width (probe85: sized by the
  // long side, a tall narrow picture became a wide white one).
  int widest = 1;
  for (const std::string& t : caption) widest = std::max(widest, text_width_px(t, 1));
  const int scale = std::clamp(static_cast<int>(w) * 9 / 10 / widest, 1, std::max(1, static_cast<int>(w) / 400));
  const int line = (kGlyphHeightPx + kGlyphDescentPx + 3) * scale, margin = 4 * scale;
  double bar_um = 1;
  for (const double step : {1.0, 2.0, 5.0})
    for (double p = 1e-3; p <= 1e6; p *= 10)
      if (const double len = step * p; std::abs(len / px_um - w / 5.0) < std::abs(bar_um / px_um - w / 5.0)) bar_um = len;
  const std::string bar_text = fmt::format("{:g} um", bar_um);
  int text_w = text_width_px(bar_text, scale);
  for (const std::string& t : caption) text_w = std::max(text_w, text_width_px(t, scale));
  const int W = std::max(static_cast<int>(w), text_w + 2 * margin);
  const int H = static_cast<int>(h) + margin + line * static_cast<int>(1 + caption.size()) + margin;
  RgbCanvas canvas(W, H, 255);
  for (std::size_t y = 0; y < h; ++y)
    std::copy_n(rgb.begin() + static_cast<std::ptrdiff_t>(3 * w * y), 3 * w,
                canvas.rgb.begin() + static_cast<std::ptrdiff_t>(3 * static_cast<std::size_t>(W) * y));
  // Marked FoVs outlined where they lie, edged in black to stand out on bright areas too: cyan
  // flagged, magenta flagged for their place alone, blue failed (and crossed out). Colours apart
  // from the colour map's black-red-yellow-white (a red outline vanished on it).
  const std::array<std::uint8_t, 3> cyan{0, 255, 255}, magenta{255, 0, 255}, blue{40, 110, 255}, ink{0, 0, 0},
      white{255, 255, 255};
  std::map<int, std::array<std::uint8_t, 3>> mark;  // FoV -> its colour (failed over flagged)
  for (int id : marks.placement_only) mark[id] = magenta;
  for (int id : marks.flagged) mark[id] = cyan;
  for (int id : marks.failed) mark[id] = blue;
  const int thick = std::max(4, scale + 2);
  const auto clipped = [&](int rx, int ry, int rw, int rh, const std::array<std::uint8_t, 3>& colour) {
    const int x0 = std::max(rx, 0), y0 = std::max(ry, 0);  // inside the picture, not the caption
    const int x1 = std::min(rx + rw, static_cast<int>(w)), y1 = std::min(ry + rh, static_cast<int>(h));
    if (x1 > x0 && y1 > y0) canvas.fill_rect(x0, y0, x1 - x0, y1 - y0, colour);
  };
  const auto frame = [&](int fx, int fy, int fside, int fthick, const std::array<std::uint8_t, 3>& colour) {
    clipped(fx, fy, fside, fthick, colour), clipped(fx, fy + fside - fthick, fside, fthick, colour);
    clipped(fx, fy, fthick, fside, colour), clipped(fx + fside - fthick, fy, fthick, fside, colour);
  };
  const int side = std::max(thick * 2, static_cast<int>(to_px(fov_um)));
  const auto corner = [&](const std::pair<double, double>& p) {
    return std::pair<int, int>{static_cast<int>(to_px(p.first - ov.x0_um)), static_cast<int>(to_px(p.second - ov.y0_um))};
  };
  for (const auto& [id, colour] : mark) {
    const auto it = ov.fov_um.find(id);
    if (it == ov.fov_um.end()) continue;
    const auto [x, y] = corner(it->second);
    frame(x, y, side, thick, ink);  // the black edge: the outermost and innermost pixel
    frame(x + 1, y + 1, side - 2, thick - 2, colour);
    if (colour == blue)  // crossed out, as in the heat maps (a FoV lies within the picture: so does its cross)
      for (const auto& [pen, c] : {std::pair<int, std::array<std::uint8_t, 3>>{thick, ink}, {thick - 2, blue}}) {
        draw_line(canvas, x + thick, y + thick, x + side - thick, y + side - thick, c, pen);
        draw_line(canvas, x + side - thick, y + thick, x + thick, y + side - thick, c, pen);
      }
  }
  // Every FoV's id in its corner, over all outlines (probe91: a neighbour's outline struck labels
  // through), on a black ground; in its mark's colour, else white. As large as the largest id fits
  // in half a FoV; where none fits, only the marked FoVs' (at the font's size).
  int max_id = 0;
  for (const auto& [id, p] : ov.fov_um) max_id = std::max(max_id, id);
  int id_scale = 0;
  for (int s = 1; s <= scale; ++s)
    if (text_width_px(std::to_string(max_id), s) + 4 * thick <= side / 2) id_scale = s;
  for (const auto& [id, p] : ov.fov_um) {
    const auto m = mark.find(id);
    if (id_scale == 0 && m == mark.end()) continue;
    const int s = std::max(id_scale, 1);
    const std::string label = std::to_string(id);
    const auto [x, y] = corner(p);
    const int lx = std::max(x, 0) + 2 * thick, ly = std::max(y, 0) + 2 * thick;
    const int lw = text_width_px(label, s), lh = kGlyphHeightPx * s;
    if (lx + lw + s > static_cast<int>(w) || ly + lh + s > static_cast<int>(h)) continue;
    canvas.fill_rect(lx - s, ly - s, lw + 2 * s, lh + 2 * s, ink);
    draw_text(canvas, lx, ly, label, m == mark.end() ? white : m->second, s);
  }
  int y = static_cast<int>(h) + margin;
  const int bar_px = std::max(1, static_cast<int>(std::lround(bar_um / px_um)));
  canvas.fill_rect(margin, y + scale, bar_px, kGlyphHeightPx * scale - 2 * scale, ink);
  draw_text(canvas, margin + bar_px + 2 * margin, y, bar_text, ink, scale);
  for (const std::string& t : caption) draw_text(canvas, margin, y += line, t, ink, scale);
  return canvas;
}

QcOverview build_qc_overview(const std::string& out_dir, const CampaignInfo& c, const std::vector<FovEntry>& fovs,
                             const std::map<int, ManifestRecord>& records, const nlohmann::json* layout, double pixel_nm,
                             int part, int parts) {
  // Each FoV's result max-pooled onto one canvas (layout positions if known).
  std::map<int, std::pair<double, double>> pos_um;
  for (const FovEntry& f : fovs) pos_um[f.id] = {f.x_um, f.y_um};
  if (layout && layout->contains("tiles"))
    for (const auto& t : (*layout)["tiles"])
      if (t.contains("id") && t.contains("x_um") && t.contains("y_um"))
        pos_um[t["id"].get<int>()] = {t["x_um"].get<double>(), t["y_um"].get<double>()};
  double x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY;
  for (const auto& [id, p] : pos_um) {
    x0 = std::min(x0, p.first), y0 = std::min(y0, p.second);
    x1 = std::max(x1, p.first + c.fov_um), y1 = std::max(y1, p.second + c.fov_um);
  }
  constexpr double kCanvasPx = 2048;
  // Never finer than the FoV images' own pixel: a small campaign (one FoV of 500 px) is not blown
  // up to 2048 px.
  const double px_um = std::max(std::max(x1 - x0, y1 - y0) / kCanvasPx, pixel_nm / 1000.0);
  // At most 2048 px: one more would make the preview writer halve the whole canvas.
  const auto canvas_px = [&](double extent_um) {
    return static_cast<std::size_t>(std::clamp(std::ceil(extent_um / px_um - 1e-9), 1.0, kCanvasPx));
  };
  QcOverview ov;
  ov.x0_um = x0, ov.y0_um = y0, ov.px_um = px_um, ov.fov_um = pos_um;
  ov.reconstruction = ImageF(canvas_px(x1 - x0), canvas_px(y1 - y0));
  ov.error_map = ImageF(ov.reconstruction.width(), ov.reconstruction.height());
  // Max keeps thin structures visible at overview scale. A pixel's canvas cell depends on its
  // column and row alone: computed once per column and per row (-1: outside the canvas).
  // An image coarser than the canvas (the error map, 4 SR pixels a pixel) fills every cell it covers.
  auto paste = [&](const ImageF& img, ImageF& dst, double px, double py, double img_px_um) {
    // Per column and per row: the canvas cells [first, last] it lands in (first -1: none).
    const auto cells = [&](std::size_t n, double offset_um, std::size_t limit) {
      std::vector<std::pair<std::ptrdiff_t, std::ptrdiff_t>> c(n, {-1, -1});
      for (std::size_t i = 0; i < n; ++i) {
        const double centre = (offset_um + (i + 0.5) * img_px_um) / px_um;
        double lo = centre, hi = centre;
        if (img_px_um > px_um) lo = (offset_um + i * img_px_um) / px_um, hi = (offset_um + (i + 1) * img_px_um) / px_um - 1e-9;
        const auto a = static_cast<std::ptrdiff_t>(std::floor(std::max(0.0, lo)));
        const auto b = static_cast<std::ptrdiff_t>(std::floor(std::min(hi, static_cast<double>(limit) - 1e-9)));
        if (hi >= 0 && lo < static_cast<double>(limit) && a <= b) c[i] = {a, b};
      }
      return c;
    };
    const auto cx = cells(img.width(), px - x0, dst.width()), cy = cells(img.height(), py - y0, dst.height());
    for (std::size_t y = 0; y < img.height(); ++y) {
      if (cy[y].first < 0) continue;
      const float* s = img.row(y);
      for (std::ptrdiff_t r = cy[y].first; r <= cy[y].second; ++r) {
        float* d = dst.row(static_cast<std::size_t>(r));
        for (std::size_t x = 0; x < img.width(); ++x)
          for (std::ptrdiff_t k = cx[x].first; k >= 0 && k <= cx[x].second; ++k) d[k] = std::max(d[k], s[x]);
      }
    }
  };
  for (std::size_t i = 0; i < fovs.size(); ++i) {
    if (static_cast<int>(i % static_cast<std::size_t>(std::max(1, parts))) != part) continue;
    const FovEntry& f = fovs[i];
    auto it = records.find(f.id);
    if (it == records.end() || it->second.file.empty()) continue;
    try {
      const FovResult r = read_fov_result(out_dir + "/" + it->second.file, {"reconstruction", "error_map"});
      const auto [px, py] = pos_um[f.id];
      if (!r.reconstruction.empty())
        paste(r.reconstruction, ov.reconstruction, px, py, pixel_nm / 1000.0), ov.any_reconstruction = true;
      if (!r.error_map.empty()) paste(r.error_map, ov.error_map, px, py, 4 * pixel_nm / 1000.0), ov.any_error = true;
      // A failed FoV's tile (widefield-only: structure the network invented, or empty) is crossed
      // out at its tile's brightest value, as on the heat maps: it looks like data otherwise.
      if (it->second.status == "failed" && !it->second.not_acquired()) {
        const auto cross = [&](const ImageF& img, ImageF& dst) {
          if (img.empty()) return;
          // An empty tile (--failed-tile empty) crossed at 1, the A-net's output range: at 1e-6 it
          // looked like a cell without a FoV (probe65).
          const float tile_max = *std::max_element(img.begin(), img.end());
          const float top = tile_max > 0 ? tile_max : 1.0f;
          const double fx0 = (px - x0) / px_um, fy0 = (py - y0) / px_um, side = c.fov_um / px_um;
          const std::size_t n = static_cast<std::size_t>(std::ceil(side));
          for (std::size_t k = 0; k < n; ++k)
            for (int w = -1; w <= 1; ++w)  // 3 px wide: seen at any scale
              for (const double gx : {fx0 + static_cast<double>(k), fx0 + side - 1 - static_cast<double>(k)}) {
                const double gy = fy0 + static_cast<double>(k) + w;
                if (gx < 0 || gy < 0 || gx >= static_cast<double>(dst.width()) || gy >= static_cast<double>(dst.height()))
                  continue;
                float& v = dst(static_cast<std::size_t>(gx), static_cast<std::size_t>(gy));
                v = std::max(v, top);
              }
        };
        cross(r.reconstruction, ov.reconstruction);
        cross(r.error_map, ov.error_map);
      }
    } catch (const std::exception& e) {
      spdlog::warn("QC overview: skipping FoV {}: {}", f.id, e.what());
    }
  }
  return ov;
}

QcSummary write_qc_report(const std::string& out_dir, const CampaignInfo& c, const std::vector<FovEntry>& fovs,
                          const std::map<int, ManifestRecord>& records, const nlohmann::json* layout, double pixel_nm,
                          const QcOverview* overview) {
  namespace fs = std::filesystem;
  const std::string qc = out_dir + "/qc";
  fs::create_directories(qc);
  QcSummary s;
  s.fovs = fovs.size();
  nlohmann::json tiles = nlohmann::json::array();
  const std::size_t cells = static_cast<std::size_t>(c.rows) * c.cols;
  std::vector<double> err(cells, NAN), locs(cells, NAN);
  std::vector<bool> failed(cells, false);
  std::vector<int> cell_ids(cells, -1);
  std::map<int, std::size_t> cell_of;  // FoV id -> its heat-map cell
  std::vector<int> failed_ids, no_error_map;  // (done FoVs whose A-net had no widefield)
  std::vector<double> scores;
  for (const FovEntry& f : fovs) {
    nlohmann::json t = {{"id", f.id}, {"row", f.row}, {"col", f.col}, {"x_um", f.x_um}, {"y_um", f.y_um}};
    auto it = records.find(f.id);
    const std::size_t cell = static_cast<std::size_t>(f.row) * c.cols + f.col;
    if (cell < cells) cell_ids[cell] = f.id, cell_of[f.id] = cell;
    if (it == records.end()) {
      t["status"] = "missing";
      ++s.missing;
    } else {
      const ManifestRecord& r = it->second;
      const bool absent = r.not_acquired();
      t["status"] = absent ? "not-acquired" : r.status;
      if (!r.reason.empty()) t["reason"] = r.reason;
      for (const char* k : {"localizations", "widefield", "tile", "wf_shift_x_px", "wf_shift_y_px", "wf_pixel_nm",
                            "wf_confidence", "error_score", "rank", "timings", "warnings", "table_frames", "window_end"})
        if (r.extra.contains(k) && !r.extra[k].is_null()) t[k] = r.extra[k];  // null: NaN when it was recorded
      // Without a widefield (or with a model that never trained with one) there is no error map:
      // a recorded 0 would read as the best score.
      const bool has_error_map = r.extra.value("widefield", true) == true && r.extra.contains("error_score");
      if (!has_error_map) t["error_score"] = nullptr;
      if (r.status == "done") ++s.done;
      else if (absent) ++s.not_acquired;
      else ++s.failed, failed_ids.push_back(f.id);
      if (r.status == "done" && !has_error_map) no_error_map.push_back(f.id);
      if (cell < cells && absent) {
        // "no data" (grey): not a failure, nor a FoV of 0 localizations (its record's 0 drew it dark
        // blue, the colour scale's floor).
      } else if (cell < cells) {
        failed[cell] = r.status != "done";
        // A failed FoV's cell is crossed out on grey: its recorded 0 localizations (a table that
        // did not parse) drew it at the colour scale's floor and squeezed the others' range
        // (probe90: 0 .. 81,178 for FoVs of 4,956 to 81,178).
        if (r.status == "done" && has_error_map && r.extra.contains("error_score") && r.extra["error_score"].is_number()) {
          err[cell] = r.extra["error_score"].get<double>();
          // Only FoVs whose A-net had a widefield have an error map: the others' 0 would pull the
          // campaign's median and MAD down and flag ordinary FoVs.
          scores.push_back(err[cell]);
        }
        if (r.status == "done" && r.extra.contains("localizations") && r.extra["localizations"].is_number()) locs[cell] = std::log10(1.0 + r.extra["localizations"].get<double>());
      }
    }
    // Every FoV has the same keys, a missing one (no record yet) too: null where nothing was
    // measured (no registered widefield), an empty list of warnings, so that a script's
    // t["wf_confidence"] does not fail on some FoVs (probe99: keys left out).
    for (const char* k : {"wf_shift_x_px", "wf_shift_y_px", "wf_pixel_nm", "wf_confidence"})
      if (!t.contains(k)) t[k] = nullptr;
    if (!t.contains("warnings")) t["warnings"] = nlohmann::json::array();
    tiles.push_back(t);
  }
  // Tiles to distrust, each with its reasons: an error score far above the campaign's typical
  // value; a nearly empty table (the network then invents structure); a widefield that matched
  // nothing; a position from the stage alone (no overlap with a neighbour registered).
  s.error_score_median = median(scores);
  std::vector<double> dev, done_locs;
  for (double v : scores) dev.push_back(std::abs(v - s.error_score_median));
  const double mad = median(dev);
  // At least 10% above the median: in a small or very even campaign the MAD is tiny, and a score
  // a few percent above the rest (seen: 0.734 against 0.713 in a 4-FoV campaign) is no outlier.
  const double score_limit = std::max(s.error_score_median + 3 * 1.4826 * mad, 1.1 * s.error_score_median);
  for (const auto& t : tiles)
    if (t["status"] == "done" && t.contains("localizations")) done_locs.push_back(t["localizations"].get<double>());
  const double locs_median = median(done_locs);
  // Frames a table spans (its last frame - its first + 1): FoVs of one campaign are acquired alike.
  const auto frame_span = [](const nlohmann::json& t) {
    const auto& f = t["table_frames"];
    return f.is_array() && f.size() == 2 && f[0].is_number() && f[1].is_number()
               ? f[1].get<double>() - f[0].get<double>() + 1
               : std::numeric_limits<double>::quiet_NaN();
  };
  std::vector<double> spans;
  for (const auto& t : tiles)
    if (t["status"] == "done" && t.contains("table_frames") && std::isfinite(frame_span(t))) spans.push_back(frame_span(t));
  // The acquisition's length where campaign.ini says it (FoVs of one campaign may differ: two
  // sessions of other lengths), else the FoVs' median.
  const double span_expected = c.frames > 0 ? c.frames : median(spans);
  const std::string span_expected_text =
      c.frames > 0 ? fmt::format("the {} frames campaign.ini says", c.frames)
                   : fmt::format("the campaign's median span ({:.0f} frames)", span_expected);
  // The frame window its image used reached the table's end: cut short where it mattered (a
  // table longer than a --frames first:300 window is not short for that run, whatever its
  // length: probe85).
  const auto window_reaches_end = [](const nlohmann::json& t) {
    return !t.contains("window_end") || !t["window_end"].is_number() ||
           t["table_frames"][1].get<double>() + 1 <= t["window_end"].get<double>();
  };
  std::map<int, std::string> placed_by;
  std::map<int, int> component;        // tile id -> its connected group of registered links
  std::map<int, std::size_t> members;  // group -> tiles
  if (layout && layout->contains("tiles"))
    for (const auto& lt : (*layout)["tiles"]) {
      if (lt.contains("id") && lt.contains("placed_by")) placed_by[lt["id"].get<int>()] = lt["placed_by"].get<std::string>();
      if (lt.contains("id") && lt.contains("component") && lt["component"].is_number_integer()) {
        component[lt["id"].get<int>()] = lt["component"].get<int>();
        ++members[lt["component"].get<int>()];
      }
    }
  // The largest group is the mosaic's frame; a smaller group of two or more tiles is placed
  // against it by the stage alone (its tiles registered to each other only).
  int main_group = -1;
  for (const auto& [g, n] : members)
    if (main_group < 0 || n > members[main_group]) main_group = g;
  // Links the layout used but does not honour (the solver keeps a link whose residual is large
  // when all of a region's links disagree alike): both tiles may be off by about that much.
  std::map<int, std::vector<std::string>> link_flags;
  if (layout && layout->contains("edges"))
    for (const auto& e : (*layout)["edges"])
      if (e.value("used", false) && e.contains("residual_px") && e["residual_px"].is_number() &&
          e["residual_px"].get<double>() > kLargeLinkResidualPx) {
        const int a = e.value("a", -1), b = e.value("b", -1);
        const double r = e["residual_px"].get<double>();
        const auto flag = [&](int other) {
          return fmt::format("its link to FoV {} disagrees with the layout by {:.1f} px (> {} px): its position may be off "
                             "by about that much (see layout.json)", other, r, kLargeLinkResidualPx);
        };
        link_flags[a].push_back(flag(b));
        link_flags[b].push_back(flag(a));
      }
  // A tile held by one link whose NCC lies in the lower half between its signal's threshold and
  // the median of its matches: no loop of links checks it, so a false match there goes unnoticed
  // (probe104: a tile 1.1 um off on one link at NCC 0.57, the threshold 0.547, the median 0.911,
  // flagged nothing; true single links there scored 0.91-0.95).
  std::map<int, std::string> weak_link_flag;
  if (layout && layout->contains("edges") && layout->contains("calibration") && (*layout)["calibration"].is_array()) {
    std::map<std::string, std::pair<double, double>> by_signal;  // "channel/scale" -> {threshold, median}
    for (const auto& cal : (*layout)["calibration"])
      if (cal.contains("channel") && cal.contains("scale") && cal.contains("ncc_threshold") && cal.contains("median_ncc") &&
          cal["ncc_threshold"].is_number() && cal["median_ncc"].is_number())
        by_signal[cal["channel"].get<std::string>() + "/" + std::to_string(cal["scale"].get<int>())] = {
            cal["ncc_threshold"].get<double>(), cal["median_ncc"].get<double>()};
    std::map<int, std::vector<const nlohmann::json*>> used_links;
    for (const auto& e : (*layout)["edges"])
      if (e.value("used", false)) used_links[e.value("a", -1)].push_back(&e), used_links[e.value("b", -1)].push_back(&e);
    for (const auto& [id, links] : used_links) {
      if (links.size() != 1) continue;
      const nlohmann::json& e = *links[0];
      const auto cal = by_signal.find(e.value("signal", std::string()));
      if (cal == by_signal.end() || !e.contains("ncc") || !e["ncc"].is_number()) continue;
      const auto [threshold, median_ncc] = cal->second;
      const double ncc = e["ncc"].get<double>();
      if (median_ncc > threshold && ncc < threshold + 0.5 * (median_ncc - threshold))
        weak_link_flag[id] = fmt::format(
            "held in place by one link only, to FoV {}, at NCC {:.3f}: just over the threshold {:.3f}, where the campaign's "
            "links match at a median {:.3f}; no loop of links checks it, so a false match would go unnoticed: look at the "
            "seam (qc/links.png), and if it is off, stitch again with a larger --search-um",
            e.value("a", -1) == id ? e.value("b", -1) : e.value("a", -1), ncc, threshold, median_ncc);
    }
  }
  // One table under several FoVs (the same bytes: a copy slip): the mosaic shows that field at each
  // of their places (probe91: said in the log only).
  std::map<std::string, std::vector<int>> by_table;  // table checksum -> done FoVs
  for (const auto& [id, r] : records)
    if (r.status == "done" && r.extra.contains("inputs") && r.extra["inputs"].is_object() &&
        r.extra["inputs"].contains("table") && r.extra["inputs"]["table"].is_object() &&
        r.extra["inputs"]["table"].contains("checksum") && r.extra["inputs"]["table"]["checksum"].is_string())
      by_table[r.extra["inputs"]["table"]["checksum"].get<std::string>()].push_back(id);
  std::map<int, std::string> duplicate_of;  // FoV -> the others with its table
  for (const auto& [sum, ids] : by_table)
    if (ids.size() > 1)
      for (int id : ids) {
        std::vector<std::string> others;
        for (int other : ids)
          if (other != id) others.push_back(std::to_string(other));
        duplicate_of[id] = first_items(others, 5);
      }
  // FoVs reconstructed without a widefield are worth a flag only where others had one (a campaign
  // run without widefields, or with --no-widefield, would flag every FoV).
  const bool some_widefield = std::any_of(tiles.begin(), tiles.end(), [](const nlohmann::json& t) {
    return t.value("widefield", false) == true;
  });
  for (auto& t : tiles) {
    t["flags"] = nlohmann::json::array();  // present for every FoV: scripts read t["flags"]
    t["flag_kinds"] = nlohmann::json::array();
    if (t["status"] != "done") continue;
    nlohmann::json flags = nlohmann::json::array(), kinds = nlohmann::json::array();
    // Each flag with a short fixed kind beside its text, to count and select by cause (a
    // 1,024-FoV campaign had 384 flagged FoVs: grouping their texts needed a regex).
    const auto flag = [&](const char* kind, std::string text) {
      flags.push_back(std::move(text));
      kinds.push_back(kind);
    };
    // Its widefield was there but not used: a warning says why.
    const auto ignored_warning = [](const nlohmann::json& w) {
      return w.is_string() && w.get<std::string>().rfind("widefield ignored", 0) == 0;
    };
    const auto ignored = [&] {
      return t.contains("warnings") && std::any_of(t["warnings"].begin(), t["warnings"].end(), ignored_warning);
    };
    if (some_widefield && t.contains("widefield") && t["widefield"] == false && !ignored())
      flag("no-widefield-file", "no widefield file: reconstructed from its localizations alone (other FoVs had one)");
    if (const auto it = duplicate_of.find(t["id"].get<int>()); it != duplicate_of.end())
      flag("duplicate-table", fmt::format("its table is the same bytes as FoV {}'s: a table copied to the wrong FoV? The "
                                          "mosaic shows that field at each of their places",
                                          it->second));
    if (t.contains("error_score") && t["error_score"].is_number() && s.error_score_median > 0 && t["error_score"].get<double>() > score_limit)
      flag("high-error-score", fmt::format("error-map score {:.3f} above {:.3f}: the campaign's median ({:.3f}) + 3 sigma "
                                  "(1.4826 x MAD), and at least 10% over that median",
                                  t["error_score"].get<double>(), score_limit, s.error_score_median));
    if (t.contains("localizations") && t["localizations"].get<double>() < kFewLocalizationsFraction * locs_median)
      flag("few-localizations", fmt::format("{} localizations, under {:.0f}% of the campaign's median ({:.0f})",
                                  t["localizations"].get<double>(), 100 * kFewLocalizationsFraction, locs_median));
    if ((c.frames > 0 || spans.size() >= 3) && t.contains("table_frames") &&
        frame_span(t) < kShortTableFraction * span_expected && window_reaches_end(t))
      flag("short-table", fmt::format("its table spans frames {}..{} ({:.0f}), under half {}: an export or a copy cut "
                                      "short?",
                                      t["table_frames"][0].get<long long>(), t["table_frames"][1].get<long long>(),
                                      frame_span(t), span_expected_text));
    if (t.contains("wf_confidence") && t["wf_confidence"].is_number() && t["wf_confidence"].get<double>() < kLowWidefieldConfidence)
      flag("widefield-uncertain", fmt::format("widefield registration uncertain (confidence {:.3f} < {}): left at its nominal place",
                                  t["wf_confidence"].get<double>(), kLowWidefieldConfidence));
    if (auto it = placed_by.find(t["id"].get<int>()); it != placed_by.end() && it->second != "registration" && fovs.size() > 1)
      flag("stage-placed", "placed by its stage position only (no overlap with a neighbour registered: too little "
                           "structure there, or its position off by more than the search range)");
    else if (const auto c = component.find(t["id"].get<int>());
             c != component.end() && c->second != main_group && members[c->second] > 1)
      flag("detached-group", fmt::format("in a group of {} tiles registered to each other but to no tile of the main group: the "
                                  "group is placed by the stage alone, and may be off by the stage's error",
                                  members[c->second]));
    if (const auto it = records.find(t["id"].get<int>());
        it != records.end() && it->second.extra.contains("error_score") && it->second.extra["error_score"].is_null())
      flag("no-error-score", "no error score (NaN when it was made: an older version kept such results; delete its result file "
                      "and rerun)");
    if (auto it = link_flags.find(t["id"].get<int>()); it != link_flags.end())
      for (const auto& f : it->second) flag("link-disagrees", f);
    if (auto it = weak_link_flag.find(t["id"].get<int>()); it != weak_link_flag.end()) flag("weak-link", it->second);
    if (t.contains("warnings"))  // what the FoV stage assumed or dropped
      for (const auto& w : t["warnings"])
        // A single-image widefield where widefield-frames asks for pages is how the campaign was
        // taken (init-campaign says it once, the log counts it), no reason to distrust a FoV: a
        // flag on every FoV hid the ones that have one (probe72).
        if (w.is_string() && w.get<std::string>().find(kSingleImageNote) == std::string::npos)
          flag(ignored_warning(w) ? "widefield-ignored" : "warning", w);
    if (flags.empty()) continue;
    t["flags"] = flags;
    t["flag_kinds"] = kinds;
    for (const auto& k : kinds) ++s.flag_counts[k.get<std::string>()];
    s.flagged.push_back(t["id"].get<int>());
    // Flagged for its place alone: its reconstruction is not in doubt, only where it lies.
    if (std::all_of(kinds.begin(), kinds.end(), [](const nlohmann::json& k) {
          return k == "stage-placed" || k == "detached-group" || k == "link-disagrees" || k == "weak-link";
        }))
      s.placement_only.push_back(t["id"].get<int>());
  }
  const auto [err_lo, err_hi] = finite_range(err);
  const auto [locs_lo, locs_hi] = finite_range(locs);
  const auto range = [](double lo, double hi) {
    return std::isfinite(lo) ? nlohmann::json{{"min", lo}, {"max", hi}} : nlohmann::json(nullptr);
  };
  // No FoV with an error map (a campaign without widefields): no heat map of nothing.
  const bool error_heatmap = std::isfinite(err_lo);
  nlohmann::json report = {{"campaign", c.name},
                           {"rows", c.rows},
                           {"cols", c.cols},
                           {"pixel_nm", pixel_nm},
                           {"summary",
                            {{"fovs", s.fovs},
                             {"done", s.done},
                             {"failed", s.failed},
                             {"not_acquired", s.not_acquired},
                             {"missing", s.missing},
                             {"error_score_median", s.error_score_median},
                             {"localizations_median", locs_median},
                             {"flagged", s.flagged},
                             {"placement_only", s.placement_only},
                             {"flag_counts", s.flag_counts}}},
                           // The heat maps' colour ramps run from min (dark blue) to max (yellow).
                           {"heatmaps",
                            {{"heatmap_error.png", {{"value", "error_score"}, {"range", range(err_lo, err_hi)}}},
                             {"heatmap_localizations.png",
                              {{"value", "log10(1 + localizations)"}, {"range", range(locs_lo, locs_hi)}}}}},
                           {"fovs", tiles}};
  if (!error_heatmap) report["heatmaps"].erase("heatmap_error.png");
  if (scores.empty()) report["summary"]["error_score_median"] = nullptr;  // no error map anywhere: no typical score
  if (layout) {
    report["edges"] = layout->value("edges", nlohmann::json::array());
    if (layout->contains("summary")) report["layout_summary"] = (*layout)["summary"];
  }

  const int cell_px = std::clamp(640 / std::max(c.rows, c.cols), 8, 64);
  std::error_code ec;
  const auto write_picture = [&](const std::string& path, const RgbCanvas& m) { write_png_rgb(path, m.width, m.height, m.rgb); };
  HeatMapGrid grid{c.rows, c.cols, err, failed, std::vector<bool>(cells, false), std::vector<bool>(cells, false), cell_ids};
  for (int id : s.flagged)
    if (const auto it = cell_of.find(id); it != cell_of.end()) grid.flagged[it->second] = true;
  for (int id : s.placement_only)
    if (const auto it = cell_of.find(id); it != cell_of.end()) grid.placement_only[it->second] = true;
  if (error_heatmap) {
    HeatMapLegend legend{"error-map score per fov", [](double v) { return fmt::format("{:.3g}", v); }, {},
                         "no error map (no widefield used, or failed)"};
    legend.marks.push_back({"median", s.error_score_median});
    if (s.error_score_median > 0) legend.marks.push_back({"flagged above", score_limit});
    write_picture(qc + "/heatmap_error.png", heat_map(grid, cell_px, legend));
  } else {
    fs::remove(qc + "/heatmap_error.png", ec);  // an earlier run's, of other FoV results
  }
  grid.values = locs;
  HeatMapLegend locs_legend{"localizations per fov (log scale)",
                            [](double v) { return fmt::format("{:.0f}", std::pow(10.0, v) - 1); }, {},
                            "no data (failed, or not acquired)"};
  if (!done_locs.empty()) {
    locs_legend.marks.push_back({"median", std::log10(1.0 + locs_median)});
    locs_legend.marks.push_back({"flagged below", std::log10(1.0 + kFewLocalizationsFraction * locs_median)});
  }
  write_picture(qc + "/heatmap_localizations.png", heat_map(grid, cell_px, locs_legend));

  // The stitching's verdict on each overlap, once there is a layout (an earlier run's goes with
  // the results it was made of).
  if (const RgbCanvas links = layout ? links_picture(*layout, kLargeLinkResidualPx, failed_ids) : RgbCanvas{}; links.width > 0)
    write_picture(qc + "/links.png", links);
  else
    fs::remove(qc + "/links.png", ec);

  const QcOverview own = overview ? QcOverview{} : build_qc_overview(out_dir, c, fovs, records, layout, pixel_nm);
  const QcOverview& ov = overview ? *overview : own;
  // Each picture says what it shows (probe83: no title, legend nor scale on either).
  OverviewMarks marks;
  marks.failed = failed_ids;
  for (int id : s.flagged)
    (std::find(s.placement_only.begin(), s.placement_only.end(), id) == s.placement_only.end() ? marks.flagged
                                                                                               : marks.placement_only)
        .push_back(id);
  const auto write_overview = [&](const std::string& path, const ImageF& img, std::vector<std::string> caption,
                                  const std::vector<int>& no_data = {}) {
    caption.push_back("outlines: cyan flagged, magenta flagged for its place alone, blue failed (crossed out). numbers: "
                      "fov ids (qc.json says why)");
    caption.push_back(std::string("each fov at its place ") + (layout ? "in the mosaic" : "by the stage (not stitched yet)") +
                      ", brightest pixel kept, one contrast stretch for the whole picture");
    OverviewMarks m = marks;
    m.no_data = no_data;
    const RgbCanvas canvas = captioned_overview(img.view(), ov, c.fov_um, m, caption);
    write_picture(path, canvas);
  };
  if (ov.any_reconstruction)
    write_overview(qc + "/overview_reconstruction.png", ov.reconstruction, {"reconstruction (a-net output) of every fov"});
  if (ov.any_error) {
    // Done FoVs without an error map (no widefield went into their A-net): grey.
    write_overview(qc + "/overview_error.png", ov.error_map,
                   // The paper's E weights the disagreement by brightness: bright structure reads bright
                   // even where it agrees fairly well (probe103: the legend's "bright: worse" read as bad filaments).
                   {"error map (1 - ms-ssim) x (q + widefield): their disagreement weighted by brightness,",
                    "so structure reads brighter than background; compare fovs (heatmap_error.png), not pixels",
                    "grey: a fov without an error map (no widefield used). black: no fov there, or no disagreement"},
                   no_error_map);
  }
  // Last: its presence (newer than the mosaic) says the report is complete, to `status` too; a
  // run stopped while drawing the images leaves none.
  write_file_atomic(qc + "/qc.json", json_text(report, 1) + "\n");
  return s;
}

}  // namespace annamosaic
