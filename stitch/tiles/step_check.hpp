#pragma once
// A check of the positions' steps against the images: where a few neighbour pairs really lie,
// found by phase correlation of the whole tiles at reduced scale, over every step short of a tile
// (along the way the positions run; across, up to a quarter tile), not near the positions. Pairwise
// registration looks for each overlap where the positions put it, within --search-um; a wrong
// overlap-um or fov-um (from which init-campaign writes the positions) or a wrong positions scale
// puts every overlap elsewhere, and registration then matches little, or falsely, while the run
// still "finishes" (probe72: overlap-um 1.8 for 0.8 misplaced tiles by up to 2 um, exit 0).
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

#include "tiles/pairwise.hpp"
#include "tiles/tile_source.hpp"

namespace annamosaic {

struct StepAxis {
  std::size_t tried = 0, matched = 0;
  // Medians over the matched pairs, um: the positions' step and the images'; NaN with none matched.
  double positions_um = std::numeric_limits<double>::quiet_NaN();
  double images_um = std::numeric_limits<double>::quiet_NaN();
  double spread_um = 0;  // median absolute deviation of the images' steps
  double tile_um = 0;    // the tiles' size along the axis (the first pair's)
};

struct StepCheck {
  StepAxis rows, cols;  // rows: right neighbours (the step along x); cols: lower ones (along y)
};

// Up to `pairs_per_axis` of `pairs` per direction (spread over the list; pairs with a tile left
// out of registration skipped; the positions' step and the images' compared as lengths, in the
// sense the positions run), in `channel`, reduced so that a tile's long side is at most
// `max_side_px`. A pair counts as matched at NCC >= min_ncc over an overlap of at least 2% of the
// tile. Tile read errors propagate (the stitch reads the same tiles).
StepCheck check_steps(const TileSource& source, const std::vector<PairResult>& pairs, std::size_t channel,
                      std::size_t pairs_per_axis = 6, std::size_t max_side_px = 256, double min_ncc = 0.3);

// "" or the warning: along an axis with at least 2 pairs matched (and half of those tried), the
// images' median step differs from the positions' by more than max(search_um, 10% of the step),
// beyond the images' own spread; with the overlap each implies. Given the pixel size (nm), both
// axes off by one factor also name it: a wrong pixel size scales the images' steps alike.
std::string step_check_warning(const StepCheck& check, double search_um, double pixel_nm = 0);

// "steps checked against the images: 5 of 6 pairs along the rows matched (images 9.0 um, positions
// 9.0 um), ...": what the check found, for the log (debug: it warns when it disagrees).
std::string step_check_text(const StepCheck& check);

}  // namespace annamosaic
