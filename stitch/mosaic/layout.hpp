#pragma once
// Global placement of all tiles from the pairwise edges: weighted least squares over the
// accepted edges plus weak stage-prior terms (every tile is softly pulled to its nominal stage
// position, so empty or featureless tiles, and whole disconnected groups, stay where the stage
// put them), with iterative removal of the worst edge while its residual exceeds a threshold
// (Fiji/BigStitcher's rule: > max_residual_px and > residual_ratio x the mean). x and y are
// solved independently (translations only) by conjugate gradients on the sparse normal equations.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mosaic/pairwise.hpp"
#include "mosaic/tile_source.hpp"

namespace annamosaic {

struct LayoutOptions {
  double pixel_nm = 20.0;
  double prior_weight = 1e-3;     // stage prior, relative to an edge of NCC 1
  double max_residual_px = 3.0;
  double residual_ratio = 2.5;
};

struct Layout {
  std::vector<double> x_px, y_px;   // tile top-left corners, mosaic pixels (the origin is arbitrary)
  std::vector<Edge> edges;          // with residuals and dropped flags
  std::size_t accepted = 0, dropped = 0;
  double rms_residual_px = 0, max_residual_px = 0;
};

Layout solve_layout(const std::vector<TileMeta>& tiles, std::vector<Edge> edges, const LayoutOptions& opt);

// layout.json: tiles (id, row, col, x_px, y_px, x_um, y_um, nominal), every edge, summary.
nlohmann::json layout_to_json(const std::vector<TileMeta>& tiles, const Layout& layout, double pixel_nm,
                              double ncc_threshold);

}  // namespace annamosaic
