#pragma once
// HDF5 C API helpers shared by every module that reads or writes HDF5 (FoV results, Picasso
// tables, model files, the pyramid): an owner for hid_t, the process-wide lock with HDF5's
// automatic error printing off, and the error stack as one line of text.
//
// Debian's parallel HDF5 1.10.8 is not built thread-safe (see hdf5_lock.hpp): hold an h5::Lock
// around every sequence of HDF5 calls.
//
//   h5::Lock lock;                                            // mutex + quiet error stack
//   h5::Hid f(H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
//   if (!f.ok()) throw InputError(path, "not an HDF5 file: " + h5::error_text());
#include <hdf5.h>

#include <mutex>
#include <string>
#include <utility>

namespace annamosaic::h5 {

// Owns an hid_t and closes it with the matching H5?close.
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
  // Closes now and reports whether the close succeeded (files: the final flush happens here,
  // so a failure is a write error).
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

// A file being written: H5Fcreate's id (with the sec2 driver, HDF5's default). finish() flushes,
// then closes it, and says whether both succeeded (error() says why not). Destroyed unfinished (an
// exception on the way), or when its flush failed, it is abandoned: its descriptor is pointed at
// an anonymous memory file, so that HDF5's flush and close write there and the file is let go. A
// close that fails to write leaves its id half-open, and HDF5's exit handler then crashed the
// process (SIGSEGV in H5F__close_cb, after the error was said). Objects in it must be closed
// first (their closes still write to the disk, unless detach_from_disk() came before them).
class NewFile {
 public:
  NewFile() = default;
  explicit NewFile(hid_t id) : file_(id, H5Fclose) {}
  // H5Fcreate(path, H5F_ACC_TRUNC, fcpl, fapl), once 64 KiB could be written there: an H5Fcreate
  // that cannot write its first bytes (a full disk) leaves the file half-open in HDF5, whose exit
  // then loops ("infinite loop closing library", probe76). Not ok() on failure, error() says why.
  static NewFile create(const std::string& path, hid_t fcpl, hid_t fapl);
  ~NewFile() { abandon(); }
  NewFile(NewFile&&) = default;
  NewFile& operator=(NewFile&& o) noexcept {
    if (this != &o) abandon(), file_ = std::move(o.file_), error_ = std::move(o.error_), detached_ = o.detached_;
    return *this;
  }
  hid_t get() const { return file_.get(); }
  bool ok() const { return file_.ok(); }
  bool finish();
  const std::string& error() const { return error_; }  // why finish() failed
  void abandon() noexcept;
  // Points its descriptor at an anonymous memory file (abandon()'s first step): for a writer that
  // must close objects in the file before abandoning it.
  void detach_from_disk() noexcept;

 private:
  Hid file_;
  std::string error_;
  bool detached_ = false;
};

// The recursive mutex every HDF5 call in the process holds (= hdf5_library_mutex()).
std::recursive_mutex& library_mutex();

// Holds library_mutex() and turns off HDF5's automatic error printing (a global setting in
// non-thread-safe builds) for the scope; read the stack with error_text().
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

// Whether data set `ds` is stored the way this project's writers store images, so that its
// chunks can be read raw and decoded by us: `rank`-D, of file type `type`, chunked, with exactly
// the filters shuffle then deflate. Its chunk dimensions go to chunk[0..rank).
bool shuffle_deflate_chunked(hid_t ds, hid_t type, int rank, hsize_t* chunk);

}  // namespace annamosaic::h5
