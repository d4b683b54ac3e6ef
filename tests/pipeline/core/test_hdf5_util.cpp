#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "core/hdf5_util.hpp"

using namespace annamosaic;

namespace {
std::string tmp_path(const std::string& name) {
  std::filesystem::create_directories(ANNAMOSAIC_TEST_TMP);
  return std::string(ANNAMOSAIC_TEST_TMP) + "/" + name;
}

// Writes a file whose bytes all go out at the final flush (attributes only: metadata, cached).
bool write_attributes(h5::NewFile& file, std::size_t count) {
  const std::vector<double> values(1000, 1.5);
  const hsize_t n = values.size();
  h5::Hid space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  for (std::size_t i = 0; i < count; ++i) {
    h5::Hid g(H5Gcreate2(file.get(), ("g" + std::to_string(i)).c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
              H5Gclose);
    h5::Hid a(H5Acreate2(g.get(), "values", H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    if (!a.ok() || H5Awrite(a.get(), H5T_NATIVE_DOUBLE, values.data()) < 0) return false;
  }
  return true;
}
}  // namespace

TEST(NewFile, FinishesAFileThatReadersOpen) {
  const std::string path = tmp_path("new_file_ok.h5");
  h5::Lock lock;
  {
    h5::NewFile file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
    ASSERT_TRUE(file.ok());
    ASSERT_TRUE(write_attributes(file, 3));
    ASSERT_TRUE(file.finish()) << file.error();
    EXPECT_FALSE(file.ok());
  }
  h5::Hid back(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  ASSERT_TRUE(back.ok());
  EXPECT_GT(H5Lexists(back.get(), "g2", H5P_DEFAULT), 0);
}

// A write that fails at the final flush (a full disk: here the file's descriptor is pointed at
// /dev/full, where every write(2) fails with ENOSPC) is said by finish(), and the process still
// exits normally: before, the file's id was left half-closed and HDF5's exit handler crashed the
// process (SIGSEGV) after the error was said.
TEST(NewFile, AFlushThatCannotWriteIsSaidAndTheProcessStillExitsCleanly) {
  const std::string path = tmp_path("new_file_full.h5");
  std::filesystem::remove(path);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    int code = 0;
    {
      h5::Lock lock;
      h5::NewFile file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
      void* handle = nullptr;
      if (!file.ok() || H5Fget_vfd_handle(file.get(), H5P_DEFAULT, &handle) < 0) code = 10;
      else if (const int full = open("/dev/full", O_WRONLY); full < 0 || dup2(full, *static_cast<int*>(handle)) < 0) code = 13;
      else if (write_attributes(file, 40) && file.finish()) code = 11;
      else if (file.error().find("No space left on device") == std::string::npos) code = 12;
    }
    std::exit(code);  // runs HDF5's exit handler, where the crash was
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "the child died of signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10: not created, 13: /dev/full not there, 11: finished on a full disk, 12: "
                                       "finish() did not say the disk is full";
}

// A file that cannot be created for want of room (/dev/full: every write fails with ENOSPC) is
// refused before HDF5 touches it: an H5Fcreate that failed to write its superblock left the file
// half-open, and HDF5's exit printed "infinite loop closing library" (probe76).
TEST(NewFile, NoRoomForTheFirstBytesIsSaidBeforeHdf5TouchesTheFile) {
  h5::Lock lock;
  const h5::NewFile file = h5::NewFile::create("/dev/full", H5P_DEFAULT, H5P_DEFAULT);
  EXPECT_FALSE(file.ok());
  EXPECT_EQ(file.error(), "cannot write its first 64 KiB: No space left on device");
  const h5::NewFile fine = h5::NewFile::create(tmp_path("new_file_create.h5"), H5P_DEFAULT, H5P_DEFAULT);
  EXPECT_TRUE(fine.ok()) << fine.error();
}
