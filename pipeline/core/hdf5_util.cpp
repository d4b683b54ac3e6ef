#include "core/hdf5_util.hpp"

#include <vector>

#include "core/hdf5_lock.hpp"

namespace annamosaic::h5 {

std::recursive_mutex& library_mutex() { return hdf5_library_mutex(); }

Lock::Lock() : guard_(library_mutex()) {
  H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

Lock::~Lock() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }

namespace {
herr_t collect(unsigned, const H5E_error2_t* e, void* out) {
  auto* v = static_cast<std::vector<std::string>*>(out);
  if (e->desc && *e->desc) v->emplace_back(e->desc);
  return 0;
}
}  // namespace

std::string error_text() {
  std::vector<std::string> descs;  // API level first, innermost last
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect, &descs);
  H5Eclear2(H5E_DEFAULT);
  if (descs.empty()) return "HDF5 error";
  std::string s = descs.size() == 1 || descs.front() == descs.back() ? descs.front()
                                                                     : descs.front() + " (cause: " + descs.back() + ")";
  for (auto& c : s)
    if (c == '\n') c = ' ';  // HDF5's I/O messages embed ctime() text
  return s;
}

}  // namespace annamosaic::h5
