// A whole (small) campaign on disk: layout, reproducibility, and overlap consistency.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "imageio/tiff_io.hpp"
#include "imgproc/filters.hpp"
#include "loc/table_reader.hpp"
#include "render/render.hpp"
#include "sim/campaign.hpp"

using namespace annamosaic;
namespace fs = std::filesystem;

namespace {
CampaignOptions small(std::uint64_t seed) {
  CampaignOptions o;
  o.seed = seed;
  o.grid.rows = 2;
  o.grid.cols = 2;
  o.grid.fov_um = 8.0;
  o.grid.overlap_um = 1.0;
  o.grid.jitter_um = 0.3;
  o.grid.seed = seed;
  o.specimen.cell_fraction = 1.0;
  o.specimen.cell_spacing_um = 100;
  o.specimen.cell_radius_um = 200;
  o.specimen.gradient = 0;
  o.specimen.filaments_per_100um2 = 25;
  o.blinking.detections_per_label = 30;
  return o;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::string dir(const std::string& name) {
  const std::string d = std::string(ANNAMOSAIC_TEST_TMP) + "/" + name;
  fs::remove_all(d);
  return d;
}
}  // namespace

TEST(Campaign, WritesTheDocumentedLayout) {
  const std::string d = dir("layout");
  const CampaignSummary s = simulate_campaign(small(1), d);
  EXPECT_EQ(s.fovs, 4u);
  for (const char* f : {"campaign.ini", "positions.csv", "ground_truth/positions.csv", "fov/0000/locs.csv",
                        "fov/0003/widefield.tif", "ground_truth/perfect/0002.tif"})
    EXPECT_TRUE(fs::exists(d + "/" + f)) << f;
  const auto truth = read_ground_truth(d);
  ASSERT_EQ(truth.size(), 4u);
  const LocTable t = read_table(d + "/fov/0001/locs.csv", {});
  EXPECT_EQ(t.size(), truth[1].localizations);
  const TiffInfo wf = read_tiff_info(d + "/fov/0001/widefield.tif");
  EXPECT_EQ(wf.pages, 5u);
  EXPECT_EQ(wf.bits_per_sample, 16);
  EXPECT_NEAR(wf.pixel_nm, 108.0, 1e-4);  // TIFF rationals
  EXPECT_EQ(wf.width, static_cast<std::size_t>(std::ceil(8000 / 108.0)));
  for (const auto& e : fs::recursive_directory_iterator(d))
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();
}

// Too many photons per label for a 16-bit camera: the widefield's brightest structure clips at
// 65535 ADU, and each FoV's count of such pixels tells `simulate` to say so.
TEST(Campaign, SaturatedWidefieldPixelsAreCounted) {
  for (const double photons : {20.0, 1e5}) {
    CampaignOptions o = small(1);
    o.grid.rows = o.grid.cols = 1;
    o.write_perfect = false;
    o.widefield.photons_per_label = photons;
    std::size_t saturated = 0, pixels = 0;
    const std::string d = dir("saturation");
    simulate_campaign(o, d, [&](const FovTruth& t) {
      saturated = t.widefield_saturated_px;
      pixels = t.widefield_px;
    });
    EXPECT_EQ(pixels, 5u * 75 * 75);  // 5 frames of an 8 um field at 108 nm
    if (photons < 100)
      EXPECT_EQ(saturated, 0u);
    else
      EXPECT_GT(saturated, 0u);
    std::size_t at_ceiling = 0;
    for (std::size_t page = 0; page < 5; ++page) {
      const ImageF wf = read_tiff(d + "/fov/0000/widefield.tif", page);
      at_ceiling += static_cast<std::size_t>(std::count(wf.data(), wf.data() + wf.size(), 65535.0f));
    }
    EXPECT_EQ(at_ceiling, saturated);  // what the file holds
  }
}

TEST(Campaign, SameSeedSameBytesOtherSeedOtherBytes) {
  const std::string a = dir("seed_a"), b = dir("seed_b"), c = dir("seed_c");
  simulate_campaign(small(5), a);
  simulate_campaign(small(5), b);
  simulate_campaign(small(6), c);
  int files = 0;
  for (const auto& e : fs::recursive_directory_iterator(a)) {
    if (!e.is_regular_file()) continue;
    const fs::path rel = fs::relative(e.path(), a);
    EXPECT_EQ(slurp(e.path()), slurp(fs::path(b) / rel)) << rel;
    ++files;
  }
  EXPECT_GE(files, 4 * 3 + 3);
  EXPECT_NE(slurp(a + "/fov/0000/locs.csv"), slurp(c + "/fov/0000/locs.csv"));
}

// A simulation again into a simulated folder, cut short after its first FoV (a kill; here an
// exception from the FoV callback): the earlier positions and truth must not stay beside a mix of
// two simulations' FoVs, as if complete (probe50).
TEST(Campaign, AnInterruptedSimulationAgainLeavesNoCompleteLookingFolder) {
  const std::string d = dir("again");
  simulate_campaign(small(5), d);
  ASSERT_TRUE(fs::exists(d + "/positions.csv"));
  CampaignOptions o = small(6);
  EXPECT_THROW(simulate_campaign(o, d, [](const FovTruth&) { throw std::runtime_error("killed"); }), std::runtime_error);
  for (const char* marker : {"positions.csv", "campaign.ini", "ground_truth/positions.csv"})
    EXPECT_FALSE(fs::exists(d + "/" + marker)) << marker;
  simulate_campaign(small(6), d);  // and simulating there again makes a whole campaign
  EXPECT_TRUE(fs::exists(d + "/positions.csv"));
}

TEST(Campaign, NeighbouringFovsAgreeInTheirOverlapOnceShiftedByTheTrueOffset) {
  const std::string d = dir("overlap");
  simulate_campaign(small(3), d);
  const auto truth = read_ground_truth(d);
  // FoV 0 is (row 0, col 0), FoV 1 is (row 0, col 1) in snake order.
  const FovPlacement& p0 = truth[0].placement;
  const FovPlacement& p1 = truth[1].placement;
  ASSERT_EQ(p1.col, 1);
  // The true overlap strip in specimen coordinates, minus a margin for the jitter in y.
  const double x0 = p1.true_x_um * 1000, x1 = (p0.true_x_um + 8.0) * 1000;
  const double y0 = std::max(p0.true_y_um, p1.true_y_um) * 1000, y1 = std::min(p0.true_y_um, p1.true_y_um) * 1000 + 8000;
  ASSERT_GT(x1 - x0, 200.0);
  const double px = 20;
  auto strip = [&](int id, const FovPlacement& p) {
    const LocTable t = read_table(d + "/fov/000" + std::to_string(id) + "/locs.csv", {});
    const Field f{x0 - p.true_x_um * 1000, y0 - p.true_y_um * 1000, x1 - x0, y1 - y0};  // FoV-local field
    const ImageF img = render(t, f, RenderOptions{px, {}, 0});
    return gaussian_blur(img.view(), 1.5);
  };
  const ImageF a = strip(0, p0), b = strip(1, p1);
  ASSERT_EQ(a.size(), b.size());
  double ma = 0, mb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) ma += a.data()[i], mb += b.data()[i];
  ma /= a.size();
  mb /= b.size();
  double sab = 0, saa = 0, sbb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double u = a.data()[i] - ma, v = b.data()[i] - mb;
    sab += u * v, saa += u * u, sbb += v * v;
  }
  ASSERT_GT(saa, 0);
  EXPECT_GT(sab / std::sqrt(saa * sbb), 0.9);
}

