#include <gtest/gtest.h>
#include <tbb/global_control.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>

#include "render/render.hpp"

using namespace annamosaic;

namespace {
LocTable table(std::initializer_list<std::tuple<int, double, double>> rows) {
  LocTable t;
  for (auto [f, x, y] : rows) {
    t.frame.push_back(f);
    t.x_nm.push_back(x);
    t.y_nm.push_back(y);
  }
  return t;
}
}  // namespace

TEST(Render, ExactCountsOnAHandBuiltTable) {
  // 3 x 2 pixels of 10 nm starting at (100, 200).
  const LocTable t = table({{1, 100.0, 200.0},   // pixel (0,0), on the lower edge: inside
                            {1, 109.999, 209.9}, // pixel (0,0)
                            {2, 125.0, 215.0},   // pixel (2,1)
                            {2, 130.0, 205.0},   // x == right edge: outside (half-open)
                            {3, 99.9, 205.0},    // left of the field: outside
                            {3, 115.0, 219.99}});// pixel (1,1)
  RenderStats st;
  const ImageU32 img = render_counts(t, Field{100, 200, 30, 20}, RenderOptions{10.0, {}, 0}, &st);
  ASSERT_EQ(img.width(), 3u);
  ASSERT_EQ(img.height(), 2u);
  EXPECT_EQ(img(0, 0), 2u);
  EXPECT_EQ(img(2, 1), 1u);
  EXPECT_EQ(img(1, 1), 1u);
  EXPECT_EQ(img(1, 0), 0u);
  EXPECT_EQ(st.in_image, 4u);
  EXPECT_EQ(st.outside_field, 2u);
  EXPECT_EQ(st.outside_window, 0u);
}

TEST(Render, FrameWindowSelectsRows) {
  const LocTable t = table({{1, 5, 5}, {2, 5, 5}, {3, 5, 5}, {4, 15, 5}});
  RenderOptions o{10.0, FrameWindow{2, 4}, 0};
  RenderStats st;
  const ImageF img = render(t, Field{0, 0, 20, 10}, o, &st);
  EXPECT_EQ(img(0, 0), 2.0f);
  EXPECT_EQ(img(1, 0), 0.0f);
  EXPECT_EQ(st.outside_window, 2u);
}

TEST(Render, NanIsOutsideNotWrapped) {
  LocTable t = table({{1, std::nan(""), 5}, {1, 5, std::numeric_limits<double>::infinity()}, {1, -1e300, 5}});
  RenderStats st;
  const ImageU32 img = render_counts(t, Field{0, 0, 10, 10}, RenderOptions{1.0, {}, 0}, &st);
  EXPECT_EQ(st.outside_field, 3u);
  std::uint64_t sum = 0;
  for (auto v : img) sum += v;
  EXPECT_EQ(sum, 0u);
}

TEST(Render, BoundingFieldContainsEveryLocalization) {
  const LocTable t = table({{1, 103.0, 47.0}, {1, 230.0, 90.0}});
  const Field f = bounding_field(compute_stats(t), 20.0);
  EXPECT_DOUBLE_EQ(f.x0_nm, 100.0);
  EXPECT_DOUBLE_EQ(f.y0_nm, 40.0);
  RenderStats st;
  render_counts(t, f, RenderOptions{20.0, {}, 0}, &st);
  EXPECT_EQ(st.in_image, 2u);
  EXPECT_EQ(field_width_px(f, 20.0), 7u);  // 100..240
}

// Integer-nm points on the edges of 49 nm pixels: 49 * (1 / 49) is just below 1, so a multiply
// by the inverse pixel put them a pixel early. Each starts its own pixel; the far edge is out.
TEST(Render, PointsOnPixelEdgesStartTheirPixel) {
  const LocTable t = table({{1, 49.0, 10.0}, {1, 10.0, 10.0}, {1, 98.0, 10.0}, {1, 10.0, 49.0}});
  RenderStats st;
  const ImageU32 img = render_counts(t, Field{0, 0, 98, 98}, RenderOptions{49.0, {}, 0}, &st);
  EXPECT_EQ(img(0, 0), 1u);
  EXPECT_EQ(img(1, 0), 1u);
  EXPECT_EQ(img(0, 1), 1u);
  EXPECT_EQ(st.outside_field, 1u);  // x = 98: the field's right edge
  // The same on the banded path of large tables.
  LocTable big;
  for (int i = 0; i < 70'000; ++i) {
    big.frame.push_back(1);
    big.x_nm.push_back(49.0 * (i % 40));
    big.y_nm.push_back(49.0 * (i % 39));
  }
  const ImageU32 many = render_counts(big, Field{0, 0, 49 * 40, 49 * 39}, RenderOptions{49.0, {}, 2}, &st);
  EXPECT_EQ(st.outside_field, 0u);
  for (std::size_t y = 0; y < 39; ++y)
    for (std::size_t x = 0; x < 40; ++x) ASSERT_GT(many(x, y), 0u) << x << "," << y;
}

