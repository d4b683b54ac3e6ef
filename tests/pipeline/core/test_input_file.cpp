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

// init-campaign asks about thousands of names, most of them not there: a folder is listed once and
// the names looked up in the listing.
TEST(FolderListing, SaysWhatAFolderHoldsFromOneListing) {
  const std::string d = std::string(ANNAMOSAIC_TEST_TMP) + "/folder_listing";
  fs::remove_all(d);
  fs::create_directories(d + "/row_1");
  std::ofstream(d + "/FoV_001.csv") << "frame,x,y\n";
  std::ofstream(d + "/row_1/FoV_002.TIF") << "";
  fs::create_symlink(d + "/gone.csv", d + "/dangling.csv");
  FolderListing listing;
  EXPECT_TRUE(listing.has(d + "/FoV_001.csv"));
  EXPECT_FALSE(listing.has(d + "/FoV_002.csv"));
  EXPECT_TRUE(listing.has(d + "/row_1"));                 // a folder is a name there too
  EXPECT_TRUE(listing.has(d + "/row_1/FoV_002.TIF"));     // a subfolder is listed on its own
  EXPECT_FALSE(listing.has(d + "/row_2/FoV_002.TIF"));    // a folder that is not there holds nothing
  EXPECT_TRUE(listing.has(d + "/dangling.csv"));          // a link to nothing: there, for the caller to say
  // Another spelling of a name there is looked at: here (case-sensitive) it is another file.
  EXPECT_FALSE(listing.has(d + "/FoV_001.CSV"));
  // Listed once: a file written after the first question about its folder is not seen.
  std::ofstream(d + "/FoV_003.csv") << "frame,x,y\n";
  EXPECT_FALSE(listing.has(d + "/FoV_003.csv"));
  EXPECT_TRUE(FolderListing().has(d + "/FoV_003.csv"));
}
