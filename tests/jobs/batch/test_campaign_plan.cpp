#include <gtest/gtest.h>

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
  write(d + "/campaign.ini", "[campaign]\nrows = 2\ncols = 1\nfov-um = 5\noverlap-um = 1\n");
  write(d + "/positions.csv", "id,row,col,x_um,y_um\n0,0,0,0,0\n1,1,0,four,4\n");
  try {
    plan_fovs(read_campaign(d));
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("positions.csv:3"), std::string::npos) << e.what();
  }
}
