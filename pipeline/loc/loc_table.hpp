#pragma once
// The in-memory localization table: structure of arrays, one row per localization.
// Coordinates in nm in the acquisition's own frame (no FoV offset applied). Optional columns are
// empty vectors when the input had none.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace annamosaic {

struct LocTable {
  std::vector<std::int32_t> frame;  // camera frame number as in the file (0- or 1-based)
  std::vector<double> x_nm, y_nm;
  std::vector<float> z_nm;            // optional
  std::vector<float> intensity;       // optional, photons (or the file's unit)
  std::vector<float> uncertainty_nm;  // optional, lateral localization precision

  std::size_t size() const { return frame.size(); }
  bool empty() const { return frame.empty(); }
  bool has_z() const { return !z_nm.empty(); }
  bool has_intensity() const { return !intensity.empty(); }
  bool has_uncertainty() const { return !uncertainty_nm.empty(); }

  // Appends other's rows; optional columns are kept only if both tables have them
  // (or this one is empty).
  void append(const LocTable& other);
  // Throws std::logic_error when column lengths disagree (a programming error, not input error).
  void check_consistent() const;
};

struct TableStats {
  std::size_t rows = 0;
  std::int32_t frame_min = 0, frame_max = -1;
  double x_min_nm = 0, x_max_nm = 0, y_min_nm = 0, y_max_nm = 0;
};
TableStats compute_stats(const LocTable& table);

// Localizations far from all the others: outside the box of the 1st-99th percentiles of x and y
// widened on each side by 3 times its size, and by at least 250 um (more than a camera field).
// An image fitted to the table's extent would be mostly empty around them (a corrupt row, a
// coordinate in another unit), so commands that size their image by the table refuse them by row. Tables under 100 rows have no robust
// percentiles and report none.
struct FarOutliers {
  std::vector<std::size_t> rows;                // 0-based, ascending
  double x_lo_nm = 0, x_hi_nm = 0, y_lo_nm = 0, y_hi_nm = 0;  // the 1st-99th percentile box
};
FarOutliers far_outliers(const LocTable& table);
// "N localization(s) lie far outside the others (98% of them in x A..B nm, y C..D nm): data row R
// at (X, Y) nm, ...; a corrupt row or another unit?", naming the first few rows (1-based).
std::string far_outliers_message(const LocTable& table, const FarOutliers& o);

// What a reader saw besides the rows it returns.
struct ReadReport {
  std::size_t rows_read = 0;
  std::size_t rows_skipped = 0;           // only with skip_bad_rows
  std::vector<std::string> skipped_examples;  // the first few reasons, with line numbers
  std::string columns;                    // how columns were mapped, for the log
  std::vector<std::string> warnings;      // "FILE:LINE: what was assumed", for the log
  bool xy_unit_assumed = false;           // x or y named no unit and none was given: read as nm
};

// "" or a warning when a table read with its unit assumed (nm: its header names none) spans less
// than 5 um in x and y with 100 or more localizations: micrometres or camera pixels read as nm
// (a 60 um field in um is a 60 nm speck). Says how to give the unit. Also when 98% of them spread
// over more than 1 mm: more than any camera's field, so the unit is likely not nm. With the unit
// stated (header, --xy-unit or format), a warning when they span less than 50 nm both ways, or
// when 98% of them spread over more than 10 mm (pm, or a unit slip, under an 'x [nm]' header).
std::string assumed_unit_warning(const std::string& path, const ReadReport& report, const LocTable& table);

// "" or what --skip-bad-rows left out of `path`, for the log (every command says it: rows are
// never dropped silently): "PATH: skipped N malformed row(s) of M (--skip-bad-rows); first: ...".
std::string skipped_rows_message(const std::string& path, const ReadReport& report);

}  // namespace annamosaic
