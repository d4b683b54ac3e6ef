#include "loc/table_reader.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "core/error.hpp"
#include "core/input_file.hpp"
#include "loc/picasso_reader.hpp"

namespace annamosaic {

LocTable read_table(const std::string& path, const TableReadOptions& opt, ReadReport* report) {
  std::string ext;
  const auto dot = path.find_last_of('.');
  if (dot != std::string::npos && path.find('/', dot) == std::string::npos) ext = path.substr(dot + 1);
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  if (ext == "h5" || ext == "hdf5" || ext == "hdf") {
    PicassoReadOptions p;
    p.camera_pixel_nm = opt.csv.camera_pixel_nm;
    return read_picasso_hdf5(path, p, report);
  }
  if (ext == "csv" || ext == "tsv" || ext == "txt" || ext == "dat" || ext == "xls" || ext.empty())
    return read_csv_table(path, opt.csv, report);
  if (ext == "xlsx" || ext == "xlsm" || ext == "ods")
    throw InputError(path, "a spreadsheet workbook, not a table file: save it as CSV (UTF-8) and give that");
  if (ext == "gz" || ext == "zip" || ext == "bz2" || ext == "xz" || ext == "zst")
    throw InputError(path, "compressed ('." + ext + "'): decompress it first and give the table inside");
  // An image under its own name: named as one, as the content check names it under a table's name
  // (probe84: a widefield given as --table was told only of an unknown table format).
  if (ext == "tif" || ext == "tiff" || ext == "png" || ext == "jpg" || ext == "jpeg") {
    // One not there is said as such (probe85), as a .csv's open says it.
    require_regular_file(path, "table");
    if (std::error_code ec; !std::filesystem::exists(path, ec)) throw IoError(path, "cannot open: No such file or directory");
    throw InputError(path, "an image ('." + ext + "'), not a localization table (a widefield given as the table?): give the "
                           "localizations' table (.csv, .tsv, .txt, .dat, or Picasso .h5/.hdf5)");
  }
  throw InputError(path, "unknown table format '." + ext + "' (supported: .csv, .tsv, .txt, .dat, .h5/.hdf5 Picasso)");
}

}  // namespace annamosaic
