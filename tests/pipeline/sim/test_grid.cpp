#include <gtest/gtest.h>

#include <cmath>

#include "core/error.hpp"
#include "sim/grid.hpp"

using namespace annamosaic;

TEST(Grid, SnakeOrderAndNominalSpacing) {
  GridOptions o;
  o.rows = 3;
  o.cols = 4;
  o.fov_um = 55.3;
  o.overlap_um = 1.0;
  const auto g = make_grid(o);
  ASSERT_EQ(g.size(), 12u);
  EXPECT_EQ(g[3].col, 3);
  EXPECT_EQ(g[4].row, 1);
  EXPECT_EQ(g[4].col, 3);  // second row runs backwards
  EXPECT_DOUBLE_EQ(g[1].nominal_x_um, 54.3);
  o.order = GridOrder::Raster;
  EXPECT_EQ(make_grid(o)[4].col, 0);
}

TEST(Grid, JitterIsTruncatedGaussian) {
  GridOptions o;
  o.rows = 30;
  o.cols = 30;
  o.jitter_um = 0.5;
  double ss = 0, mx = 0;
  for (const auto& p : make_grid(o)) {
    const double d = p.true_x_um - p.nominal_x_um;
    ss += d * d;
    mx = std::max(mx, std::abs(d));
  }
  EXPECT_NEAR(std::sqrt(ss / 900), 0.5, 0.05);
  EXPECT_LE(mx, 1.5);
  o.overlap_um = 30;
  EXPECT_THROW(make_grid(o), InputError);
}
