// How a run's log shows FoV warnings that many FoVs share.
#include <gtest/gtest.h>

#include "batch/repeated_warnings.hpp"

namespace annamosaic {
namespace {

std::string no_structure(int fov, int px) {
  return "widefield ignored: c/fov/" + std::to_string(fov) + "/widefield.tif shows no structure above its noise (" +
         std::to_string(px) + " px more than 5 x 2.1 counts above its background, of 77 needed): the A-net used the "
         "localizations alone";
}

TEST(RepeatedWarnings, KindIgnoresNumbersAndFoldersNotFileNames) {
  EXPECT_EQ(warning_kind(no_structure(3, 12)), warning_kind(no_structure(417, 0)));
  EXPECT_NE(warning_kind(no_structure(3, 12)), warning_kind("c/fov/3/locs.csv: 12 localizations lie outside the field"));
  // The same words about a table and about a widefield are two kinds.
  EXPECT_NE(warning_kind("c/fov/3/locs.csv changed while it was read (10 bytes before, 20 after)"),
            warning_kind("c/fov/3/widefield.tif changed while it was read (10 bytes before, 20 after)"));
  EXPECT_EQ(warning_gist(no_structure(3, 12)), "widefield ignored: c/fov/3/widefield.tif shows no structure above its noise");
  // A " (" soon after the start would cut what the warning is about: the first 160 characters.
  const std::string outside = "c/fov/0002/locs.csv: 3435 of 5484 localizations (62.6%) lie outside the FoV's field of 10 x "
                              "10 um (0..10000 nm): are the coordinates in the stage's frame rather than the camera's?";
  const std::string gist = warning_gist(outside);
  EXPECT_NE(gist.find("lie outside the FoV's field"), std::string::npos) << gist;
  EXPECT_LE(gist.size(), 160u);
  EXPECT_EQ(gist.substr(gist.size() - 3), "...");
  EXPECT_EQ(warning_gist("every pixel is 100: a blank image"), "every pixel is 100: a blank image");
}

TEST(RepeatedWarnings, TheFirstFewInFullThenShortenedAndCounted) {
  RepeatedWarnings log(2);
  EXPECT_EQ(log.line(3, no_structure(3, 12)), no_structure(3, 12));
  EXPECT_EQ(log.line(4, "c/fov/4/locs.csv: a different warning"), "c/fov/4/locs.csv: a different warning");
  EXPECT_EQ(log.line(5, no_structure(5, 1)), no_structure(5, 1));
  EXPECT_TRUE(log.summary().empty());  // nothing repeated beyond what was shown in full
  const std::string third = log.line(9, no_structure(9, 0));
  EXPECT_EQ(third, "widefield ignored: c/fov/9/widefield.tif shows no structure above its noise (as for FoV 3 above; "
                   "each FoV's full warning is in manifest.jsonl)");
  for (int id = 10; id < 20; ++id) log.line(id, no_structure(id, 0));
  const std::vector<std::string> summary = log.summary();
  ASSERT_EQ(summary.size(), 1u);
  EXPECT_EQ(summary[0], "13 FoVs warned alike (FoVs 3, 5, 9, 10, 11, ...), e.g. FoV 3: \"widefield ignored: "
                        "c/fov/3/widefield.tif shows no structure above its noise\"");
  // Out of order (ranks finish so): the smallest ids listed, the first seen as the example.
  RepeatedWarnings late(1);
  for (int id : {7, 6, 1, 5, 3, 9, 2}) late.line(id, no_structure(id, 0));
  EXPECT_EQ(late.summary().at(0).rfind("7 FoVs warned alike (FoVs 1, 2, 3, 5, 6, ...), e.g. FoV 7: ", 0), 0u) << late.summary().at(0);
  // A short warning is repeated as it is, not lengthened by the note.
  for (int id = 30; id < 34; ++id) EXPECT_EQ(log.line(id, "blank widefield"), "blank widefield");
}

}  // namespace
}  // namespace annamosaic
