#pragma once
// Strict, parallel reader for localization tables in delimited text: ThunderSTORM CSV (columns
// found by name, quoted or not), and any CSV/TSV with an explicit column mapping.
//
// Column roles: frame, x, y (required), z, intensity, uncertainty (optional). Without a mapping,
// roles are found by header name: ThunderSTORM `frame`, `x [nm]`/`x[nm]`, `y [nm]`, `z [nm]`,
// `intensity [photon]`, `uncertainty [nm]`/`uncertainty_xy [nm]`; also `x`, `x_nm`, `xnano`,
// `x [px]`, `int`, `photons`. A `[px]`/`_px` suffix means camera pixels; names without a unit use
// CsvReadOptions::xy_unit. Lines starting with '#' and blank lines are not data.
//
// Errors (InputError with file, 1-based line and column): missing required column, non-numeric
// cell, NaN/inf, negative or non-integer frame, wrong number of fields, truncated last line,
// empty file. With skip_bad_rows the offending rows are counted in ReadReport instead.
// Parsing: the body is split into chunks at line boundaries and parsed in parallel with
// std::from_chars; the result is identical for any thread count.
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "loc/loc_table.hpp"

namespace annamosaic {

// A data row that --skip-bad-rows would have left out (a value that is not a number, a missing
// field): told apart from a header's problems, for the advice that follows it.
class MalformedRowError : public InputError {
 public:
  using InputError::InputError;
};

enum class XyUnit { Nanometre, CameraPixel, Micrometre };

struct CsvReadOptions {
  char delimiter = 0;                         // 0: detect from the header (',', '\t', ';')
  std::map<std::string, std::string> columns; // role -> header name; overrides detection
  // For coordinate columns whose name states no unit ("x [nm]", "x_px", "x (um)" do).
  XyUnit xy_unit = XyUnit::Nanometre;
  bool xy_unit_given = false;                 // xy_unit was chosen (--xy-unit nm too): not "assumed"
  double camera_pixel_nm = 0;                 // needed when a coordinate column is in camera px
  bool skip_bad_rows = false;
  std::size_t threads = 0;                    // 0: all TBB threads of the calling arena
  std::size_t chunk_bytes = 4u << 20;         // parallel work unit
};

// Parses a whole file held in memory. `name` is used in error messages.
LocTable parse_csv_table(std::string_view text, const std::string& name, const CsvReadOptions& opt,
                         ReadReport* report = nullptr);

// Memory-maps `path` and parses it (IoError if it cannot be opened).
LocTable read_csv_table(const std::string& path, const CsvReadOptions& opt, ReadReport* report = nullptr);

// Parses "frame=Frame,x=X (nm),y=Y" into a role -> column-name map (InputError on unknown roles).
std::map<std::string, std::string> parse_column_mapping(const std::string& spec);

// The table settings' spellings, one canonical name each (options, campaign.ini and the settings
// a run records compare alike): "nm", "um" (also "µm", "micron"), "px"; "auto" (also ""),
// "comma" (","), "tab" ("\t", a tab), "semicolon" (";"). nullopt: not a known spelling.
std::optional<XyUnit> parse_xy_unit(const std::string& name);
std::string xy_unit_name(XyUnit unit);
std::optional<char> parse_delimiter(const std::string& name);  // 0: auto (detect)
std::string delimiter_name(char delimiter);

}  // namespace annamosaic
