#pragma once
// Registration + global layout of a tile source (what `annamosaic stitch` runs before fusion),
// and layout.json: positions, every edge and summary statistics.
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "tiles/layout.hpp"
#include "tiles/pairwise.hpp"
#include "tiles/tile_source.hpp"

namespace annamosaic {

struct StitchOptions {
  PairRegOptions registration;
  // prior_sigma_px: LayoutOptions' 30 px as given (stitch and run keep it); set <= 0, it is derived as
  // search range / 3 (the search covering 3 sigma).
  LayoutOptions layout;
};

struct StitchLayout {
  std::vector<TilePair> pairs;    // grid neighbours
  PairRegistration registration;  // per pair, same order
  LayoutInput input;              // links = the accepted pairs (link k -> pair link_pair[k])
  std::vector<std::size_t> link_pair;
  LayoutSolution solution;
  LayoutOptions layout_options;   // as used (prior sigma resolved)
  double register_seconds = 0, solve_seconds = 0;
};

// Registers every pair of grid neighbours and solves the layout. `progress` is called per pair.
// With `share`, the registration is spread over processes (see WorkShare) and every process gets
// the same, complete layout.
StitchLayout compute_layout(const TileSource& source, const StitchOptions& opt, const std::function<void()>& progress = {},
                            const WorkShare* share = nullptr);

// "" or a warning that the links the layout used reach near the edge of the search range (more
// than 70% of search_um away from the stage's offset, per axis): the stage may be off by more than
// was searched, and pairs whose true offset lies beyond it matched something else.
// at_limit: the search cannot be widened (run caps it at half the FoV step): the advice is then
// measured stage positions, not a larger --search-um. A few far links among many (at most 2, or
// 2% of 10 or more) are said to be more likely false matches, which a wider search cannot cure.
// `source` (optional) names the farthest link's tiles by id (else by index).
std::string search_range_warning(const StitchLayout& layout, double search_um, double pixel_nm, bool at_limit = false,
                                 const TileSource* source = nullptr);
// "" or a warning naming the links reject_implausible_pairs rejected (count, the first pair's tile
// ids and offset, the threshold and spread), and what to do if the stage really was that far off.
std::string implausible_links_warning(const StitchLayout& layout, const TileSource& source);
// "" or, for a signal whose NCC threshold fewer than 10 random non-adjacent pairs calibrated (a
// small grid, or mostly empty tiles), a warning that false matches are then told from true ones
// by the NCC floor (min_ncc), the margin and the overlap size alone (stitch and run say it alike).
std::string calibration_warning(const SignalCalibration& c, double min_ncc);
// "signal NAME/SCALE: NCC threshold T (how it was calibrated)", as stitch and run log it.
std::string calibration_text(const SignalCalibration& c, const TileSource& source, double accept_quantile);

// layout.json text (pretty-printed): see the README section of `annamosaic stitch`.
std::string layout_json(const TileSource& source, const StitchLayout& layout, const StitchOptions& opt);

// Tile positions (layout px, matched to the source's tiles by id) from a layout.json written by
// layout_json(); InputError naming the file if it is malformed or lacks a tile of the source.
std::pair<std::vector<double>, std::vector<double>> read_layout_positions(const std::string& path, const TileSource& source);

}  // namespace annamosaic
