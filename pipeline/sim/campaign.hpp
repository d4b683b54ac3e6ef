#pragma once
// Writes a complete synthetic campaign in the layout the pipeline reads for real data, plus the
// ground truth. See README "Campaign folder". FoVs are generated in parallel (TBB) and each is
// written (atomically) as soon as it is done, so memory does not grow with the grid size.
#include <cstdint>
#include <functional>
#include <string>

#include "sim/blinking.hpp"
#include "sim/grid.hpp"
#include "sim/specimen.hpp"
#include "sim/widefield.hpp"

namespace annamosaic {

struct CampaignOptions {
  std::string name = "demo";
  GridOptions grid;
  SpecimenOptions specimen;            // region is set from the grid
  BlinkingOptions blinking;
  WidefieldOptions widefield;
  double wf_shift_max_px = 1.5;        // widefield vs localization misregistration, uniform +-, camera px
  double pixel_nm = 20.0;              // super-resolution pixel for the ground-truth images
  bool write_perfect = true;           // ground_truth/perfect/<id>.tif
  bool write_dense = false;            // ground_truth/dense/<id>.tif (all frames rendered)
  std::uint64_t seed = 1;
};

struct CampaignSummary {
  std::size_t fovs = 0;
  std::uint64_t localizations = 0, min_per_fov = 0, max_per_fov = 0;
  std::uint64_t bytes = 0;
  double seconds = 0;
};

// Ground truth of one FoV (also what the tests check against).
struct FovTruth {
  FovPlacement placement;
  double wf_shift_x_px = 0, wf_shift_y_px = 0;
  std::size_t labels = 0, localizations = 0;
  // Widefield pixels (all frames) at the camera's 65535 ADU ceiling: the brightest structure
  // clipped (too many photons per label for 16 bits). Not in ground_truth/positions.csv.
  std::size_t widefield_saturated_px = 0, widefield_px = 0;
};

// The camera field of a FoV in specimen nm (true stage position).
RectNm fov_rect_nm(const FovPlacement& p, double fov_um);
// Label-density ("perfect", n = infinity) image at pixel_nm: labels binned then blurred by sigma_loc.
ImageF perfect_image(const std::vector<PointNm>& labels, const RectNm& fov, double pixel_nm, double sigma_loc_nm);

// on_fov is called after each FoV is written (from worker threads), e.g. to advance a progress bar.
CampaignSummary simulate_campaign(const CampaignOptions& opt, const std::string& out_dir,
                                  const std::function<void(const FovTruth&)>& on_fov = {});

// Reads ground_truth/positions.csv back (for tests and evaluation).
std::vector<FovTruth> read_ground_truth(const std::string& campaign_dir);

}  // namespace annamosaic
