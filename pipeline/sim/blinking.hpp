#pragma once
// The localization microscope: labels blink, and each detection is localized with an error.
// Each label is detected Poisson(detections_per_label) times over the acquisition, at frames
// drawn uniformly from 1..frames (so the number of active emitters per frame is Poisson, as in
// PALM/STORM at low activation), each time displaced by N(0, sigma_loc). False detections:
// uniform (per um^2 per frame) and structured (near the structure, 300 nm spread).
// Output rows are sorted by frame (like real tables), frames 1-based (ThunderSTORM), and
// coordinates are FoV-local nm: [0, width) x [0, height). Detections that land outside the
// camera field are dropped, as a camera would.
#include <cstdint>
#include <vector>

#include "loc/loc_table.hpp"
#include "sim/geometry.hpp"

namespace annamosaic {

struct BlinkingOptions {
  int frames = 1000;
  double detections_per_label = 4.0;   // mean over the whole acquisition
  double sigma_loc_nm = 10.0;          // localization precision (also written as uncertainty)
  double mean_photons = 1500.0;        // per detection (log-normal, sigma 0.4)
  double false_per_um2_per_frame = 2e-5;
  double structured_false_fraction = 0.02;
  double structured_spread_nm = 300.0;
};

// `labels` in specimen nm; `fov` the camera field in specimen nm (its origin becomes 0, 0).
LocTable simulate_localizations(const std::vector<PointNm>& labels, const RectNm& fov, const BlinkingOptions& opt,
                                std::uint64_t seed);

}  // namespace annamosaic
