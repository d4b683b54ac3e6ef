// Positions that their rows and cols do not explain: found before anything is placed.
#include "tiles/grid_fit.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <utility>

using namespace annamosaic;

namespace {
// A rows x cols grid of 9 um steps, a little stage error, ids in raster order.
std::vector<TileInfo> grid(int rows, int cols) {
  std::vector<TileInfo> t;
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c)
      t.push_back({r * cols + c, r, c, 9.0 * c + 0.3 * ((r + c) % 3 - 1), 9.0 * r - 0.2 * (c % 2), 100, 100, {}});
  return t;
}
}  // namespace

TEST(GridFit, AStageGridFitsAndACopiedOrMistypedPositionIsNamed) {
  EXPECT_TRUE(grid_misfits(grid(4, 4)).empty());  // a stage error of 0.3 um is no misfit
  EXPECT_TRUE(grid_misfits(grid(1, 6)).empty());
  // FoV 6 (row 1, col 2) given FoV 7's position, as a line copied in positions.csv.
  auto copied = grid(4, 4);
  copied[6].x_um = copied[7].x_um, copied[6].y_um = copied[7].y_um;
  auto m = grid_misfits(copied);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].index, 6u);
  EXPECT_NEAR(m[0].expected_x_um, 18.0, 0.4);
  EXPECT_NEAR(m[0].off_steps, 1.0, 0.1);
  ASSERT_TRUE(m[0].same_place_as.has_value());
  EXPECT_EQ(*m[0].same_place_as, 7u);
  const std::string text = grid_misfit_text(copied, m);
  EXPECT_NE(text.find("FoV 6 (row 1, col 2) is at x 27, y 8.8 um, 9.3 um (1 step) from x 17.7"), std::string::npos) << text;
  EXPECT_NE(text.find("the position of FoV 7"), std::string::npos) << text;
  // A typo of 500 um in a 1 x 6 row.
  auto typo = grid(1, 6);
  typo[5].x_um = 500;
  m = grid_misfits(typo);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].index, 5u);
  EXPECT_FALSE(m[0].same_place_as.has_value());
  // Holes leave the others' steps: the misfit in a grid missing half its cells is still found.
  auto holey = grid(4, 4);
  for (int id : {1, 3, 4, 9, 14}) holey.erase(std::find_if(holey.begin(), holey.end(), [&](const TileInfo& t) { return t.id == id; }));
  EXPECT_TRUE(grid_misfits(holey).empty());
  holey[3].y_um += 6;  // two thirds of a step
  EXPECT_EQ(grid_misfits(holey).size(), 1u);
  // Two FoVs' positions exchanged: said as such.
  auto swapped = grid(4, 4);
  std::swap(swapped[5].x_um, swapped[6].x_um);
  std::swap(swapped[5].y_um, swapped[6].y_um);
  m = grid_misfits(swapped);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_NE(grid_misfit_text(swapped, m).find("FoVs 5 and 6 lie at each other's places"), std::string::npos)
      << grid_misfit_text(swapped, m);
  // A typo on the last of a 1 x 4 row names that FoV, not its neighbour.
  auto four = grid(1, 4);
  four[3].x_um = 500;
  m = grid_misfits(four);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].index, 3u);
  EXPECT_NE(grid_misfit_text(four, m).find("472 um (51 steps)"), std::string::npos) << grid_misfit_text(four, m);
  // Rows numbered bottom-up (y decreasing), a stage turned by 5 degrees: grids all the same.
  auto turned = grid(5, 4);
  for (TileInfo& t : turned) {
    const double x = t.x_um, y = -t.y_um, a = 5 * 3.14159265 / 180;
    t.x_um = x * std::cos(a) - y * std::sin(a), t.y_um = x * std::sin(a) + y * std::cos(a);
  }
  EXPECT_TRUE(grid_misfits(turned).empty());
  // Too few tiles to outvote one: nothing judged.
  auto three = grid(1, 3);
  three[2].x_um = 100;
  EXPECT_TRUE(grid_misfits(three).empty());
}