// The first widefield frames are blurred by the stage still arriving from the FoV acquired before:
// along x within a row (either way in a snake), along y at a row change. The blurred frame matches
// the still one best shifted by about half the travel, against the stage's move.
TEST(Campaign, MotionBlurFollowsTheStagesMoveFromTheFovBefore) {
  const std::string d = dir("motion");
  CampaignOptions o = small(5);
  o.widefield.noise = false;
  o.grid.jitter_um = 0;
  simulate_campaign(o, d);
  const double half_travel_px = o.widefield.motion_blur_um * 1000 / o.widefield.camera_pixel_nm / 2;  // 9.3
  // Snake order: 0 (row 0, col 0), 1 (0, 1), 2 (1, 1), 3 (1, 0). FoV 0 has no move before it: +x.
  const std::vector<std::pair<int, int>> want = {{-1, 0}, {1, 0}, {0, 1}, {-1, 0}};
  for (int id = 0; id < 4; ++id) {
    SCOPED_TRACE(id);
    const std::string wf = d + "/fov/000" + std::to_string(id) + "/widefield.tif";
    const ImageF blurred = read_tiff(wf, 0), still = read_tiff(wf, 4);
    const long w = static_cast<long>(still.width()), h = static_cast<long>(still.height());
    // Sum of squared differences between the blurred frame and the still one shifted by (sx, sy),
    // over the pixels both cover away from the edges.
    const auto ssd = [&](long sx, long sy) {
      double s = 0;
      for (long y = 15; y < h - 15; ++y)
        for (long x = 15; x < w - 15; ++x) {
          const double v = blurred(x, y) - still(x - sx, y - sy);
          s += v * v;
        }
      return s;
    };
    long best_x = 0, best_y = 0;
    double best = ssd(0, 0);
    for (long k = -14; k <= 14; ++k)
      for (const auto& [sx, sy] : {std::pair{k, 0L}, std::pair{0L, k}})
        if (const double v = ssd(sx, sy); v < best) best = v, best_x = sx, best_y = sy;
    // On the move's axis, on its side, and of the order of half the travel (the best single shift
    // for a box blur is not its centre exactly: 9 to 12 px here).
    const long along = want[id].first != 0 ? best_x * want[id].first : best_y * want[id].second;
    const long across = want[id].first != 0 ? best_y : best_x;
    EXPECT_EQ(across, 0);
    EXPECT_GT(along, 0.5 * half_travel_px);
    EXPECT_LT(along, 1.5 * half_travel_px);
  }
}
