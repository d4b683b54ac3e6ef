#include <gtest/gtest.h>
#include <fmt/format.h>

#include <filesystem>
#include <fstream>

#include "batch/campaign.hpp"
#include "core/error.hpp"
#include "sim/campaign.hpp"

using namespace annamosaic;
namespace fs = std::filesystem;

namespace {
std::string small_campaign() {
  const std::string d = std::string(ANNAMOSAIC_TEST_TMP) + "/plan_campaign";
  if (fs::exists(d + "/positions.csv")) return d;
  CampaignOptions o;
  o.grid.rows = 2;
  o.grid.cols = 3;
  o.grid.fov_um = 6;
  o.write_perfect = false;
  simulate_campaign(o, d);
  return d;
}
void write(const std::string& p, const std::string& s) { std::ofstream(p) << s; }
}  // namespace

TEST(CampaignPlan, ReadsWhatTheSimulatorWrites) {
  const std::string d = small_campaign();
  const CampaignInfo c = read_campaign(d);
  EXPECT_EQ(c.rows, 2);
  EXPECT_EQ(c.cols, 3);
  EXPECT_DOUBLE_EQ(c.fov_um, 6.0);
  EXPECT_EQ(c.widefield_frames, "3-5");
  EXPECT_TRUE(c.camera_pixel_nm_given);  // px tables in this campaign use it
  EXPECT_EQ(c.frame_base, 1);            // the simulator numbers frames from 1, and says so
  const auto fovs = plan_fovs(c);
  ASSERT_EQ(fovs.size(), 6u);
  EXPECT_EQ(fovs[4].table_path, d + "/fov/0004/locs.csv");
  EXPECT_EQ(fovs[4].widefield_path, d + "/fov/0004/widefield.tif");
  EXPECT_GT(fovs[0].cost, 0u);
  const auto order = largest_first(fovs);
  for (std::size_t i = 1; i < order.size(); ++i) EXPECT_GE(fovs[order[i - 1]].cost, fovs[order[i]].cost);
}

