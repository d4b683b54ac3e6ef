#pragma once
// Picasso HDF5 localization files: dataset /locs, a compound table with fields frame, x, y
// (camera pixels) and optionally photons, lpx (precision, px), z (nm). Coordinates are
// converted to nm with the camera pixel size, which Picasso keeps in a YAML sidecar; we ask
// for it explicitly rather than guess.
#include <string>

#include "loc/loc_table.hpp"

namespace annamosaic {

struct PicassoReadOptions {
  double camera_pixel_nm = 0;  // required (> 0)
};

LocTable read_picasso_hdf5(const std::string& path, const PicassoReadOptions& opt, ReadReport* report = nullptr);

}  // namespace annamosaic
