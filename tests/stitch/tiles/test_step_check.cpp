#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>

#include "synthetic_grid.hpp"
#include "tiles/step_check.hpp"

using namespace annamosaic;

namespace {
// The grid's tiles again, with positions whose step is `step_px` (a wrong overlap-um writes such).
MemoryTileSource with_step(const TileSource& src, double step_px) {
  MemoryTileSource out({"image"}, src.pixel_nm());
  for (std::size_t i = 0; i < src.size(); ++i) {
    TileInfo t = src.info(i);
    t.x_um = t.col * step_px * src.pixel_nm() / 1000.0, t.y_um = t.row * step_px * src.pixel_nm() / 1000.0;
    std::vector<ImageF> ch;
    ch.push_back(src.load(i, 0));
    out.add(t, std::move(ch));
  }
  return out;
}

std::vector<PairResult> nominal_pairs(const TileSource& src) {
  std::vector<PairResult> pairs;
  for (const TilePair& p : grid_neighbours(src)) {
    PairResult r;
    r.pair = p;
    r.nominal_dx_px = (src.info(p.b).x_um - src.info(p.a).x_um) * 1000.0 / src.pixel_nm();
    r.nominal_dy_px = (src.info(p.b).y_um - src.info(p.a).y_um) * 1000.0 / src.pixel_nm();
    pairs.push_back(r);
  }
  return pairs;
}
}  // namespace

// 300 px tiles overlapping by 30 px (6 um at 20 nm, 0.6 um overlap), jittered by 3 px: whole-tile
// correlation finds the 270 px step on both axes, within a few px.
TEST(StepCheck, FindsTheStepTheImagesShow) {
  const test::SyntheticGrid g = test::make_grid(3, 3, 300, 30, 3, 7);
  const StepCheck c = check_steps(*g.source, nominal_pairs(*g.source), 0);
  EXPECT_EQ(c.rows.tried, 6u);
  EXPECT_EQ(c.rows.matched, 6u);
  EXPECT_EQ(c.cols.matched, 6u);
  EXPECT_NEAR(c.rows.images_um, 270 * 0.02, 0.1);
  EXPECT_NEAR(c.cols.images_um, 270 * 0.02, 0.1);
  EXPECT_NEAR(c.rows.positions_um, 270 * 0.02, 1e-9);
  EXPECT_EQ(step_check_warning(c, 0.5), "");  // the positions agree
}

// The positions written from an overlap-um of 2 um (100 px) where the tiles overlap by 0.6 um:
// every overlap lies 1.4 um from where registration looks; said with the overlap the images show.
TEST(StepCheck, AWrongOverlapIsSaidWithTheOverlapTheImagesShow) {
  const test::SyntheticGrid g = test::make_grid(3, 3, 300, 30, 3, 7);
  const MemoryTileSource wrong = with_step(*g.source, 200);
  const StepCheck c = check_steps(wrong, nominal_pairs(wrong), 0);
  EXPECT_NEAR(c.rows.images_um, 5.4, 0.1);
  EXPECT_NEAR(c.rows.positions_um, 4.0, 1e-9);
  const std::string w = step_check_warning(c, 0.5);
  EXPECT_NE(w.find(fmt::format("the images put neighbouring tiles a median {:.3g} um apart along the rows, the positions 4 um (6 "
                               "of 6 pairs matched across whole tiles", c.rows.images_um)), std::string::npos) << w;
  EXPECT_NE(w.find("; with tiles of 6 um, an overlap of 0.6"), std::string::npos) << w;
  EXPECT_NE(w.find("the positions' 2 um)"), std::string::npos) << w;
  EXPECT_NE(w.find("along the columns"), std::string::npos) << w;
  EXPECT_NE(w.find("Is overlap-um (or fov-um, or the positions' scale) right?"), std::string::npos) << w;
  // Given the pixel size, both axes off by one factor name it too (a wrong --pixel-nm reads so).
  const std::string p = step_check_warning(c, 0.5, 20.0);
  EXPECT_NE(p.find(fmt::format("right, or the pixel size (both axes differ by the same factor, {:.3f}: at {:.4g} nm instead "
                               "of 20 the images would match the positions)?",
                               0.5 * (c.rows.images_um / 4 + c.cols.images_um / 4),
                               40.0 / (c.rows.images_um / 4 + c.cols.images_um / 4))),
            std::string::npos) << p;
  // Within the search the registration finds the overlap itself: nothing to say.
  EXPECT_EQ(step_check_warning(c, 2.0), "");
}