TEST(CampaignPlan, PatternsAndErrorsNameTheFile) {
  EXPECT_EQ(expand_pattern("a/{id}/b_{id}.csv", 7), "a/0007/b_0007.csv");
  const std::string d = std::string(ANNAMOSAIC_TEST_TMP) + "/bad_campaign";
  fs::create_directories(d);
  write(d + "/campaign.ini", "[campaign]\nrows = 2\ncols = x\nfov-um = 5\noverlap-um = 1\n");
  try {
    read_campaign(d);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("campaign.ini:3"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'cols'"), std::string::npos) << e.what();
  }
  write(d + "/campaign.ini", "[campaign]\nrows = 2\ncols = 1\nfov-um = 5\noverlap-um = 1\ncolour = red\n");
  EXPECT_THROW(read_campaign(d), InputError);
  // A key given twice (the last one silently winning ran a campaign without its widefields), a
  // section typo and a quoted value are refused by line; a comment after a value is fine.
  const auto error_of = [&](const std::string& text) {
    write(d + "/campaign.ini", text);
    try {
      read_campaign(d);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  const std::string ok = "[campaign]\nrows = 2\ncols = 1\nfov-um = 5  # um\noverlap-um = 1\n";
  EXPECT_EQ(error_of(ok), "");
  EXPECT_NE(error_of(ok + "widefield = fov/{id}/wf.tif\nwidefield = none\n").find("campaign.ini:7: 'widefield' is given twice (lines 6 and 7)"),
            std::string::npos);
  EXPECT_NE(error_of("[Campaign]\nrows = 2\n").find("campaign.ini:2: unknown section [Campaign]"), std::string::npos);
  // A key written by hand another way ("fov_um") is named by its line, not said missing (probe72).
  EXPECT_NE(error_of("[campaign]\nrows = 2\ncols = 1\nfov_um = 5\noverlap-um = 1\n")
                .find("campaign.ini:4: 'fov_um': write it 'fov-um' (the keys are lower case, words joined by -)"),
            std::string::npos) << error_of("[campaign]\nrows = 2\ncols = 1\nfov_um = 5\noverlap-um = 1\n");
  EXPECT_NE(error_of(ok + "Camera_Pixel_nm = 108\n").find("campaign.ini:6: 'Camera_Pixel_nm': write it 'camera-pixel-nm'"),
            std::string::npos);
  EXPECT_EQ(error_of(ok + "table = \"t/{id}.csv\"\n"), "");  // quotes as a shell reads them
  EXPECT_EQ(read_campaign(d).table_pattern, "t/{id}.csv");
  EXPECT_NE(error_of(ok + "table = \"t/{id}.csv\n").find("campaign.ini:6: the value of 'table' opens a quote"), std::string::npos);
  // frame-base is the first frame's number: 0 or 1, nothing else (a 2 would drop a frame unseen).
  EXPECT_EQ(error_of(ok + "frame-base = 0\n"), "");
  EXPECT_EQ(read_campaign(d).frame_base, 0);
  EXPECT_NE(error_of(ok + "frame-base = 2\n").find("campaign.ini:6: frame-base must be 0 or 1"), std::string::npos);
  EXPECT_EQ(error_of(ok), "");
  EXPECT_EQ(read_campaign(d).frame_base, -1);  // not said: guessed per table
  // Values init-campaign refuses are refused here too, by line: an overlap as wide as the FoV
  // (or in nm) blended the whole mosaic to zeros; a camera pixel of 0 dropped every widefield.
  const std::string grid = "[campaign]\nrows = 2\ncols = 1\nfov-um = 5\n";
  EXPECT_NE(error_of(grid + "overlap-um = 5\n").find("campaign.ini:5: overlap-um must be >= 0 and less than fov-um (5 um), not 5"),
            std::string::npos) << error_of(grid + "overlap-um = 5\n");
  EXPECT_NE(error_of(grid + "overlap-um = 1e30\n").find("overlap-um must be"), std::string::npos);
  EXPECT_NE(error_of(grid + "overlap-um = -1\n").find("overlap-um must be"), std::string::npos);
  EXPECT_EQ(error_of(grid + "overlap-um = 0\n"), "");
  EXPECT_NE(error_of(ok + "camera-pixel-nm = 0\n").find("campaign.ini:6: camera-pixel-nm must be > 0"), std::string::npos);
  EXPECT_NE(error_of(ok + "camera-pixel-nm = -108\n").find("camera-pixel-nm must be > 0"), std::string::npos);
  // A camera pixel in um (0.108) or pm is no camera pixel in nm: refused with the value it meant.
  const std::string um = error_of(ok + "camera-pixel-nm = 0.108\n");
  EXPECT_NE(um.find("campaign.ini:6: camera-pixel-nm 0.108 is below 10 nm"), std::string::npos) << um;
  EXPECT_NE(um.find("is the value in um? Give nm (0.108 um is 108 nm)"), std::string::npos) << um;
  // Above: the sensor's own pixel, not divided by the magnification (an EMCCD's 16 um); from 1e5
  // nm a value in pm too.
  const std::string sensor = error_of(ok + "camera-pixel-nm = 16000\n");
  EXPECT_NE(sensor.find("is it the sensor's own pixel? Divide it by the magnification at the camera (e.g. 16000 / 100 = 160 nm)"),
            std::string::npos) << sensor;
  EXPECT_EQ(sensor.find(" pm"), std::string::npos) << sensor;
  EXPECT_NE(error_of(ok + "camera-pixel-nm = 108000\n").find("or is the value in pm (108000 pm is 108 nm)?"), std::string::npos);
  EXPECT_EQ(camera_pixel_slip(32.5), "");  // 6.5 um camera pixels behind 200x
  EXPECT_EQ(camera_pixel_slip(1625), "");  // behind a 4x objective
  EXPECT_EQ(error_of(ok + "camera-pixel-nm = 108\n"), "");
  EXPECT_NE(error_of(ok + "order = spiral\n").find("campaign.ini:6: order must be raster or snake"), std::string::npos);
  EXPECT_EQ(error_of(ok + "order = snake\n"), "");
  EXPECT_NE(error_of(ok + "frames = -1\n").find("campaign.ini:6: frames must be >= 0"), std::string::npos);
  // An empty pattern named the campaign folder as every FoV's widefield, and each FoV failed on
  // it; a pattern without {id}, {row} or {col} gives every FoV one file (probe47).
  EXPECT_NE(error_of(ok + "widefield =\n").find("campaign.ini:6: widefield is empty: give the pattern of each FoV's file"),
            std::string::npos) << error_of(ok + "widefield =\n");
  EXPECT_NE(error_of(ok + "widefield =\n").find("or none for a campaign without widefields"), std::string::npos);
  EXPECT_NE(error_of(ok + "table = \"\"\n").find("campaign.ini:6: table is empty"), std::string::npos);
  EXPECT_NE(error_of(ok + "table = all.csv\n").find("campaign.ini:6: table = 'all.csv' names the same file for every FoV"),
            std::string::npos);
  EXPECT_EQ(error_of(ok + "table = r{row}.csv\n"), "");  // one column: {row} tells the FoVs apart
  EXPECT_NE(error_of(ok + "table = fov/{id/locs.csv\n").find("campaign.ini:6: table = fov/{id/locs.csv: "), std::string::npos)
      << error_of(ok + "table = fov/{id/locs.csv\n");
  EXPECT_NE(error_of(ok + "table = fov/{ID}/locs.csv\n").find("campaign.ini:6: table = fov/{ID}/locs.csv: "), std::string::npos)
      << error_of(ok + "table = fov/{ID}/locs.csv\n");
  EXPECT_NE(error_of(ok + "positions =\n").find("campaign.ini:6: positions is empty"), std::string::npos);
  EXPECT_EQ(error_of(ok + "widefield = none\n"), "");
  EXPECT_EQ(error_of("[campaign]\nrows = 1\ncols = 1\nfov-um = 5\noverlap-um = 1\ntable = all.csv\n"), "");  // one FoV
  EXPECT_NE(error_of("[campaign]\nrows = 100000\ncols = 100000\nfov-um = 5\noverlap-um = 1\n")
                .find("campaign.ini:2: rows x cols = 100000 x 100000 = 10000000000 FoVs, more than the 1000000"),
            std::string::npos);
  EXPECT_NE(error_of("[campaign]\nrows = 2\ncols = 1\nfov-um = 1e9\noverlap-um = 1\n").find("fov-um must be > 0 and at most 1000"),
            std::string::npos);
  write(d + "/campaign.ini", "[campaign]\nrows = 2\ncols = 1\nfov-um = 5\noverlap-um = 1\n");
  write(d + "/positions.csv", "id,row,col,x_um,y_um\n0,0,0,0,0\n1,1,0,four,4\n");
  try {
    plan_fovs(read_campaign(d));
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("positions.csv:3"), std::string::npos) << e.what();
  }
}

// Data kept elsewhere: absolute patterns (and positions) are used as they are, not joined to the
// campaign folder ("campaign//data/..." named no file).
TEST(CampaignPlan, AbsolutePatternsNameFilesOutsideTheCampaign) {
  const std::string data = fs::absolute(small_campaign()).string();
  const std::string d = std::string(ANNAMOSAIC_TEST_TMP) + "/plan_elsewhere";
  fs::remove_all(d);
  fs::create_directories(d);
  write(d + "/campaign.ini", "[campaign]\nrows = 2\ncols = 3\nfov-um = 6\noverlap-um = 1\ntable = " + data +
                                 "/fov/{id}/locs.csv\nwidefield = " + data + "/fov/{id}/widefield.tif\npositions = " + data +
                                 "/positions.csv\n");
  const std::vector<FovEntry> fovs = plan_fovs(read_campaign(d));
  ASSERT_EQ(fovs.size(), 6u);
  EXPECT_EQ(fovs[0].table_path, data + "/fov/0000/locs.csv");
  EXPECT_EQ(fovs[0].widefield_path, data + "/fov/0000/widefield.tif");
  EXPECT_TRUE(fs::exists(fovs[5].table_path));
}

// Positions a user writes by hand: any column order, a byte-order mark and {id:d} patterns are
// fine; a duplicate id, a FoV off the grid, nm instead of um or rows against y are refused,
// each naming the file and what to change.
TEST(CampaignPlan, HandWrittenPositionsAreReadOrRefusedWithTheReason) {
  const std::string d = std::string(ANNAMOSAIC_TEST_TMP) + "/hand_campaign";
  fs::create_directories(d);
  write(d + "/campaign.ini", "\xEF\xBB\xBF[campaign]\nrows = 2\ncols = 2\nfov-um = 5\noverlap-um = 1\ntable = t/locs_{id:d}.csv\n");
  const CampaignInfo c = read_campaign(d);
  EXPECT_FALSE(c.camera_pixel_nm_given);  // run then takes a px table's camera pixel from the command line only
  write(d + "/positions.csv", "\xEF\xBB\xBFx_um, y_um, id, row, col\n0,0,0,0,0\n4.1,0,1,0,1\n0,3.9,2,1,0\n4,4,3,1,1\n");
  const auto fovs = plan_fovs(c);
  ASSERT_EQ(fovs.size(), 4u);
  EXPECT_EQ(fovs[3].col, 1);
  EXPECT_DOUBLE_EQ(fovs[1].x_um, 4.1);
  EXPECT_EQ(fovs[2].table_path, d + "/t/locs_2.csv");
  const auto refused = [&](const std::string& positions, const std::string& expected) {
    write(d + "/positions.csv", positions);
    try {
      plan_fovs(c);
      ADD_FAILURE() << "accepted: " << positions;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("positions.csv"), std::string::npos) << e.what();
    }
  };
  refused("id,row,col,x_um,y_um\n0,0,0,0,0\n0,0,1,4,0\n", "duplicate id 0");
  refused("id,row,col,x_um,y_um,x_um\n0,0,0,0,0,99\n1,0,1,4,0,99\n", "column 'x_um' appears twice");
  refused("id,row,col,x_um,y_um\n0,0,0,0,0\n1,0,2,8,0\n", "outside the campaign's 2 x 2 grid");
  refused("id,row,col,x_um,y_um\n0,1,1,0,0\n1,1,2,4,0\n", "every row and col here is 1 or more, as if counted from 1");
  refused("id,row,col,x_um,y_um\n0,0,0,0,0\n1,0,1,4000,0\n", "positions in another unit (nm, or camera or stage pixels?)");
  // Camera pixels of 108 nm (4 um = 37 px): 9 times the pitch, refused too.
  refused("id,row,col,x_um,y_um\n0,0,0,0,0\n1,0,1,37.04,0\n", "a median 37.04 um apart (9.26 x), but fov-um - overlap-um = 4 um");
  // One position mistyped in a 2 x 2 grid (40 for 4): that FoV is named, not the unit blamed.
  refused("id,row,col,x_um,y_um\n0,0,0,0,0\n1,0,1,40,0\n2,1,0,0,4\n3,1,1,4,4\n",
          "FoV 1 (row 0, col 1) at x 40, y 0 um is 38 um from its grid neighbours, while every other step is within 1.5x "
          "of fov-um - overlap-um = 4 um: a mistyped position?");
  // A table added after positions.csv was written (here t/locs_7.csv) is not run: said, by name.
  fs::create_directories(d + "/t");
  for (const char* f : {"/t/locs_0.csv", "/t/locs_1.csv", "/t/locs_7.csv", "/t/notes.csv"}) write(d + f, "frame,x,y\n");
  // Steps that leave a gap (5.5 um for FoVs of 5), or an overlap unlike overlap-um (2 um, not 1): said.
  const auto warned = [&](const std::string& positions) {
    write(d + "/positions.csv", positions);
    std::vector<std::string> w;
    plan_fovs(c, &w);
    std::string all;
    for (const auto& x : w) all += x + "\n";
    return all;
  };
  const std::string gap = warned("id,row,col,x_um,y_um\n0,0,0,0,0\n1,0,1,5.5,0\n2,1,0,0,5.5\n");
  EXPECT_NE(gap.find("a median 5.5 um apart along the rows and down the columns, and a FoV is 5 um wide: the positions leave "
                     "no overlap (a gap of 0.5 um)"),
            std::string::npos)
      << gap;
  const std::string other = warned("id,row,col,x_um,y_um\n0,0,0,0,0\n1,0,1,3,0\n");
  EXPECT_NE(other.find("a median 3 um apart along the rows, an overlap of 2 um, but campaign.ini's overlap-um is 1"),
            std::string::npos)
      << other;
  // The overlap is along the step's axis: a stage error across it (1 um in y here) does not narrow
  // it (the diagonal, 3.16 um, said an overlap of 1.84 um; probe63).
  const std::string skewed = warned("id,row,col,x_um,y_um\n0,0,0,0,0\n1,0,1,3,1\n");
  EXPECT_NE(skewed.find("a median 3 um apart along the rows, an overlap of 2 um"), std::string::npos) << skewed;
  EXPECT_EQ(warned("id,row,col,x_um,y_um\n0,0,0,0,0\n1,0,1,4.1,0\n").find("overlap"), std::string::npos);
  write(d + "/positions.csv", "id,row,col,x_um,y_um\n0,0,0,0,0\n1,0,1,4,0\n");
  std::vector<std::string> unlisted;
  EXPECT_EQ(plan_fovs(c, &unlisted).size(), 2u);
  ASSERT_EQ(unlisted.size(), 1u);
  EXPECT_NE(unlisted[0].find("1 table(s) match the campaign's tables (t/locs_{id:d}.csv) but positions.csv lists no FoV "
                             "for them, so they are not run: t/locs_7.csv"),
            std::string::npos)
      << unlisted[0];
  EXPECT_EQ(unlisted_tables(c, plan_fovs(c)), std::vector<std::string>{"t/locs_7.csv"});
  fs::remove_all(d + "/t");
  // Rows numbered bottom-up (the stage's y points up): allowed, the stitcher follows the
  // positions, but said.
  write(d + "/positions.csv", "id,row,col,x_um,y_um\n0,0,0,0,0\n1,1,0,0,-4\n");
  std::vector<std::string> warnings;
  EXPECT_EQ(plan_fovs(c, &warnings).size(), 2u);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("y_um decreases as row increases"), std::string::npos) << warnings[0];
  // A transposed grid (rows along x: x_um and y_um swapped?) is still at the right distances:
  // accepted, as given, with one warning that names the swap (not two about decreasing axes).
  write(d + "/positions.csv", "id,row,col,x_um,y_um\n0,0,0,0,0\n1,1,0,4,0\n2,0,1,0,4\n");
  warnings.clear();
  EXPECT_EQ(plan_fovs(c, &warnings).size(), 3u);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("the step to the next col goes mostly in y (median 4 um, against 0 um in x): x_um and y_um "
                             "swapped, or rows and cols?"),
            std::string::npos)
      << warnings[0];
  refused("id\trow\tcol\tx_um\ty_um\n0\t0\t0\t0\t0\n", "comma-separated");
}

