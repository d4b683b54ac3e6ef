#pragma once
// Whether each tile's position fits its grid cell: a FoV given another's position (a copied line
// of positions.csv) or a typo of hundreds of um was placed as given, over a neighbour or far off,
// with exit 0 (a user's probe). Pure: positions in, misfits out.
#include <optional>
#include <string>
#include <vector>

#include "tiles/tile_source.hpp"

namespace annamosaic {

struct GridMisfit {
  std::size_t index = 0;                          // into the tiles given
  double expected_x_um = 0, expected_y_um = 0;    // where the others' steps put its cell
  double off_um = 0, off_steps = 0;               // how far from there (in um, in the shorter step)
  std::optional<std::size_t> same_place_as;       // a tile at (nearly) the same position
};

// Steps along a row and down a column, and the grid's origin, from the medians over the tiles;
// a tile more than half the shorter step from where they put its cell is a misfit. Judged with
// at least 4 tiles and 3 steps along each axis that has any (fewer cannot outvote a wrong one).
// threshold_steps: the distance, in the shorter step, beyond which a tile is a misfit.
std::vector<GridMisfit> grid_misfits(const std::vector<TileInfo>& tiles, double threshold_steps = 0.5);

// Every tile's TileInfo, in the source's order (for the functions below).
std::vector<TileInfo> tile_infos(const TileSource& source);

// The shorter of the median steps (um) between neighbouring cells along a row and down a column;
// 0 without neighbours.
double shorter_grid_step_um(const std::vector<TileInfo>& tiles);

// "FoV 6 (row 1, col 1) is at x 18, y 9 um, ..." for up to 3 misfits (placed where given).
std::string grid_misfit_summary(const std::vector<TileInfo>& tiles, const std::vector<GridMisfit>& misfits);
// The same with the likely causes (a swap, a copied line, a typo): the text of a refusal.
std::string grid_misfit_text(const std::vector<TileInfo>& tiles, const std::vector<GridMisfit>& misfits);

// The verdict on misfits: the refusal ("" when there are none, or when `place` lets them be placed
// where the positions say: then *placed, if given, gets the warning; else it is cleared).
// `how_to_place` says how a user lets them ("set off-grid = place in X/campaign.ini"). Refused
// either way: two tiles within half a step of each other, a tile more than two (longer) steps from
// every other, grid neighbours less than a quarter step on along their row or column (or
// reversed), two at each other's places.
std::string misfit_refusal(const std::vector<TileInfo>& tiles, const std::vector<GridMisfit>& misfits, bool place,
                           const std::string& how_to_place, std::string* placed);

// What campaign.ini's off-grid (and stitch --off-grid) says: "place" true, "refuse" false; for any
// other value, the error text ("off-grid must be refuse or place (...), not 'x'").
std::optional<bool> off_grid_place(const std::string& value, std::string* error);

// Cells that hold no tile ("row 0 col 2, row 3 col 1"), up to `most`; `count` gets how many there
// are. Of rows x cols from 0 (a campaign's grid), or with rows or cols 0 of the tiles' bounding grid.
std::string empty_cells_text(const std::vector<TileInfo>& tiles, int rows, int cols, std::size_t most, std::size_t* count);

}  // namespace annamosaic
