#include "tiles/grid_fit.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "core/numeric.hpp"

namespace annamosaic {

namespace {
// Steps between neighbouring cells: along a row (x, y) and down a column (x, y).
struct GridSteps {
  std::vector<double> row_x, row_y, col_x, col_y;
};
GridSteps neighbour_steps(const std::vector<TileInfo>& tiles) {
  std::map<std::pair<int, int>, std::size_t> at;
  for (std::size_t i = 0; i < tiles.size(); ++i) at[{tiles[i].row, tiles[i].col}] = i;
  GridSteps s;
  for (const auto& [cell, i] : at) {
    if (const auto r = at.find({cell.first, cell.second + 1}); r != at.end())
      s.row_x.push_back(tiles[r->second].x_um - tiles[i].x_um), s.row_y.push_back(tiles[r->second].y_um - tiles[i].y_um);
    if (const auto d = at.find({cell.first + 1, cell.second}); d != at.end())
      s.col_x.push_back(tiles[d->second].x_um - tiles[i].x_um), s.col_y.push_back(tiles[d->second].y_um - tiles[i].y_um);
  }
  return s;
}
}  // namespace

std::vector<TileInfo> tile_infos(const TileSource& source) {
  std::vector<TileInfo> out;
  for (std::size_t i = 0; i < source.size(); ++i) out.push_back(source.info(i));
  return out;
}

double shorter_grid_step_um(const std::vector<TileInfo>& tiles) {
  const GridSteps s = neighbour_steps(tiles);
  double step = 0;
  for (const double v : {s.row_x.empty() ? 0.0 : std::hypot(median(s.row_x), median(s.row_y)),
                         s.col_x.empty() ? 0.0 : std::hypot(median(s.col_x), median(s.col_y))})
    if (v > 0) step = step > 0 ? std::min(step, v) : v;
  return step;
}

std::vector<GridMisfit> grid_misfits(const std::vector<TileInfo>& tiles, double threshold_steps) {
  std::vector<GridMisfit> out;
  if (tiles.size() < 4) return out;
  // Steps between neighbouring cells only (a step over a hole would count its neighbours' errors
  // twice: a typo of 482 um in a 1 x 4 row then made the median step 88 um).
  const GridSteps steps = neighbour_steps(tiles);
  const std::vector<double>&row_x = steps.row_x, &row_y = steps.row_y, &col_x = steps.col_x, &col_y = steps.col_y;
  // Each axis's steps by at least 3 (a 2 x 2 grid's two per axis cannot outvote a wrong one).
  if ((row_x.empty() && col_x.empty()) || (!row_x.empty() && row_x.size() < 3) || (!col_x.empty() && col_x.size() < 3))
    return out;
  const double rx = median(row_x), ry = median(row_y), cx = median(col_x), cy = median(col_y);
  const double step = shorter_grid_step_um(tiles);
  if (!(step > 0)) return out;
  std::vector<double> ox, oy;
  for (const TileInfo& t : tiles) ox.push_back(t.x_um - t.col * rx - t.row * cx), oy.push_back(t.y_um - t.col * ry - t.row * cy);
  const double x0 = median(ox), y0 = median(oy);
  for (std::size_t i = 0; i < tiles.size(); ++i) {
    const TileInfo& t = tiles[i];
    GridMisfit m;
    m.index = i;
    m.expected_x_um = x0 + t.col * rx + t.row * cx, m.expected_y_um = y0 + t.col * ry + t.row * cy;
    m.off_um = std::hypot(t.x_um - m.expected_x_um, t.y_um - m.expected_y_um), m.off_steps = m.off_um / step;
    if (!(m.off_steps > threshold_steps)) continue;
    for (std::size_t j = 0; j < tiles.size(); ++j)
      if (j != i && std::hypot(tiles[j].x_um - t.x_um, tiles[j].y_um - t.y_um) < 0.05 * step) {
        m.same_place_as = j;
        break;
      }
    out.push_back(m);
  }
  return out;
}

std::string grid_misfit_summary(const std::vector<TileInfo>& tiles, const std::vector<GridMisfit>& misfits) {
  std::string out;
  for (std::size_t k = 0; k < misfits.size() && k < 3; ++k) {
    const GridMisfit& m = misfits[k];
    const TileInfo& t = tiles[m.index];
    const std::string steps = m.off_steps < 10 ? fmt::format("{:.2g}", m.off_steps) : fmt::format("{:.0f}", m.off_steps);
    out += fmt::format("{}FoV {} (row {}, col {}) is at x {:.4g}, y {:.4g} um, {:.3g} um ({} step{}) from x {:.4g}, y {:.4g} "
                       "um where the other FoVs' steps put its row and col{}",
                       k ? "; " : "", t.id, t.row, t.col, t.x_um, t.y_um, m.off_um, steps, steps == "1" ? "" : "s", m.expected_x_um,
                       m.expected_y_um,
                       m.same_place_as ? fmt::format(", the position of FoV {}", tiles[*m.same_place_as].id) : std::string());
  }
  if (misfits.size() > 3) out += fmt::format("; and {} more", misfits.size() - 3);
  return out;
}

namespace {
// Two misfits each where the other belongs: their rows and cols (or positions) exchanged.
std::optional<std::pair<std::size_t, std::size_t>> swapped_misfits(const std::vector<TileInfo>& tiles,
                                                                   const std::vector<GridMisfit>& misfits) {
  for (std::size_t a = 0; a < misfits.size(); ++a)
    for (std::size_t b = a + 1; b < misfits.size(); ++b) {
      const GridMisfit &ma = misfits[a], &mb = misfits[b];
      const TileInfo &ta = tiles[ma.index], &tb = tiles[mb.index];
      if (std::hypot(ta.x_um - mb.expected_x_um, ta.y_um - mb.expected_y_um) < 0.25 * ma.off_um &&
          std::hypot(tb.x_um - ma.expected_x_um, tb.y_um - ma.expected_y_um) < 0.25 * mb.off_um)
        return std::pair{ma.index, mb.index};
    }
  return std::nullopt;
}

std::string swap_text(const std::vector<TileInfo>& tiles, std::pair<std::size_t, std::size_t> swap) {
  return fmt::format("FoVs {} and {} lie at each other's places: their rows and cols (or their x_um, y_um) swapped? Correct "
                     "the positions",
                     tiles[swap.first].id, tiles[swap.second].id);
}
}  // namespace

std::string grid_misfit_text(const std::vector<TileInfo>& tiles, const std::vector<GridMisfit>& misfits) {
  const std::string out = grid_misfit_summary(tiles, misfits);
  if (const auto swap = swapped_misfits(tiles, misfits)) return out + ". " + swap_text(tiles, *swap);
  return out + ". A line copied from another FoV, a typo, or the wrong row or col? (A stage misses its positions by a "
               "few um, not half a step.) Correct the positions: placed as given, the tile would cover a neighbour's "
               "place or lie apart, and the registration would not look where it is";
}

namespace {
// The tiles nearly as far off as misfits (0.4 steps): with the misfits, three or more, or half the
// tiles, are a layout the median steps do not describe (a brick, blocks apart), not slips of a few
// lines. (A half-step brick put 3 FoVs 0.5 steps off, and rounding named one of them alone.)
std::string layout_text(const std::vector<TileInfo>& tiles, const std::vector<GridMisfit>& misfits) {
  const std::vector<GridMisfit> near = grid_misfits(tiles, 0.4);
  if (2 * misfits.size() < tiles.size() && (near.size() < 3 || near.size() <= misfits.size())) return "";
  std::string ids;
  for (std::size_t k = 0; k < near.size() && k < 6; ++k) ids += (k ? ", " : "") + std::to_string(tiles[near[k].index].id);
  return fmt::format("the positions follow no single grid: {} of {} tiles lie more than half a step{} from where the median "
                     "steps put their row and col (FoVs {}{}): a brick layout, or blocks acquired apart?",
                     misfits.size(), tiles.size(),
                     near.size() > misfits.size() ? fmt::format(" ({} more nearly so)", near.size() - misfits.size()) : "",
                     ids, near.size() > 6 ? ", ..." : "");
}

// Under off-grid = place, what no layout explains: a tile far from every other (a typo of hundreds
// of um went through, the mosaic 13x wide), two within half a step, or a pair of grid neighbours
// whose positions run against the grid's direction (swapped FoVs in a brick layout). "" if none.
std::string unplaceable(const std::vector<TileInfo>& tiles, const std::vector<GridMisfit>& misfits) {
  const GridSteps s = neighbour_steps(tiles);
  const double row_x = s.row_x.empty() ? 0 : median(s.row_x), row_y = s.row_y.empty() ? 0 : median(s.row_y);
  const double col_x = s.col_x.empty() ? 0 : median(s.col_x), col_y = s.col_y.empty() ? 0 : median(s.col_y);
  const double step = shorter_grid_step_um(tiles), longer = std::max(std::hypot(row_x, row_y), std::hypot(col_x, col_y));
  if (!(step > 0)) return "";
  for (const GridMisfit& m : misfits) {
    const TileInfo& t = tiles[m.index];
    double nearest = std::numeric_limits<double>::infinity();
    std::size_t at = 0;
    for (std::size_t j = 0; j < tiles.size(); ++j)
      if (const double d = std::hypot(tiles[j].x_um - t.x_um, tiles[j].y_um - t.y_um); j != m.index && d < nearest) nearest = d, at = j;
    const TileInfo& o = tiles[at];
    if (nearest < 0.5 * step)
      return fmt::format("FoV {} (row {}, col {}) at x {:.4g}, y {:.4g} um lies {:.3g} um ({:.2g} steps) from FoV {} (row {}, "
                         "col {}): two FoVs at (nearly) one place, refused even with off-grid = place. A line copied from "
                         "another FoV, or a typo? Correct the positions",
                         t.id, t.row, t.col, t.x_um, t.y_um, nearest, nearest / step, o.id, o.row, o.col);
    if (nearest > 2 * longer)
      return fmt::format("FoV {} (row {}, col {}) at x {:.4g}, y {:.4g} um lies {:.3g} um ({:.0f} of the longer steps) from the "
                         "nearest other FoV ({}): nothing could overlap it, refused even with off-grid = place. A typo? "
                         "Correct the positions",
                         t.id, t.row, t.col, t.x_um, t.y_um, nearest, nearest / longer, o.id);
  }
  // Along a row each next col lies further on in the grid's row steps (a quarter step at least),
  // down a column each next row in its column steps: true of bricks, blocks apart and a turned
  // stage. Counted in the basis of both steps (a projection on a brick's leaning median column
  // step put a 2:1 brick's other rows 0 steps on), on one alone where the other is missing.
  const double row_len = std::hypot(row_x, row_y), col_len = std::hypot(col_x, col_y);
  const double cross_rc = row_x * col_y - row_y * col_x;
  const bool basis = row_len > 0.25 * step && col_len > 0.25 * step && std::abs(cross_rc) > 0.1 * row_len * col_len;
  std::map<std::pair<int, int>, std::size_t> cell;
  for (std::size_t i = 0; i < tiles.size(); ++i) cell[{tiles[i].row, tiles[i].col}] = i;
  for (const auto& [rc, i] : cell)
    for (const bool along : {true, false}) {
      const auto next = cell.find(along ? std::pair{rc.first, rc.second + 1} : std::pair{rc.first + 1, rc.second});
      const double ux = along ? row_x : col_x, uy = along ? row_y : col_y, len = std::hypot(ux, uy);
      if (next == cell.end() || !(len > 0.25 * step)) continue;  // no such steps (or a column of one x pasted)
      const TileInfo &a = tiles[i], &b = tiles[next->second];
      const double dx = b.x_um - a.x_um, dy = b.y_um - a.y_um;
      const double on = !basis ? (dx * ux + dy * uy) / (len * len)
                        : along ? (dx * col_y - dy * col_x) / cross_rc
                                : (row_x * dy - row_y * dx) / cross_rc;
      if (on < 0.25)
        return fmt::format("FoV {} (row {}, col {}) at x {:.4g}, y {:.4g} um lies {:.2g} steps {} FoV {} (row {}, col {}) at "
                           "x {:.4g}, y {:.4g} um, not a step on: their places swapped, a typo, or the wrong row or col? "
                           "Refused even with off-grid = place; correct the positions",
                           b.id, b.row, b.col, b.x_um, b.y_um, on, along ? "along the row from" : "down the column from", a.id,
                           a.row, a.col, a.x_um, a.y_um);
    }
  return "";
}
}  // namespace

std::optional<bool> off_grid_place(const std::string& value, std::string* error) {
  if (value == "place" || value == "refuse") return value == "place";
  *error = "off-grid must be refuse or place (what to do with a FoV more than half a step from its row and col's place), "
           "not '" + value + "'";
  return std::nullopt;
}

std::string misfit_refusal(const std::vector<TileInfo>& tiles, const std::vector<GridMisfit>& misfits, bool place,
                           const std::string& how_to_place, std::string* placed) {
  if (placed) placed->clear();
  if (misfits.empty()) return "";
  const std::string layout = layout_text(tiles, misfits);
  if (const auto swap = swapped_misfits(tiles, misfits); swap && !place)  // a slip, not a layout
    return grid_misfit_summary(tiles, misfits) + ". " + swap_text(tiles, *swap);
  if (!place) {
    // A layout is said as one, with the way to allow it; a few tiles by name, with the likely slips.
    if (!layout.empty())
      return layout + " If the positions are right, " + how_to_place + "; else correct them";
    return grid_misfit_text(tiles, misfits) + ". If the positions are right (a brick layout, blocks acquired apart), " +
           how_to_place;
  }
  if (const auto swap = swapped_misfits(tiles, misfits))
    return swap_text(tiles, *swap) + " (refused even with off-grid = place)";
  if (std::string no = unplaceable(tiles, misfits); !no.empty()) return no;
  if (placed)
    *placed = !layout.empty() ? layout + " Placed where the positions say (off-grid = place)"
                              : fmt::format("{} tile(s) lie more than half a step from their row and col's place; placed "
                                            "where the positions say (off-grid = place): {}",
                                            misfits.size(), grid_misfit_summary(tiles, misfits));
  return "";
}

std::string empty_cells_text(const std::vector<TileInfo>& tiles, int rows, int cols, std::size_t most, std::size_t* count) {
  *count = 0;
  if (tiles.empty()) return "";
  int r0 = INT_MAX, c0 = INT_MAX, r1 = INT_MIN, c1 = INT_MIN;
  std::set<std::pair<int, int>> cells;
  for (const TileInfo& t : tiles)
    r0 = std::min(r0, t.row), c0 = std::min(c0, t.col), r1 = std::max(r1, t.row), c1 = std::max(c1, t.col),
    cells.insert({t.row, t.col});
  if (rows > 0 && cols > 0) r0 = 0, c0 = 0, r1 = rows - 1, c1 = cols - 1;
  std::string out;
  for (int r = r0; r <= r1; ++r)
    for (int c = c0; c <= c1; ++c)
      if (!cells.count({r, c})) {
        if (*count < most) out += fmt::format("{}row {} col {}", *count ? ", " : "", r, c);
        ++*count;
      }
  if (*count > most) out += ", ...";
  return out;
}

}  // namespace annamosaic