TEST(CampaignPlan, APositionItsRowAndColDoNotExplainIsRefused) {
  // A 3 x 3 campaign whose FoV 4 got FoV 5's line (a user's probe: placed over FoV 5, exit 0).
  const std::string d = std::string(ANNAMOSAIC_TEST_TMP) + "/misfit_campaign";
  fs::create_directories(d);
  write(d + "/campaign.ini", "[campaign]\nrows = 3\ncols = 3\nfov-um = 10\noverlap-um = 1\ntable = locs_{id}.csv\n");
  std::string positions = "id,row,col,x_um,y_um\n";
  for (int id = 0; id < 9; ++id)
    positions += fmt::format("{},{},{},{},{}\n", id, id / 3, id % 3, id == 4 ? 18 : 9 * (id % 3), 9 * (id / 3));
  write(d + "/positions.csv", positions);
  try {
    plan_fovs(read_campaign(d));
    ADD_FAILURE() << "accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(d + "/positions.csv: FoV 4 (row 1, col 1) is at x 18, y 9 um, 9 um (1 step) from "
                                         "x 9, y 9 um where the other FoVs' steps put its row and col, the position of FoV 5"),
              std::string::npos)
        << e.what();
  }
}

TEST(CampaignPlan, OffGridPlaceTakesMeasuredPositionsOffTheGridAsGiven) {
  // Rows 1 and 3 of a 4 x 4 campaign acquired 6 um (two thirds of a step) to the right: refused
  // with the key that allows it, then run where the positions say, with a warning.
  const std::string d = std::string(ANNAMOSAIC_TEST_TMP) + "/brick_campaign";
  fs::create_directories(d);
  const std::string ini = "[campaign]\nrows = 4\ncols = 4\nfov-um = 10\noverlap-um = 1\ntable = locs_{id}.csv\n";
  write(d + "/campaign.ini", ini);
  std::string positions = "id,row,col,x_um,y_um\n";
  for (int id = 0; id < 16; ++id) positions += fmt::format("{},{},{},{},{}\n", id, id / 4, id % 4, 9 * (id % 4) + 6 * (id / 4 % 2), 9 * (id / 4));
  write(d + "/positions.csv", positions);
  try {
    plan_fovs(read_campaign(d));
    ADD_FAILURE() << "accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("set off-grid = place in " + d + "/campaign.ini"), std::string::npos) << e.what();
  }
  write(d + "/campaign.ini", ini + "off-grid = place\n");
  std::vector<std::string> warnings;
  const auto fovs = plan_fovs(read_campaign(d), &warnings);
  ASSERT_EQ(fovs.size(), 16u);
  ASSERT_FALSE(warnings.empty());
  EXPECT_NE(warnings[0].find("positions.csv: the positions follow no single grid: 16 of 16 tiles lie more than half a step"),
            std::string::npos) << warnings[0];
  write(d + "/campaign.ini", ini + "off-grid = yes\n");
  try {
    read_campaign(d);
    ADD_FAILURE() << "accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("campaign.ini:7: off-grid must be refuse or place"), std::string::npos) << e.what();
  }
}

