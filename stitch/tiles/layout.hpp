#pragma once
// Global layout: tile positions from pairwise measurements, by weighted least squares.
//
// Unknowns: the position (x, y) of every tile in mosaic pixels; x and y are independent problems
// (each factorised once per solve). Terms:
//  - every link (an accepted pairwise registration): w (p_b - p_a - d)^2, w = weight / link_sigma^2;
//  - a weak stage-prior edge for every grid-neighbour pair: the same with the stage's nominal
//    offset and w = 1 / prior_sigma^2, so tiles without links (empty, featureless) stay where the
//    stage put them relative to their neighbours, and components that no link joins are placed
//    relative to each other by the stage model;
//  - a very weak pull of every tile to its nominal position (1e-3 of a prior edge) that fixes the
//    global offset (the solution's mean offset from the stage is then the links' consensus).
// Then, while the worst used link's residual |p_b - p_a - d| exceeds max_residual_px, a candidate
// is chosen: of the used links with both tiles within two links of the worst one's, the one whose
// removal lowers the weighted sum of squared residuals most (a confident wrong link pushes its
// error onto fainter correct neighbours, whose residuals are then the larger). It is dropped and
// the system solved again if the worst residual exceeds residual_ratio x the mean residual
// (Fiji/BigStitcher's rule), or if the candidate misses the offset the other links predict for it
// (residual over redundancy) by more than residual_ratio x the mean residual over the mean
// redundancy (a wrong link closing many loops spreads its error so evenly that no residual stands
// out). The normal matrix is sparse; it is solved by a banded
// Cholesky factorisation after reverse Cuthill-McKee ordering (bandwidth ~ the grid's shorter
// side), so a 33 x 33 grid solves in about a millisecond. Pure and deterministic.
#include <cstddef>
#include <utility>
#include <vector>

namespace annamosaic {

struct LayoutOptions {
  double link_sigma_px = 0.5;    // standard deviation of a link with weight 1
  double prior_sigma_px = 30.0;  // standard deviation of a neighbour offset predicted by the stage
  double max_residual_px = 2.0;
  double residual_ratio = 2.5;
  std::size_t max_drops = 1000000;  // safety cap on dropped links
};

struct LayoutLink {
  std::size_t a = 0, b = 0;
  double dx_px = 0, dy_px = 0;  // measured position of b minus position of a
  double weight = 1.0;          // relative (e.g. the registration's NCC), > 0
  // Per-axis factors (0 or 1 in practice): 0 = the link does not constrain that axis (a match
  // that is ambiguous along it). At least one must be > 0.
  double weight_x = 1.0, weight_y = 1.0;
};

struct LayoutInput {
  std::vector<double> nominal_x_px, nominal_y_px;                 // per tile
  std::vector<std::pair<std::size_t, std::size_t>> prior_pairs;   // grid neighbours (stage-prior edges)
  std::vector<LayoutLink> links;
};

struct LayoutSolution {
  std::vector<double> x_px, y_px;
  std::vector<double> link_residual_px;  // per input link, after the final solve (dropped ones too), on its measured axes
  std::vector<char> link_used;           // 0: dropped as an outlier
  std::vector<int> component;            // per tile: connected component over used two-axis links (0-based)
  int components = 0;                    // including single tiles
  int isolated_tiles = 0;                // tiles without any used link (placed by the stage model)
  std::size_t dropped = 0, solves = 0;
  double rms_residual_px = 0, max_residual_px = 0;  // over used links
};

// Throws std::invalid_argument for inconsistent input (sizes, indices, non-positive weights).
LayoutSolution solve_layout(const LayoutInput& input, const LayoutOptions& opt = {});

}  // namespace annamosaic
