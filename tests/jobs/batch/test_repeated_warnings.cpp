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

TEST(RepeatedWarnings, KindIgnoresNumbersAndPaths) {
  EXPECT_EQ(warning_kind(no_structure(3, 12)), warning_kind(no_structure(417, 0)));
  EXPECT_NE(warning_kind(no_structure(3, 12)), warning_kind("c/fov/3/locs.csv: 12 localizations lie outside the field"));
  EXPECT_EQ(warning_gist(no_structure(3, 12)), "widefield ignored: c/fov/3/widefield.tif shows no structure above its noise");
  EXPECT_EQ(warning_gist(std::string(300, 'x')).size(), 160u);
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
  EXPECT_EQ(summary[0], "13 FoVs warned alike: \"widefield ignored: c/fov/3/widefield.tif shows no structure above its "
                        "noise\" (FoVs 3, 5, 9, 10, 11, ...)");
}

}  // namespace
}  // namespace annamosaic