TEST(CampaignPlan, AWidefieldReadAtItsTagsPixelIsSaidApartFromTheOddSizes) {
  // 25 um FoVs: 232 px of 108 nm, and FoV 1's 2 x 2 binned (116 px tagged 216 nm), as the FoV stage reads it.
  std::vector<WidefieldSize> sizes = {{0, 232, 232, 108}, {1, 116, 116, 216}, {2, 232, 232, 0}, {3, 232, 232, 108}};
  const auto w = widefield_size_warnings(sizes, 108, 25, true);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("1 widefield(s) are read at their resolution tags' pixel, with which they span the FoV, a whole "
                      "multiple of camera-pixel-nm 108 (binned): FoV 1 (116 x 116 at 216 nm)"),
            std::string::npos) << w[0];
  EXPECT_TRUE(widefield_read_at_tag(116, 116, 216, 108, 25));
  EXPECT_FALSE(widefield_read_at_tag(232, 232, 216, 108, 25));  // camera-pixel-nm fits: the tags are not used
  EXPECT_FALSE(widefield_read_at_tag(156, 156, 160, 108, 25));  // not binned: the pixel given stands against the tags
  sizes[1].tag_nm = 0;                                          // untagged: another size, said so
  const auto untagged = widefield_size_warnings(sizes, 108, 25, true);
  ASSERT_EQ(untagged.size(), 1u);
  EXPECT_NE(untagged[0].find("1 of 4 widefields are not 232 x 232 px like the others (FoV 1 (116 x 116))"), std::string::npos)
      << untagged[0];
}

