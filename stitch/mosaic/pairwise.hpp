#pragma once
// Registration of neighbouring tiles on their overlap strips. Overlaps here are tiny (1 um =
// 50 px at 20 nm, < 2% of a tile), so whole-tile correlation (MIST) would drown the signal:
// instead the strip the stage positions predict is cut from both tiles, widened by the stage
// error on the side where the neighbour may be, pre-filtered and phase-correlated with the
// search window centred on the predicted shift (ASHLAR's approach). Each edge is accepted only
// if its NCC beats a threshold calibrated on random NON-adjacent pairs cut the same way (what
// "no match" looks like in this dataset), so empty or featureless strips are rejected, not matched.
#include <cstddef>
#include <vector>

#include "mosaic/tile_source.hpp"

namespace annamosaic {

struct PairwiseOptions {
  double pixel_nm = 20.0;
  double overlap_um = 1.0;          // nominal overlap between neighbours
  double search_um = 1.5;           // stage error to cover (per axis, pair-relative)
  std::size_t channel = 0;          // which channel to register (the reconstruction)
  double prefilter_sigma_px = 2.0;  // Gaussian pre-filter: the structures are ~1-2 px wide
  std::size_t null_pairs = 64;      // random non-adjacent pairs for the acceptance threshold
  double min_ncc = 0.2;             // the threshold is never below this
  unsigned seed = 1;
};

struct Edge {
  std::size_t a = 0, b = 0;          // tile indices; b is the right or lower neighbour of a
  bool horizontal = true;            // b right of a (else below)
  double dx_px = 0, dy_px = 0;       // measured position of b minus position of a (pixels)
  double nominal_dx_px = 0, nominal_dy_px = 0;
  double ncc = 0;
  bool valid = false;                // phase correlation found a candidate
  bool accepted = false;             // valid and ncc above the calibrated threshold
  double residual_px = 0;            // after the global solve
  bool dropped = false;              // removed by the global solve as an outlier
};

struct PairwiseResult {
  std::vector<Edge> edges;
  double ncc_threshold = 0;
  std::vector<double> null_ncc;      // the calibration sample
};

PairwiseResult register_neighbours(const TileSource& tiles, const PairwiseOptions& opt);

}  // namespace annamosaic
