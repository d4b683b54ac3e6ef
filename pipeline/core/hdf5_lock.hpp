#pragma once
// Debian's parallel HDF5 1.10.8 is not built thread-safe (H5_HAVE_THREADSAFE is undefined): two
// threads inside the library at once corrupt its state (seen: a crash in H5Fopen while the mosaic
// writer's thread was writing). Every HDF5 call in annamosaic - readers, FoV result files, model
// files, the pyramid writer - holds this one process-wide recursive mutex.
#include <mutex>

namespace annamosaic {

inline std::recursive_mutex& hdf5_library_mutex() {
  static std::recursive_mutex m;
  return m;
}

}  // namespace annamosaic
