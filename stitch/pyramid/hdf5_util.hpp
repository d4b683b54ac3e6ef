#pragma once
// Internal to annamosaic_pyramid: RAII owners for HDF5 ids, the error stack as text, the
// process-wide HDF5 lock, and IMS-style attributes (1-D arrays of 1-character strings).
//
// Debian's parallel HDF5 1.10.8 is not built thread-safe (H5_HAVE_THREADSAFE is undefined), so
// every HDF5 call of this module happens under library_lock(); code that uses HDF5 elsewhere in
// the same process concurrently with a writer or reader of this module must take it too.
#include <hdf5.h>

#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace annamosaic::h5 {

class Hid {
 public:
  Hid() = default;
  Hid(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Hid() { reset(); }
  Hid(Hid&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)), close_(o.close_) {}
  Hid& operator=(Hid&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
      close_ = o.close_;
    }
    return *this;
  }
  Hid(const Hid&) = delete;
  Hid& operator=(const Hid&) = delete;
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }
  // Closes now and reports whether the close succeeded (files: the final flush happens here).
  bool close() {
    if (id_ < 0) return true;
    const herr_t rc = close_(std::exchange(id_, H5I_INVALID_HID));
    return rc >= 0;
  }
  void reset() {
    if (id_ >= 0) close_(std::exchange(id_, H5I_INVALID_HID));
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
  herr_t (*close_)(hid_t) = nullptr;
};

// The recursive mutex every HDF5 call of this module holds (see above).
std::recursive_mutex& library_mutex();

// Holds library_mutex() and turns off HDF5's automatic error printing (a global setting in
// non-thread-safe builds) for the scope; the stack is then read with error_text().
class Lock {
 public:
  Lock();
  ~Lock();
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

 private:
  std::lock_guard<std::recursive_mutex> guard_;
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

// The current error stack as "API message (cause: innermost message)", e.g.
// "can't write unprocessed chunk data (cause: file write failed: ... errno = 28, error message =
// 'No space left on device' ...)". Clears the stack.
std::string error_text();

// IMS attribute: `value` as a 1-D array of value.size() one-character strings (H5T_C_S1, size 1).
// Returns false on failure (HDF5 stack left for error_text()).
bool write_text_attr(hid_t obj, const std::string& name, const std::string& value);
bool write_u32_attr(hid_t obj, const std::string& name, unsigned value);

// Reads a text attribute written as a char array (IMS), a fixed-length string or a
// variable-length string; trailing NULs removed. false if absent or unreadable.
bool read_text_attr(hid_t obj, const std::string& name, std::string& value);
// All attribute names of obj in creation/name order.
std::vector<std::string> attr_names(hid_t obj);

// Opens the group `name` below loc, creating it when missing.
Hid open_or_create_group(hid_t loc, const std::string& name);

}  // namespace annamosaic::h5
