#include "core/hdf5_util.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <vector>

#include "core/hdf5_lock.hpp"

namespace annamosaic::h5 {

std::recursive_mutex& library_mutex() { return hdf5_library_mutex(); }

Lock::Lock() : guard_(library_mutex()) {
  H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

Lock::~Lock() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }

NewFile NewFile::create(const std::string& path, hid_t fcpl, hid_t fapl) {
  NewFile f;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    f.error_ = std::strerror(errno);
    return f;
  }
  static const std::vector<char> zeros(64 * 1024);
  const ssize_t wrote = ::write(fd, zeros.data(), zeros.size());
  const int write_errno = errno;
  ::close(fd);
  if (wrote != static_cast<ssize_t>(zeros.size())) {
    f.error_ = std::string("cannot write its first 64 KiB: ") + (wrote < 0 ? std::strerror(write_errno) : "a short write");
    return f;
  }
  f.file_ = Hid(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl, fapl), H5Fclose);
  if (!f.file_.ok()) f.error_ = error_text();
  return f;
}

bool NewFile::finish() {
  if (!file_.ok()) return false;
  if (H5Fflush(file_.get(), H5F_SCOPE_GLOBAL) < 0) {
    error_ = "cannot flush: " + error_text();
    abandon();
    return false;
  }
  if (!file_.close()) {  // after a flush that succeeded, it writes (almost) nothing
    error_ = "cannot close: " + error_text();
    return false;
  }
  return true;
}

void NewFile::detach_from_disk() noexcept {
  void* handle = nullptr;
  if (detached_) return;  // once: a second memory file would hide what the first received
  if (file_.ok() && H5Fget_vfd_handle(file_.get(), H5P_DEFAULT, &handle) >= 0 && handle) {
    const int fd = *static_cast<int*>(handle);  // the sec2 driver's descriptor
    if (const int mem = ::memfd_create("annamosaic-abandoned-hdf5", MFD_CLOEXEC); mem >= 0) {
      detached_ = ::dup2(mem, fd) >= 0;
      ::close(mem);
    }
  }
}

void NewFile::abandon() noexcept {
  if (!file_.ok()) return;
  detach_from_disk();
  // Whatever a failed flush left dirty goes to memory now: closing a file with dirty entries that
  // cannot be written fails and leaves its id behind (HDF5's exit handler then crashed on it).
  H5Fflush(file_.get(), H5F_SCOPE_LOCAL);
  file_.reset();
  H5Eclear2(H5E_DEFAULT);
}

namespace {
herr_t collect(unsigned, const H5E_error2_t* e, void* out) {
  auto* v = static_cast<std::vector<std::string>*>(out);
  if (e->desc && *e->desc) v->emplace_back(e->desc);
  return 0;
}
}  // namespace

bool shuffle_deflate_chunked(hid_t ds, hid_t type, int rank, hsize_t* chunk) {
  Hid space(H5Dget_space(ds), H5Sclose);
  Hid file_type(H5Dget_type(ds), H5Tclose);
  Hid dcpl(H5Dget_create_plist(ds), H5Pclose);
  if (!space.ok() || !file_type.ok() || !dcpl.ok() || H5Sget_simple_extent_ndims(space.get()) != rank ||
      H5Tequal(file_type.get(), type) <= 0 || H5Pget_layout(dcpl.get()) != H5D_CHUNKED ||
      H5Pget_chunk(dcpl.get(), rank, chunk) != rank || H5Pget_nfilters(dcpl.get()) != 2)
    return false;
  const H5Z_filter_t want[2] = {H5Z_FILTER_SHUFFLE, H5Z_FILTER_DEFLATE};
  for (unsigned i = 0; i < 2; ++i) {
    unsigned flags = 0, cd[8];
    std::size_t ncd = 8;
    if (H5Pget_filter2(dcpl.get(), i, &flags, &ncd, cd, 0, nullptr, nullptr) != want[i]) return false;
  }
  return true;
}

std::string error_text() {
  std::vector<std::string> descs;  // API level first, innermost last
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect, &descs);
  H5Eclear2(H5E_DEFAULT);
  if (descs.empty()) return "HDF5 error";
  // The POSIX driver's I/O failures list time, descriptor, buffer address and byte counts ("bytes
  // actually written = 18446744073709551615", i.e. -1) around the one thing that matters: what
  // the system said ("No space left on device"). Kept: the failure and that.
  std::string& cause = descs.back();
  if (const auto at = cause.find("error message = '"); at != std::string::npos) {
    const auto begin = at + 17, end = cause.find('\'', begin);
    if (end != std::string::npos) cause = cause.substr(0, cause.find(':')) + ": " + cause.substr(begin, end - begin);
  }
  std::string s = descs.size() == 1 || descs.front() == descs.back() ? descs.front()
                                                                     : descs.front() + " (cause: " + descs.back() + ")";
  for (auto& c : s)
    if (c == '\n') c = ' ';  // HDF5's I/O messages embed ctime() text
  // HDF5 locks a file it opens: for writing, no one else may open it at all.
  if (s.find("unable to lock file") != std::string::npos)
    s += " (another process has the file open for writing, a viewer or a script?: close it there; on a file system "
         "without locks, HDF5_USE_FILE_LOCKING=FALSE)";
  return s;
}

}  // namespace annamosaic::h5
