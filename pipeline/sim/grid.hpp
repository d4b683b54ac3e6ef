#pragma once
// Acquisition grids: rows x cols FoVs of fov_um with overlap_um between neighbours, visited in
// raster or snake order. The stage misses its nominal positions by a truncated Gaussian jitter,
// so true positions (ground truth) differ from the nominal ones the microscope records.
#include <cstdint>
#include <string>
#include <vector>

namespace annamosaic {

enum class GridOrder { Raster, Snake };
GridOrder parse_grid_order(const std::string& s);  // "raster" | "snake"

struct GridOptions {
  int rows = 4, cols = 4;
  double fov_um = 25.0;
  double overlap_um = 1.0;
  GridOrder order = GridOrder::Snake;
  double jitter_um = 0.3;        // stage error, Gaussian sigma per axis
  double jitter_truncate = 3.0;  // in sigmas
  std::uint64_t seed = 1;
};

struct FovPlacement {
  int id = 0, row = 0, col = 0;  // id = acquisition order
  double nominal_x_um = 0, nominal_y_um = 0;  // top-left corner, stage coordinates
  double true_x_um = 0, true_y_um = 0;
};

// The most FoVs a grid may have (FoV ids are ints, each FoV a folder of files).
inline constexpr long long kMaxGridFovs = 1000000;
inline constexpr double kMaxFovUm = 1000.0;  // the widest FoV (um)

// InputError naming the option when the grid cannot be made (no rows, overlap not smaller than
// the FoV). make_grid checks it too; callers check it early, before any work.
void check_grid_options(const GridOptions& opt);
std::vector<FovPlacement> make_grid(const GridOptions& opt);

}  // namespace annamosaic
