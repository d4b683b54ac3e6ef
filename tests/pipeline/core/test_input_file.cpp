// Inputs that are not files: said before opening (a named pipe would block the open forever).
#include "core/input_file.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "core/error.hpp"

using namespace annamosaic;
namespace fs = std::filesystem;

namespace {
std::string error_of(const std::string& path) {
  try {
    require_regular_file(path, "table");
  } catch (const IoError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(InputFile, PipesFoldersAndLinksToNothingAreNamedFilesPass) {
  const std::string d = std::string(ANNAMOSAIC_TEST_TMP) + "/input_file";
  fs::remove_all(d);
  fs::create_directories(d);
  std::ofstream(d + "/locs.csv") << "frame,x,y\n1,2,3\n";
  fs::create_symlink(d + "/locs.csv", d + "/link.csv");
  fs::create_symlink(d + "/gone/locs.csv", d + "/dangling.csv");
  ASSERT_EQ(::mkfifo((d + "/pipe.csv").c_str(), 0600), 0);
  EXPECT_EQ(error_of(d + "/locs.csv"), "");
  EXPECT_EQ(error_of(d + "/link.csv"), "");     // a link to a file is that file
  EXPECT_EQ(error_of(d + "/missing.csv"), "");  // not there: the caller's open says so
  EXPECT_EQ(error_of(d + "/pipe.csv"),
            d + "/pipe.csv: is a named pipe (FIFO), which would be read only when something writes to it, not a table file");
  EXPECT_EQ(error_of(d), d + ": is a folder, not a table file");
  EXPECT_EQ(error_of(d + "/dangling.csv"), d + "/dangling.csv: is a link to " + d +
                                               "/gone/locs.csv, which does not exist (a share not mounted, or a file moved?)");
}
