#pragma once
// A campaign folder for data that was not simulated: from the grid's geometry and the file names
// (patterns with {id}, {row}, {col}), the campaign.ini and positions.csv that `run` reads, with
// nominal stage positions (the stitch stage then registers the overlaps). Pure planning here;
// the `init-campaign` command checks and writes the files.
#include <functional>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace annamosaic {

struct CampaignInitOptions {
  std::string name = "campaign";
  int rows = 0, cols = 0;
  double fov_um = 0, overlap_um = 0;
  std::string order = "raster";  // how ids follow the grid: raster or snake (acquisition order)
  double camera_pixel_nm = 108;
  std::string structure = "microtubules";
  std::string table_pattern = "fov/{id}/locs.csv";
  std::string widefield_pattern = "fov/{id}/widefield.tif";  // "" : no widefields
  std::string widefield_frames = "3-5";
  // How the tables are read ("" : not given, not written): campaign.ini's xy-unit, columns, delimiter.
  std::string xy_unit, columns, delimiter;
  int frame_base = -1;  // 0 or 1 when given (-1: init-campaign decides from the sampled tables)
};

struct InitFov {
  int id = 0, row = 0, col = 0;
  double x_um = 0, y_um = 0;  // nominal: col (row) x (fov-um - overlap-um)
  std::string table, widefield;  // relative to the folder; widefield "" when absent
};

struct CampaignInitPlan {
  std::vector<InitFov> fovs;                 // grid cells whose table exists, by id
  std::vector<std::string> missing_tables;   // cells left out: the table path looked for
  std::vector<std::string> warnings;         // what was assumed (files beyond the grid, ...)
  std::size_t widefields = 0;
  std::string campaign_ini, positions_csv;   // the files' text
};

// The table pattern finds no file for any FoV (thrown by plan_campaign_init): the caller may add
// what the folder does hold.
struct NoTableFound : InputError {
  using InputError::InputError;
};

// exists(relative path): whether the folder holds that file (a test passes a set). InputError
// (file "--rows", "--table" ...) for a grid that cannot be or patterns that cannot tell FoVs apart.
CampaignInitPlan plan_campaign_init(const CampaignInitOptions& o, const std::function<bool(const std::string&)>& exists);

}  // namespace annamosaic
