#include "loc/picasso_reader.hpp"

#include <fmt/format.h>

#include <hdf5.h>

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <vector>

#include "core/error.hpp"
#include "core/input_file.hpp"
#include "core/hdf5_util.hpp"

namespace annamosaic {
namespace {

using h5::Hid;

struct Row {
  std::int64_t frame;
  double x, y, photons, lpx, z;
};

}  // namespace

LocTable read_picasso_hdf5(const std::string& path, const PicassoReadOptions& opt, ReadReport* report) {
  h5::Lock lock;
  require_regular_file(path, "Picasso HDF5");
  // Not there or not readable: an I/O error (exit 3), as for a CSV table, not a malformed file.
  if (::access(path.c_str(), R_OK) != 0) throw IoError(path, std::string("cannot open: ") + std::strerror(errno));
  Hid file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file.ok()) throw InputError(path, "cannot open as HDF5: " + h5::error_text());
  // What the file is first (a model or a mosaic given as a table), then what it needs.
  if (H5Lexists(file.get(), "locs", H5P_DEFAULT) <= 0)
    throw InputError(path, "no /locs dataset: not a Picasso localization file");
  if (!(opt.camera_pixel_nm > 0))
    throw InputError(path, "Picasso HDF5 coordinates are in camera pixels: give the camera pixel size (--camera-pixel-nm)");
  Hid ds(H5Dopen2(file.get(), "locs", H5P_DEFAULT), H5Dclose);
  if (!ds.ok()) throw InputError(path, "cannot open /locs: " + h5::error_text());
  Hid ftype(H5Dget_type(ds.get()), H5Tclose);
  if (H5Tget_class(ftype.get()) != H5T_COMPOUND) throw InputError(path, "/locs is not a compound table");
  auto has = [&](const char* f) { return H5Tget_member_index(ftype.get(), f) >= 0; };
  for (const char* f : {"frame", "x", "y"})
    if (!has(f)) throw InputError(path, std::string("/locs has no field '") + f + "'");

  // Memory type holding only what we use; HDF5 converts the file's types for us.
  Hid mtype(H5Tcreate(H5T_COMPOUND, sizeof(Row)), H5Tclose);
  H5Tinsert(mtype.get(), "frame", HOFFSET(Row, frame), H5T_NATIVE_INT64);
  H5Tinsert(mtype.get(), "x", HOFFSET(Row, x), H5T_NATIVE_DOUBLE);
  H5Tinsert(mtype.get(), "y", HOFFSET(Row, y), H5T_NATIVE_DOUBLE);
  const bool with_photons = has("photons"), with_lpx = has("lpx"), with_z = has("z");
  if (with_photons) H5Tinsert(mtype.get(), "photons", HOFFSET(Row, photons), H5T_NATIVE_DOUBLE);
  if (with_lpx) H5Tinsert(mtype.get(), "lpx", HOFFSET(Row, lpx), H5T_NATIVE_DOUBLE);
  if (with_z) H5Tinsert(mtype.get(), "z", HOFFSET(Row, z), H5T_NATIVE_DOUBLE);

  Hid fspace(H5Dget_space(ds.get()), H5Sclose);
  if (H5Sget_simple_extent_ndims(fspace.get()) != 1) throw InputError(path, "/locs is not one-dimensional");
  hsize_t n = 0;
  H5Sget_simple_extent_dims(fspace.get(), &n, nullptr);
  // Rows declared but never written read as the fill value (frame 0 at 0, 0): a file whose
  // writing was cut short, taken whole, would be that many invented localizations.
  H5D_space_status_t space = H5D_SPACE_STATUS_ERROR;
  if (n > 0 && H5Dget_space_status(ds.get(), &space) >= 0 && space != H5D_SPACE_STATUS_ALLOCATED)
    throw InputError(path, "/locs declares " + std::to_string(n) + " rows, but " +
                               (space == H5D_SPACE_STATUS_NOT_ALLOCATED ? "none" : "only some") +
                               " of them were ever written (the rest would read as zeros): was its writing cut short?");

  LocTable t;
  t.frame.reserve(n);
  t.x_nm.reserve(n);
  t.y_nm.reserve(n);
  ReadReport local;
  // Read in blocks so the staging buffer stays small for multi-GB files.
  const hsize_t block = 1 << 20;
  std::vector<Row> rows(static_cast<std::size_t>(std::min<hsize_t>(n, block)));
  for (hsize_t start = 0; start < n; start += block) {
    hsize_t count = std::min(block, n - start);
    if (H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, &start, nullptr, &count, nullptr) < 0)
      throw InputError(path, "cannot select rows: " + h5::error_text());
    Hid mspace(H5Screate_simple(1, &count, nullptr), H5Sclose);
    if (H5Dread(ds.get(), mtype.get(), mspace.get(), fspace.get(), H5P_DEFAULT, rows.data()) < 0)
      throw InputError(path, "cannot read /locs rows " + std::to_string(start) + "..: " + h5::error_text());
    for (hsize_t i = 0; i < count; ++i) {
      const Row& r = rows[i];
      const std::size_t row_no = static_cast<std::size_t>(start + i);
      if (!std::isfinite(r.x) || !std::isfinite(r.y))
        throw InputError(path, "/locs row " + std::to_string(row_no) + ": coordinate is not finite");
      if (r.frame < 0 || r.frame > std::numeric_limits<std::int32_t>::max())
        throw InputError(path, "/locs row " + std::to_string(row_no) + ": frame " + std::to_string(r.frame) +
                                   " out of range");
      t.frame.push_back(static_cast<std::int32_t>(r.frame));
      t.x_nm.push_back(r.x * opt.camera_pixel_nm);
      t.y_nm.push_back(r.y * opt.camera_pixel_nm);
      if (with_photons) t.intensity.push_back(static_cast<float>(r.photons));
      if (with_lpx) t.uncertainty_nm.push_back(static_cast<float>(r.lpx * opt.camera_pixel_nm));
      if (with_z) t.z_nm.push_back(static_cast<float>(r.z));
    }
  }
  local.rows_read = t.size();
  local.columns = fmt::format("Picasso /locs: frame, x, y (px x {:g} nm)", opt.camera_pixel_nm) +
                  (with_photons ? ", photons" : "") + (with_lpx ? ", lpx" : "") + (with_z ? ", z" : "");
  if (report) *report = std::move(local);
  return t;
}

}  // namespace annamosaic
