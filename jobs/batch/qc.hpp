#pragma once
// The QC report of a run, in out/qc/: what users look at to decide which tiles to distrust.
//   qc.json                    per FoV: status/reason, localizations, widefield shift and
//                              confidence, error-map score, stage timings, rank; per edge: the
//                              stitching residuals (from layout.json when present); summary;
//                              "flags": why a FoV should be distrusted; the heat maps' ranges
//   heatmap_error.png          one cell per FoV (grid layout): error-map score, failed FoVs
//                              crossed out, missing ones grey, flagged ones framed; a legend
//                              (colour bar with its values, the median and the flag limit) below
//   heatmap_localizations.png  the same for localizations (colours on a log scale)
//   overview_reconstruction.png / overview_error.png: the per-FoV results placed on the grid,
//                              flagged FoVs outlined with their ids, a scale bar and a caption
//   links.png                  (with a layout) what became of each overlap (qc_links.hpp)
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "batch/campaign.hpp"
#include "batch/manifest.hpp"
#include "core/image.hpp"
#include "imgproc/text_rgb.hpp"

namespace annamosaic {

struct QcSummary {
  // missing: no record (not processed yet); not_acquired: recorded failed for want of a table,
  // counted apart from `failed` (their places empty, no cross).
  std::size_t fovs = 0, done = 0, failed = 0, missing = 0, not_acquired = 0;
  double error_score_median = 0;
  // FoVs to distrust, each with its reasons in qc.json ("flags"): error score > 3 median absolute
  // deviations above the median, < 5% of the median localization count, a table spanning under
  // half the acquisition's frames, widefield registration confidence < 0.1, placed by the stage
  // position alone, ...
  std::vector<int> flagged;
  // Of them, those flagged for their place alone (stage-placed, detached-group, link-disagrees):
  // their reconstruction is not in doubt, only where they lie.
  std::vector<int> placement_only;
  // How many flags of each kind (qc.json's "flag_kinds" beside each FoV's "flags": few-localizations,
  // stage-placed, detached-group, widefield-ignored, high-error-score, ...).
  std::map<std::string, std::size_t> flag_counts;
};

// The overview canvases (at most 2048 px on a side): each FoV's reconstruction and error map
// placed at its position and max-pooled. Only the FoVs whose index in `fovs` is `part` modulo
// `parts` are read, so that ranks can share the reading; their canvases combined by element-wise
// max (MPI_MAX) equal the canvases of one process that read them all.
struct QcOverview {
  ImageF reconstruction, error_map;
  bool any_reconstruction = false, any_error = false;
  // Where the canvases lie: their corner (um) and pixel (um), and each FoV's corner (um), for
  // marking FoVs and drawing a scale bar on them.
  double x0_um = 0, y0_um = 0, px_um = 1;
  std::map<int, std::pair<double, double>> fov_um;
};
QcOverview build_qc_overview(const std::string& out_dir, const CampaignInfo& campaign, const std::vector<FovEntry>& fovs,
                             const std::map<int, ManifestRecord>& records, const nlohmann::json* layout, double pixel_nm,
                             int part = 0, int parts = 1);

// `layout` may be null (stitching not run yet). Positions for the overviews come from the layout
// when present, else from the nominal stage positions. `overview`: canvases built beforehand (by
// several ranks); null: built here from every FoV.
QcSummary write_qc_report(const std::string& out_dir, const CampaignInfo& campaign, const std::vector<FovEntry>& fovs,
                          const std::map<int, ManifestRecord>& records, const nlohmann::json* layout, double pixel_nm,
                          const QcOverview* overview = nullptr);

// A value marked on a heat map's colour bar (a tick), with its name: the campaign's median, the
// limit past which a FoV is flagged.
struct HeatMapMark {
  std::string name;
  double value = 0;
};

// A heat map's legend: what its values are, how a value is written at the colour bar, the marks
// on it (the first drawn black, the others cyan, the flagged frames' colour), and what its grey
// (NaN) cells are.
struct HeatMapLegend {
  std::string title;
  std::function<std::string(double)> label;
  std::vector<HeatMapMark> marks;
  std::string none_text = "no data";
};

// One value per grid cell, row-major (NaN: no data); `failed`, `flagged`, `placement_only`
// (flagged for its place alone) and `ids` (the FoV in each cell, -1 none) may be empty (none).
struct HeatMapGrid {
  int rows = 0, cols = 0;
  std::vector<double> values;
  std::vector<bool> failed, flagged, placement_only;
  std::vector<int> ids;
};

// Heat map of `grid` (cell_px square cells; missing grey, failed crossed out in red, flagged
// framed in cyan, or magenta for their place alone; each cell's FoV id inside it where it fits),
// row numbers at the left and column numbers on top, and its legend below: the title, a colour
// bar labelled with the values at its ends (and middle, without marks) and its marks, and the
// meaning of grey, the cross and the frames.
RgbCanvas heat_map(const HeatMapGrid& grid, int cell_px, const HeatMapLegend& legend);

// The FoVs an overview marks, by id.
struct OverviewMarks {
  std::vector<int> flagged;         // outlined in cyan
  std::vector<int> placement_only;  // flagged for their place alone: outlined in magenta
  std::vector<int> failed;          // outlined and crossed out in red
  std::vector<int> no_data;         // their pixels that hold nothing grey (no error map)
};

// An overview canvas of `ov` (its reconstruction or error map) as a picture that says what it
// shows: the marked FoVs outlined where they lie, every FoV's id in its corner where ids fit (the
// marked ones' always), and below it a scale bar (a round length near a fifth of its width) and
// the caption's lines.
RgbCanvas captioned_overview(ImageView<const float> image, const QcOverview& ov, double fov_um, const OverviewMarks& marks,
                             const std::vector<std::string>& caption);

}  // namespace annamosaic
