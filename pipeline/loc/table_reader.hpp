#pragma once
// Opens any supported localization table by its file name: .csv/.tsv/.txt/.dat (delimited
// text, see csv_reader.hpp) or .h5/.hdf5 (Picasso). One options struct for both.
#include <string>

#include "loc/csv_reader.hpp"
#include "loc/loc_table.hpp"

namespace annamosaic {

struct TableReadOptions {
  CsvReadOptions csv;  // csv.camera_pixel_nm is also used for Picasso files
};

LocTable read_table(const std::string& path, const TableReadOptions& opt, ReadReport* report = nullptr);

}  // namespace annamosaic
