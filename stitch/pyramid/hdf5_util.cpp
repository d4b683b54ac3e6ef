#include "pyramid/hdf5_util.hpp"

#include <cstring>


namespace annamosaic::h5 {

bool write_text_attr(hid_t obj, const std::string& name, const std::string& value) {
  // An attribute needs at least one element; an empty value is stored as one NUL character,
  // which every reader strips.
  const std::string v = value.empty() ? std::string(1, '\0') : value;
  Hid type(H5Tcopy(H5T_C_S1), H5Tclose);
  if (!type.ok() || H5Tset_size(type.get(), 1) < 0) return false;
  const hsize_t n = v.size();
  Hid space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  if (!space.ok()) return false;
  if (H5Aexists(obj, name.c_str()) > 0 && H5Adelete(obj, name.c_str()) < 0) return false;
  Hid attr(H5Acreate2(obj, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!attr.ok()) return false;
  if (H5Awrite(attr.get(), type.get(), v.data()) < 0) return false;
  return attr.close();
}

bool write_u32_attr(hid_t obj, const std::string& name, unsigned value) {
  const hsize_t n = 1;
  Hid space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  if (!space.ok()) return false;
  if (H5Aexists(obj, name.c_str()) > 0 && H5Adelete(obj, name.c_str()) < 0) return false;
  Hid attr(H5Acreate2(obj, name.c_str(), H5T_STD_U32LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!attr.ok()) return false;
  const std::uint32_t v = value;
  if (H5Awrite(attr.get(), H5T_NATIVE_UINT32, &v) < 0) return false;
  return attr.close();
}

bool read_text_attr(hid_t obj, const std::string& name, std::string& value) {
  if (H5Aexists(obj, name.c_str()) <= 0) return false;
  Hid attr(H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Aclose);
  if (!attr.ok()) return false;
  Hid ftype(H5Aget_type(attr.get()), H5Tclose);
  Hid space(H5Aget_space(attr.get()), H5Sclose);
  if (!ftype.ok() || !space.ok()) return false;
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  if (n < 0) return false;
  const H5T_class_t cls = H5Tget_class(ftype.get());
  if (cls == H5T_STRING && H5Tis_variable_str(ftype.get()) > 0) {
    Hid mtype(H5Tcopy(H5T_C_S1), H5Tclose);
    // The file's character set (h5py writes UTF-8): HDF5 converts no string between ASCII and UTF-8.
    if (!mtype.ok() || H5Tset_size(mtype.get(), H5T_VARIABLE) < 0 || H5Tset_cset(mtype.get(), H5Tget_cset(ftype.get())) < 0)
      return false;
    std::vector<char*> ptrs(static_cast<std::size_t>(n), nullptr);
    if (H5Aread(attr.get(), mtype.get(), ptrs.data()) < 0) return false;
    value.clear();
    for (char* p : ptrs)
      if (p) value += p;
    H5Dvlen_reclaim(mtype.get(), space.get(), H5P_DEFAULT, ptrs.data());
    return true;
  }
  if (cls == H5T_STRING) {
    const std::size_t elem = H5Tget_size(ftype.get());
    if (elem == 0) return false;
    std::string buf(elem * static_cast<std::size_t>(n), '\0');
    Hid mtype(H5Tcopy(H5T_C_S1), H5Tclose);
    // Read with NULL padding so an element of size 1 keeps its character (NULTERM would turn
    // each 1-character element into an empty C string).
    if (!mtype.ok() || H5Tset_size(mtype.get(), elem) < 0 || H5Tset_strpad(mtype.get(), H5T_STR_NULLPAD) < 0 ||
        H5Tset_cset(mtype.get(), H5Tget_cset(ftype.get())) < 0)
      return false;
    if (n > 0 && H5Aread(attr.get(), mtype.get(), buf.data()) < 0) return false;
    value.clear();
    for (char c : buf)
      if (c != '\0') value += c;
    return true;
  }
  if (cls == H5T_INTEGER && n >= 1) {
    std::vector<long long> v(static_cast<std::size_t>(n));
    if (H5Aread(attr.get(), H5T_NATIVE_LLONG, v.data()) < 0) return false;
    value.clear();
    for (std::size_t i = 0; i < v.size(); ++i) value += (i ? " " : "") + std::to_string(v[i]);
    return true;
  }
  if (cls == H5T_FLOAT && n >= 1) {
    std::vector<double> v(static_cast<std::size_t>(n));
    if (H5Aread(attr.get(), H5T_NATIVE_DOUBLE, v.data()) < 0) return false;
    value.clear();
    for (std::size_t i = 0; i < v.size(); ++i) value += (i ? " " : "") + std::to_string(v[i]);
    return true;
  }
  return false;
}

namespace {
herr_t add_name(hid_t, const char* name, const H5A_info_t*, void* out) {
  static_cast<std::vector<std::string>*>(out)->emplace_back(name);
  return 0;
}
}  // namespace

std::vector<std::string> attr_names(hid_t obj) {
  std::vector<std::string> names;
  hsize_t idx = 0;
  if (H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, &idx, add_name, &names) < 0) names.clear();
  return names;
}

Hid open_or_create_group(hid_t loc, const std::string& name) {
  if (H5Lexists(loc, name.c_str(), H5P_DEFAULT) > 0) return Hid(H5Gopen2(loc, name.c_str(), H5P_DEFAULT), H5Gclose);
  return Hid(H5Gcreate2(loc, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
}

}  // namespace annamosaic::h5
