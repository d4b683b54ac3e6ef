#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "sim/blinking.hpp"

using namespace annamosaic;

TEST(Blinking, LocalizationCountMatchesDensityWithinPoissonError) {
  std::vector<PointNm> labels;
  for (int i = 0; i < 20'000; ++i) labels.push_back({5'000.0 + (i % 200) * 50.0, 5'000.0 + (i / 200) * 50.0});
  BlinkingOptions o;
  o.detections_per_label = 4.0;
  o.false_per_um2_per_frame = 0;
  const RectNm fov{0, 0, 20'000, 20'000};
  const LocTable t = simulate_localizations(labels, fov, o, 1);
  const double expected = 20'000 * 4.0;
  EXPECT_NEAR(static_cast<double>(t.size()), expected, 4 * std::sqrt(expected));
  // Frames are 1..K, sorted, and the per-frame count averages N*mu/K.
  EXPECT_TRUE(std::is_sorted(t.frame.begin(), t.frame.end()));
  EXPECT_GE(t.frame.front(), 1);
  EXPECT_LE(t.frame.back(), o.frames);
}

TEST(Blinking, FalseDetectionsFollowTheirRate) {
  BlinkingOptions o;
  o.false_per_um2_per_frame = 1e-3;
  o.frames = 500;
  const LocTable t = simulate_localizations({}, {0, 0, 20'000, 10'000}, o, 2);
  const double expected = 1e-3 * 200 * 500;
  EXPECT_NEAR(static_cast<double>(t.size()), expected, 4 * std::sqrt(expected));
}

TEST(Blinking, SigmaLocIsRecoveredFromRepeatedLocalizationsOfOneEmitter) {
  BlinkingOptions o;
  o.detections_per_label = 40'000;
  o.sigma_loc_nm = 12.0;
  o.false_per_um2_per_frame = 0;
  o.structured_false_fraction = 0;
  o.frames = 100'000;
  const LocTable t = simulate_localizations({{1'000, 1'000}}, {0, 0, 2'000, 2'000}, o, 3);
  ASSERT_GT(t.size(), 39'000u);
  double sx = 0, sy = 0;
  for (std::size_t i = 0; i < t.size(); ++i) {
    sx += (t.x_nm[i] - 1'000) * (t.x_nm[i] - 1'000);
    sy += (t.y_nm[i] - 1'000) * (t.y_nm[i] - 1'000);
  }
  EXPECT_NEAR(std::sqrt(sx / t.size()), 12.0, 0.2);
  EXPECT_NEAR(std::sqrt(sy / t.size()), 12.0, 0.2);
  EXPECT_FLOAT_EQ(t.uncertainty_nm[0], 12.0f);
}

TEST(Blinking, CoordinatesAreFovLocalAndSeeded) {
  BlinkingOptions o;
  const RectNm fov{100'000, 50'000, 5'000, 5'000};
  const LocTable a = simulate_localizations({{102'000, 52'000}}, fov, o, 9);
  const LocTable b = simulate_localizations({{102'000, 52'000}}, fov, o, 9);
  EXPECT_EQ(a.x_nm, b.x_nm);
  for (double x : a.x_nm) EXPECT_NEAR(x, 2'000, 2'000);
}
