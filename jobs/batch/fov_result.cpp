#include "batch/fov_result.hpp"

#include <hdf5.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/hdf5_util.hpp"

namespace annamosaic {
namespace {

using h5::Hid;

void check(herr_t e, const std::string& path, const std::string& what) {
  if (e < 0) throw IoError(path, what + ": " + h5::error_text());
}

void write_image(hid_t file, const char* name, const ImageF& img, const std::string& path) {
  if (img.empty()) return;
  const hsize_t dims[2] = {img.height(), img.width()};
  Hid space(H5Screate_simple(2, dims, nullptr), H5Sclose);
  Hid dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  H5Pset_obj_track_times(dcpl.get(), false);
  // Chunked + deflate: sparse and reconstruction images compress well.
  const hsize_t chunk[2] = {std::min<hsize_t>(dims[0], 256), std::min<hsize_t>(dims[1], 256)};
  H5Pset_chunk(dcpl.get(), 2, chunk);
  H5Pset_shuffle(dcpl.get());
  H5Pset_deflate(dcpl.get(), 1);
  Hid ds(H5Dcreate2(file, name, H5T_IEEE_F32LE, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT), H5Dclose);
  if (!ds.ok()) throw IoError(path, std::string("cannot create dataset ") + name + ": " + h5::error_text());
  check(H5Dwrite(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, img.data()), path,
        std::string("cannot write ") + name);
}

template <class T>
void write_attr(hid_t obj, const char* name, hid_t type, const T& value, const std::string& path) {
  Hid space(H5Screate(H5S_SCALAR), H5Sclose);
  Hid a(H5Acreate2(obj, name, type, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  check(a.ok() ? H5Awrite(a.get(), type, &value) : -1, path, std::string("cannot write attribute ") + name);
}
void write_str_attr(hid_t obj, const char* name, const std::string& value, const std::string& path) {
  Hid type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), std::max<std::size_t>(1, value.size()));
  Hid space(H5Screate(H5S_SCALAR), H5Sclose);
  Hid a(H5Acreate2(obj, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  const std::string v = value.empty() ? std::string(1, '\0') : value;
  check(a.ok() ? H5Awrite(a.get(), type.get(), v.data()) : -1, path, std::string("cannot write attribute ") + name);
}

template <class T>
T read_attr(hid_t obj, const char* name, hid_t type, const std::string& path) {
  Hid a(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose);
  if (!a.ok()) throw InputError(path, std::string("missing attribute ") + name);
  T v{};
  check(H5Aread(a.get(), type, &v), path, std::string("cannot read attribute ") + name);
  return v;
}
std::string read_str_attr(hid_t obj, const char* name, const std::string& path) {
  Hid a(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose);
  if (!a.ok()) throw InputError(path, std::string("missing attribute ") + name);
  Hid type(H5Aget_type(a.get()), H5Tclose);
  std::string s(H5Tget_size(type.get()), '\0');
  check(H5Aread(a.get(), type.get(), s.data()), path, std::string("cannot read attribute ") + name);
  s.resize(std::strlen(s.c_str()));
  return s;
}

ImageF read_image(hid_t file, const char* name, const std::string& path) {
  if (H5Lexists(file, name, H5P_DEFAULT) <= 0) return ImageF();
  Hid ds(H5Dopen2(file, name, H5P_DEFAULT), H5Dclose);
  Hid space(H5Dget_space(ds.get()), H5Sclose);
  hsize_t dims[2] = {0, 0};
  if (!ds.ok() || H5Sget_simple_extent_ndims(space.get()) != 2) throw InputError(path, std::string("bad dataset ") + name);
  H5Sget_simple_extent_dims(space.get(), dims, nullptr);
  ImageF img(dims[1], dims[0]);
  if (H5Dread(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, img.data()) < 0)
    throw InputError(path, std::string("cannot read ") + name + ": " + h5::error_text());
  return img;
}

}  // namespace

void write_fov_result(const std::string& path, const FovResult& r) {
  h5::Lock lock;
  AtomicFile out(path);
  {
    Hid fcpl(H5Pcreate(H5P_FILE_CREATE), H5Pclose);
    H5Pset_obj_track_times(fcpl.get(), false);  // root group: no timestamps either
    Hid file(H5Fcreate(out.temp_path().c_str(), H5F_ACC_TRUNC, fcpl.get(), H5P_DEFAULT), H5Fclose);
    if (!file.ok()) throw IoError(out.temp_path(), "cannot create HDF5 file: " + h5::error_text());
    const hid_t f = file.get();
    write_image(f, "sparse", r.sparse, path);
    write_image(f, "widefield", r.widefield, path);
    write_image(f, "reconstruction", r.reconstruction, path);
    write_image(f, "q", r.q, path);
    write_image(f, "error_map", r.error_map, path);
    Hid root(H5Gopen2(f, "/", H5P_DEFAULT), H5Gclose);
    write_attr(root.get(), "id", H5T_NATIVE_INT, r.id, path);
    write_attr(root.get(), "row", H5T_NATIVE_INT, r.row, path);
    write_attr(root.get(), "col", H5T_NATIVE_INT, r.col, path);
    write_attr(root.get(), "x_um", H5T_NATIVE_DOUBLE, r.x_um, path);
    write_attr(root.get(), "y_um", H5T_NATIVE_DOUBLE, r.y_um, path);
    write_attr(root.get(), "pixel_nm", H5T_NATIVE_DOUBLE, r.pixel_nm, path);
    write_attr(root.get(), "localizations", H5T_NATIVE_LLONG, r.localizations, path);
    write_attr(root.get(), "wf_shift_x_px", H5T_NATIVE_DOUBLE, r.wf_shift_x_px, path);
    write_attr(root.get(), "wf_shift_y_px", H5T_NATIVE_DOUBLE, r.wf_shift_y_px, path);
    write_attr(root.get(), "wf_confidence", H5T_NATIVE_DOUBLE, r.wf_confidence, path);
    write_attr(root.get(), "error_score", H5T_NATIVE_DOUBLE, r.error_score, path);
    write_str_attr(root.get(), "status", r.status, path);
    write_str_attr(root.get(), "reason", r.reason, path);
    check(H5Fflush(f, H5F_SCOPE_GLOBAL), path, "cannot flush");
  }
  out.commit();
}

FovResult read_fov_result(const std::string& path, const std::vector<std::string>& datasets) {
  h5::Lock lock;
  Hid file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file.ok()) throw InputError(path, "cannot open FoV result: " + h5::error_text());
  Hid root(H5Gopen2(file.get(), "/", H5P_DEFAULT), H5Gclose);
  FovResult r;
  r.id = read_attr<int>(root.get(), "id", H5T_NATIVE_INT, path);
  r.row = read_attr<int>(root.get(), "row", H5T_NATIVE_INT, path);
  r.col = read_attr<int>(root.get(), "col", H5T_NATIVE_INT, path);
  r.x_um = read_attr<double>(root.get(), "x_um", H5T_NATIVE_DOUBLE, path);
  r.y_um = read_attr<double>(root.get(), "y_um", H5T_NATIVE_DOUBLE, path);
  r.pixel_nm = read_attr<double>(root.get(), "pixel_nm", H5T_NATIVE_DOUBLE, path);
  r.localizations = read_attr<long long>(root.get(), "localizations", H5T_NATIVE_LLONG, path);
  r.wf_shift_x_px = read_attr<double>(root.get(), "wf_shift_x_px", H5T_NATIVE_DOUBLE, path);
  r.wf_shift_y_px = read_attr<double>(root.get(), "wf_shift_y_px", H5T_NATIVE_DOUBLE, path);
  r.wf_confidence = read_attr<double>(root.get(), "wf_confidence", H5T_NATIVE_DOUBLE, path);
  r.error_score = read_attr<double>(root.get(), "error_score", H5T_NATIVE_DOUBLE, path);
  r.status = read_str_attr(root.get(), "status", path);
  r.reason = read_str_attr(root.get(), "reason", path);
  auto want = [&](const char* n) { return datasets.empty() || std::find(datasets.begin(), datasets.end(), n) != datasets.end(); };
  if (want("sparse")) r.sparse = read_image(file.get(), "sparse", path);
  if (want("widefield")) r.widefield = read_image(file.get(), "widefield", path);
  if (want("reconstruction")) r.reconstruction = read_image(file.get(), "reconstruction", path);
  if (want("q")) r.q = read_image(file.get(), "q", path);
  if (want("error_map")) r.error_map = read_image(file.get(), "error_map", path);
  return r;
}

}  // namespace annamosaic