// A fov-um (or positions' scale) too large: the positions leave gaps between the tiles, so
// registration tries no pair at all (no_overlap); the whole tiles still show the step.
TEST(StepCheck, PositionsThatLeaveGapsAreCheckedToo) {
  const test::SyntheticGrid g = test::make_grid(3, 3, 300, 30, 3, 7);
  const MemoryTileSource wide = with_step(*g.source, 400);
  std::vector<PairResult> pairs = nominal_pairs(wide);
  for (PairResult& p : pairs) p.no_overlap = true;  // as register_pairs marks them
  const StepCheck c = check_steps(wide, pairs, 0);
  EXPECT_EQ(c.rows.matched, 6u);
  const std::string w = step_check_warning(c, 0.5);
  EXPECT_NE(w.find("the positions 8 um"), std::string::npos) << w;
  EXPECT_NE(w.find("the positions' -2 um"), std::string::npos) << w;
}

// Positions whose x falls as col grows (a stage's axis the other way), the images alike: the
// same lengths, nothing to say; the columns reversed in the images alone would be no grid.
TEST(StepCheck, AnAxisRunningTheOtherWayIsComparedAsLengths) {
  const test::SyntheticGrid g = test::make_grid(1, 3, 300, 30, 3, 7);
  MemoryTileSource reversed({"image"}, 20.0);
  for (int c = 0; c < 3; ++c) {
    TileInfo t = g.source->info(static_cast<std::size_t>(c));
    t.x_um = -c * 270 * 0.02;
    std::vector<ImageF> ch;
    ch.push_back(g.source->load(static_cast<std::size_t>(2 - c), 0));
    reversed.add(t, std::move(ch));
  }
  const StepCheck c = check_steps(reversed, nominal_pairs(reversed), 0);
  EXPECT_EQ(c.rows.matched, 2u);
  EXPECT_NEAR(c.rows.images_um, 5.4, 0.15);
  EXPECT_NEAR(c.rows.positions_um, 5.4, 1e-9);
  EXPECT_EQ(step_check_warning(c, 0.5), "");
}

// Blank tiles match nothing: no verdict from too few pairs.
TEST(StepCheck, TilesWithoutStructureGiveNoVerdict) {
  const test::SyntheticGrid g = test::make_grid(2, 2, 300, 30, 3, 7, {0, 1, 2, 3});
  const MemoryTileSource wrong = with_step(*g.source, 200);
  const StepCheck c = check_steps(wrong, nominal_pairs(wrong), 0);
  EXPECT_EQ(c.rows.matched, 0u);
  EXPECT_EQ(step_check_warning(c, 0.5), "");
}

// Tiles alike at (nearly) no shift (a unit 1000x too large puts every table's localizations in one
// corner, much the same in each) match "a median 5.31e-13 um apart" (probe90): no grid's step.
TEST(StepCheck, TilesAlikeAtNoShiftAreNoStep) {
  MemoryTileSource same({"image"}, 20.0);
  for (int c = 0; c < 3; ++c) {
    TileInfo t{};
    t.id = c, t.col = c, t.width_px = 300, t.height_px = 300, t.x_um = c * 270 * 0.02;
    ImageF img(300, 300);
    // A blob in a corner, 2 px further left in each tile: a step of 2 of 300 px along the row.
    const double cx = 20.0 - 2 * c, cy = 15.0;
    for (std::size_t y = 0; y < 300; ++y)
      for (std::size_t x = 0; x < 300; ++x)
        img(x, y) = static_cast<float>(std::exp(-(std::pow(x - cx, 2) + std::pow(y - cy, 2)) / (2 * 25.0)));
    std::vector<ImageF> ch;
    ch.push_back(std::move(img));
    same.add(t, std::move(ch));
  }
  const StepCheck c = check_steps(same, nominal_pairs(same), 0);
  EXPECT_EQ(c.rows.tried, 2u);
  EXPECT_EQ(c.rows.matched, 0u);
  EXPECT_EQ(step_check_warning(c, 0.5), "");
}
