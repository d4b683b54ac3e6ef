// A FoV's inputs are stamped just before they are read; one that changed meanwhile (still being
// written by the microscope or a copy) is said, and the older stamp makes the next run redo it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "batch/input_stamp.hpp"

namespace annamosaic {
namespace {

TEST(InputStamp, AFileThatChangedWhileItWasReadIsSaid) {
  const std::string dir = std::string(ANNAMOSAIC_TEST_TMP) + "/input_stamp";
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/locs.csv";
  std::ofstream(path) << "frame,x_nm,y_nm\n1,10,20\n";
  const nlohmann::json stamp = stamp_input(path, dir);
  ASSERT_FALSE(stamp.is_null());
  EXPECT_EQ(changed_while_read(stamp, path), "");  // read as it was stamped
  std::ofstream(path, std::ios::app) << "2,11,21\n";  // the writer appended a row meanwhile
  const std::string note = changed_while_read(stamp, path);
  EXPECT_NE(note.find(path + " changed while it was read (24 bytes before, 32 after)"), std::string::npos) << note;
  // The next run compares the files with the stamp kept, the one taken before the read: redone.
  EXPECT_NE(compare_input(stamp, path, dir).change, "");
  EXPECT_EQ(changed_while_read(nullptr, path), "");  // no stamp (no file when stamped): the read said why
}

}  // namespace
}  // namespace annamosaic