// Decimal coordinates on the edges of 16.6 nm pixels (a quantised table): 43342.6 is not exact
// in binary, and (x - x0) / 16.6 came out just below 1 (probe51). Every column gets one point.
TEST(Render, DecimalCoordinatesOnPixelEdgesStartTheirPixel) {
  LocTable t;
  for (int k = 0; k < 100; ++k) {
    t.frame.push_back(1);
    t.x_nm.push_back(std::stod(std::to_string(43326 + 166 * k / 10) + "." + std::to_string(166 * k % 10)));
    t.y_nm.push_back(0.5);
  }
  RenderStats st;
  const ImageU32 img = render_counts(t, Field{43326, 0, 1660, 16.6}, RenderOptions{16.6, {}, 0}, &st);
  ASSERT_EQ(img.width(), 100u);
  for (std::size_t x = 0; x < 100; ++x) EXPECT_EQ(img(x, 0), 1u) << "column " << x << ", x = " << t.x_nm[x];
  EXPECT_EQ(st.outside_field, 0u);
}

// floor(43326 / 16.6) * 16.6 is 43326 plus a rounding error: the fitted field must still hold
// the localization that defines it.
TEST(Render, BoundingFieldHoldsItsMinimumAtAnyPixelSize) {
  for (double px : {16.6, 117.0 / 7.0, 10.0}) {
    const LocTable t = table({{1, 43326.0, 5478.0}, {2, 43500.0, 5600.0}, {3, 44000.0, 6000.0}});
    const Field f = bounding_field(compute_stats(t), px);
    EXPECT_LE(f.x0_nm, 43326.0) << px;
    RenderStats st;
    render_counts(t, f, RenderOptions{px, {}, 0}, &st);
    EXPECT_EQ(st.in_image, 3u) << px;
  }
}

TEST(Render, SameCountsForAnyThreadCount) {
  std::mt19937_64 rng(11);
  std::normal_distribution<double> g(5000, 2000);
  LocTable t;
  for (int i = 0; i < 500'000; ++i) {
    t.frame.push_back(i / 500);
    t.x_nm.push_back(g(rng));
    t.y_nm.push_back(g(rng));
  }
  const Field f{0, 0, 10000, 10000};
  RenderStats s1, s2, s3;
  const ImageU32 a = render_counts(t, f, RenderOptions{20.0, {}, 1}, &s1);
  const ImageU32 b = render_counts(t, f, RenderOptions{20.0, {}, 2}, &s2);
  const ImageU32 c = render_counts(t, f, RenderOptions{20.0, {}, 7}, &s3);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin()));
  EXPECT_TRUE(std::equal(a.begin(), a.end(), c.begin()));
  EXPECT_EQ(s1.in_image, s3.in_image);
  EXPECT_EQ(s1.in_image + s1.outside_field, 500'000u);
  EXPECT_GT(s1.outside_field, 0u);  // the Gaussian reaches beyond the field
}

// The banded path (large tables) against the definition: a plain loop over the rows, with a
// frame window, NaN and out-of-field rows mixed in.
TEST(Render, LargeTableMatchesDirectBinning) {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> g(6000, 3000);
  LocTable t;
  const std::size_t n = 300'000;
  for (std::size_t i = 0; i < n; ++i) {
    t.frame.push_back(static_cast<std::int32_t>(i / 300));
    t.x_nm.push_back(i % 997 == 0 ? std::nan("") : g(rng));
    t.y_nm.push_back(g(rng));
  }
  const Field f{-100, 200, 11000, 9000};
  RenderOptions opt{20.0, {}, 2};
  opt.window.first = 100, opt.window.end = 800;
  RenderStats st;
  const ImageU32 img = render_counts(t, f, opt, &st);
  ImageU32 ref(550, 450);
  std::uint64_t in = 0, out_window = 0, out_field = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (t.frame[i] < 100 || t.frame[i] >= 800) {
      ++out_window;
      continue;
    }
    const double fx = (t.x_nm[i] + 100) / 20.0, fy = (t.y_nm[i] - 200) / 20.0;
    if (fx >= 0 && fx < 550 && fy >= 0 && fy < 450) {
      ++ref.data()[static_cast<std::size_t>(fy) * 550 + static_cast<std::size_t>(fx)];
      ++in;
    } else {
      ++out_field;
    }
  }
  ASSERT_EQ(img.width(), 550u);
  ASSERT_EQ(img.height(), 450u);
  EXPECT_TRUE(std::equal(img.begin(), img.end(), ref.begin()));
  EXPECT_EQ(st.in_image, in);
  EXPECT_EQ(st.outside_window, out_window);
  EXPECT_EQ(st.outside_field, out_field);
  EXPECT_GT(out_field, 1000u);
}

TEST(Render, Uint16Saturates) {
  ImageU32 c(2, 1);
  c(0, 0) = 70000;
  c(1, 0) = 12;
  ImageU16 u;
  EXPECT_EQ(counts_to_u16(c, u), 1u);
  EXPECT_EQ(u(0, 0), 65535);
  EXPECT_EQ(u(1, 0), 12);
}