TEST(CampaignPlan, AWidefieldThatDoesNotCoverTheFieldIsSaid) {
  // 232 px of 108 nm cover 25.1 um: a 25 um FoV. The same camera said to be 160 nm: 37 um.
  EXPECT_EQ(widefield_extent_mismatch(232, 232, 108, 25, true), "");
  EXPECT_EQ(widefield_extent_mismatch(240, 226, 108, 25, true), "");  // a few % cropped either way
  const std::string w = widefield_extent_mismatch(232, 232, 160, 25, false);
  EXPECT_NE(w.find("cover 37.1 x 37.1 um, the FoVs 25 um"), std::string::npos) << w;
  EXPECT_NE(w.find("camera-pixel-nm 160 (the default)"), std::string::npos) << w;
  EXPECT_NE(w.find("107.8 nm would fit"), std::string::npos) << w;
  // One axis off is enough; then no camera pixel fits both sides, and none is suggested.
  const std::string roi = widefield_extent_mismatch(232, 100, 108, 25, true);
  EXPECT_NE(roi.find("but the FoVs are square, 25 um a side (fov-um): a camera ROI cropped on one side?"), std::string::npos)
      << roi;
  EXPECT_EQ(roi.find("would fit"), std::string::npos) << roi;
}

TEST(CampaignPlan, WidefieldSizesAreSaidOnceForTheCampaign) {
  // Nine FoVs of 232 x 232 px at 108 nm (25 um): nothing to say.
  std::vector<WidefieldSize> sizes;
  for (int id = 0; id < 9; ++id) sizes.push_back({id, 232, 232});
  EXPECT_TRUE(widefield_size_warnings(sizes, 108, 25, true).empty());
  // Two of another size: named, once.
  sizes[3] = {3, 464, 464};
  sizes[7] = {7, 116, 116};
  auto w = widefield_size_warnings(sizes, 108, 25, true);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("2 of 9 widefields are not 232 x 232 px like the others (FoV 3 (464 x 464), FoV 7 (116 x 116))"),
            std::string::npos)
      << w[0];
  // The whole campaign at a wrong camera pixel: one line for all FoVs, not one per FoV.
  for (auto& s : sizes) s.width_px = s.height_px = 232;
  w = widefield_size_warnings(sizes, 160, 25, false);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].rfind("every FoV's widefield images of 232 x 232 px at camera-pixel-nm 160 (the default)", 0), 0u) << w[0];
}