TEST(GridFit, OffGridPlaceLetsABrickLayoutThroughButNotTwoTilesAtOnePlace) {
  // Every other row shifted by two thirds of a step (a brick layout): refused by default with the
  // way to allow it, placed (and said) when allowed.
  auto brick = grid(4, 4);
  for (TileInfo& t : brick)
    if (t.row % 2) t.x_um += 6;
  const auto m = grid_misfits(brick);
  ASSERT_FALSE(m.empty());
  std::string placed;
  // The median steps fit no grid these follow (every tile is off it): said as such, not tile by tile.
  const std::string refusal = misfit_refusal(brick, m, false, "give --off-grid place", &placed);
  EXPECT_NE(refusal.find("the positions follow no single grid: 16 of 16 tiles lie more than half a step from where the median "
                         "steps put their row and col (FoVs 0, 1, 2, 3, 4, 5, ...): a brick layout, or blocks acquired "
                         "apart? If the positions are right, give --off-grid place; else correct them"),
            std::string::npos) << refusal;
  EXPECT_TRUE(placed.empty());
  EXPECT_EQ(misfit_refusal(brick, m, true, "give --off-grid place", &placed), "");
  EXPECT_NE(placed.find("the positions follow no single grid: 16 of 16 tiles"), std::string::npos) << placed;
  EXPECT_NE(placed.find("Placed where the positions say (off-grid = place)"), std::string::npos) << placed;
  // Exactly half a step (a probe's brick): rounding put one FoV of three over the line; all three said.
  std::vector<TileInfo> half;
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) half.push_back({r * 3 + c, r, c, 3.4 * c + 1.7 * (r % 2), 3.4 * r, 100, 100, {}});
  const std::string half_refusal = misfit_refusal(half, grid_misfits(half), false, "", &placed);
  EXPECT_NE(half_refusal.find("the positions follow no single grid"), std::string::npos) << half_refusal;
  EXPECT_NE(half_refusal.find("(FoVs 3, 4, 5)"), std::string::npos) << half_refusal;
  // Bricks of 2:1 tiles over 4 rows (the median column step leans one way), and a brick whose y axis
  // points up: placed, not taken for neighbours out of order.
  std::vector<TileInfo> wide, up;
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c) {
      wide.push_back({r * 4 + c, r, c, 20.0 * c + 10.0 * (r % 2), 10.0 * r, 220, 110, {}});
      up.push_back({r * 4 + c, r, c, 9.0 * c + 6.0 * (r % 2), -9.0 * r, 100, 100, {}});
    }
  for (const auto& layout : {wide, up}) {
    const auto off = grid_misfits(layout);
    ASSERT_FALSE(off.empty());
    EXPECT_EQ(misfit_refusal(layout, off, true, "", &placed), "");
    EXPECT_NE(placed.find("Placed where the positions say"), std::string::npos) << placed;
  }
  // Under place, what no layout explains stays refused: a typo of 500 um (the mosaic was 13x wide) ...
  auto typo = brick;
  typo[9].x_um += 500;
  const std::string typo_refusal = misfit_refusal(typo, grid_misfits(typo), true, "", &placed);
  EXPECT_NE(typo_refusal.find("FoV 9 (row 2, col 1) at x 508.7, y 17.8 um lies 476 um (45 of the longer steps) from the nearest other FoV "
                              "(7): nothing could overlap it, refused even with off-grid = place"),
            std::string::npos) << typo_refusal;
  // ... and two FoVs of a brick row exchanged (each near enough to some cell to pass as a misfit).
  auto brick_swap = brick;
  std::swap(brick_swap[5].x_um, brick_swap[6].x_um);
  const std::string brick_swap_refusal = misfit_refusal(brick_swap, grid_misfits(brick_swap), true, "", &placed);
  EXPECT_NE(brick_swap_refusal.find("FoV 6 (row 1, col 2) at x 15"), std::string::npos) << brick_swap_refusal;
  EXPECT_NE(brick_swap_refusal.find("lies -0.9 steps along the row from FoV 5 (row 1, col 1) at x 23.7"), std::string::npos)
      << brick_swap_refusal;
  EXPECT_NE(brick_swap_refusal.find("not a step on: their places swapped, a typo, or the wrong row or col? Refused even with "
                                    "off-grid = place"),
            std::string::npos) << brick_swap_refusal;
  // One tile off among many (diagonally, 0.55 steps): named.
  auto one_off = grid(4, 4);
  one_off[9].x_um += 3.5, one_off[9].y_um += 3.5;
  EXPECT_EQ(misfit_refusal(one_off, grid_misfits(one_off), true, "", &placed), "");
  EXPECT_NE(placed.find("1 tile(s) lie more than half a step from their row and col's place; placed where the positions say "
                        "(off-grid = place): FoV 9 (row 2, col 1)"),
            std::string::npos) << placed;
  // Two thirds of a step towards its neighbour: a third of a step from it, refused (no layout).
  auto onto = grid(4, 4);
  onto[9].x_um += 6;
  const std::string onto_refusal = misfit_refusal(onto, grid_misfits(onto), true, "", &placed);
  EXPECT_NE(onto_refusal.find("FoV 9 (row 2, col 1) at x 14.7, y 17.8 um lies 3.31 um (0.37 steps) from FoV 10 (row 2, col 2)"),
            std::string::npos) << onto_refusal;
  // A copied line stays refused, in a brick layout too: no layout puts two tiles at one place.
  for (auto copied : {grid(4, 4), brick}) {
    copied[6].x_um = copied[7].x_um, copied[6].y_um = copied[7].y_um;
    const std::string copy_refusal = misfit_refusal(copied, grid_misfits(copied), true, "give --off-grid place", &placed);
    EXPECT_NE(copy_refusal.find("FoV 6 (row 1, col 2) at x "), std::string::npos) << copy_refusal;
    EXPECT_NE(copy_refusal.find("from FoV 7 (row 1, col 3): two FoVs at (nearly) one place, refused even with off-grid = place"),
              std::string::npos) << copy_refusal;
    EXPECT_TRUE(placed.empty());
  }
  // Two FoVs' positions exchanged: a data error, not a layout.
  auto swapped = grid(4, 4);
  std::swap(swapped[5].x_um, swapped[6].x_um);
  std::swap(swapped[5].y_um, swapped[6].y_um);
  const std::string swap_refusal = misfit_refusal(swapped, grid_misfits(swapped), true, "", &placed);
  EXPECT_NE(swap_refusal.find("FoVs 5 and 6 lie at each other's places"), std::string::npos) << swap_refusal;
  EXPECT_NE(swap_refusal.find("(refused even with off-grid = place)"), std::string::npos) << swap_refusal;
  placed = "stale";
  EXPECT_EQ(misfit_refusal(grid(4, 4), {}, false, "", &placed), "");
  EXPECT_TRUE(placed.empty());
  EXPECT_EQ(misfit_refusal(one_off, grid_misfits(one_off), true, "", nullptr), "");  // the warning not wanted
}

