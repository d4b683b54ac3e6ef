#include <gtest/gtest.h>

#include <cmath>

#include "imgproc/filters.hpp"

using namespace annamosaic;

TEST(GaussianBlur, PreservesMassAndHasTheRightWidth) {
  ImageF d(101, 101);
  d(50, 50) = 1.0f;
  const ImageF b = gaussian_blur(d.view(), 3.0, Border::Zero);
  double sum = 0, var = 0;
  for (std::size_t y = 0; y < 101; ++y)
    for (std::size_t x = 0; x < 101; ++x) {
      sum += b(x, y);
      var += b(x, y) * ((x - 50.0) * (x - 50.0));
    }
  EXPECT_NEAR(sum, 1.0, 1e-5);
  EXPECT_NEAR(std::sqrt(var / sum), 3.0, 0.02);
  EXPECT_FLOAT_EQ(b(50, 40), b(40, 50));  // isotropic
}

TEST(GaussianBlur, ReplicateBorderKeepsAConstantImageConstant) {
  ImageF c(20, 10);
  for (auto& v : c) v = 7.0f;
  const ImageF b = gaussian_blur(c.view(), 2.0);
  for (float v : b) EXPECT_NEAR(v, 7.0f, 1e-5);
  const ImageF z = gaussian_blur(c.view(), 2.0, Border::Zero);
  EXPECT_LT(z(0, 0), 7.0f * 0.5f);
}

TEST(ResizeBilinear, AlignsPixelCentres) {
  ImageF a(2, 1);
  a(0, 0) = 0;
  a(1, 0) = 4;
  const ImageF r = resize_bilinear(a.view(), 4, 1);
  // Centres of the output at input coordinates -0.25, 0.25, 0.75, 1.25 (clamped).
  EXPECT_FLOAT_EQ(r(0, 0), 0.0f);
  EXPECT_FLOAT_EQ(r(1, 0), 1.0f);
  EXPECT_FLOAT_EQ(r(2, 0), 3.0f);
  EXPECT_FLOAT_EQ(r(3, 0), 4.0f);
}

TEST(DownsampleMean, AveragesBlocksIncludingPartialOnes) {
  ImageF a(3, 2);
  for (std::size_t i = 0; i < 6; ++i) a.data()[i] = static_cast<float>(i);
  const ImageF d = downsample_mean(a.view(), 2);
  ASSERT_EQ(d.width(), 2u);
  ASSERT_EQ(d.height(), 1u);
  EXPECT_FLOAT_EQ(d(0, 0), (0 + 1 + 3 + 4) / 4.0f);
  EXPECT_FLOAT_EQ(d(1, 0), (2 + 5) / 2.0f);
}