TEST(GridFit, EmptyCellsOfTheCampaignOrOfTheTilesBoundingGrid) {
  auto t = grid(3, 3);
  t.erase(t.begin() + 4);  // row 1 col 1
  std::size_t n = 0;
  EXPECT_EQ(empty_cells_text(t, 0, 0, 8, &n), "row 1 col 1");
  EXPECT_EQ(n, 1u);
  EXPECT_EQ(empty_cells_text(t, 3, 4, 2, &n), "row 0 col 3, row 1 col 1, ...");  // the campaign's 3 x 4
  EXPECT_EQ(n, 4u);
  EXPECT_EQ(empty_cells_text(grid(2, 2), 2, 2, 8, &n), "");
  EXPECT_EQ(n, 0u);
}

TEST(GridFit, TheShorterStepIsThePositionsOwn) {
  EXPECT_NEAR(shorter_grid_step_um(grid(4, 4)), 9.0, 0.05);
  auto wide = grid(3, 3);
  for (TileInfo& t : wide) t.y_um *= 1.5;  // 13.5 um down a column, 9 along a row
  EXPECT_NEAR(shorter_grid_step_um(wide), 9.0, 0.35);  // the row step, with the stage error of grid()
  EXPECT_EQ(shorter_grid_step_um(grid(1, 1)), 0.0);
}
