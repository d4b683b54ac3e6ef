#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <string>
#include <tuple>
#include <vector>

#include "core/error.hpp"
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

// The separable blur written out per pixel: the kernel, border rules and summation order the
// filter documents (each pass adds its taps from -r to r into a float starting at 0).
static ImageF blur_per_pixel(const ImageF& in, double sigma, Border border) {
  const int r = std::max(1, static_cast<int>(std::ceil(4 * sigma)));
  std::vector<float> k(2 * r + 1);
  double sum = 0;
  for (int i = -r; i <= r; ++i) sum += k[i + r] = static_cast<float>(std::exp(-0.5 * i * i / (sigma * sigma)));
  for (auto& v : k) v = static_cast<float>(v / sum);
  const long w = static_cast<long>(in.width()), h = static_cast<long>(in.height());
  const auto at = [&](const ImageF& img, long x, long y, bool horizontal, int i, float& acc) {
    long xx = horizontal ? x + i : x, yy = horizontal ? y : y + i;
    if (xx < 0 || xx >= w || yy < 0 || yy >= h) {
      if (border == Border::Zero) return;
      xx = std::clamp(xx, 0L, w - 1);
      yy = std::clamp(yy, 0L, h - 1);
    }
    acc += k[i + r] * img(static_cast<std::size_t>(xx), static_cast<std::size_t>(yy));
  };
  ImageF tmp(in.width(), in.height()), out(in.width(), in.height());
  for (long y = 0; y < h; ++y)
    for (long x = 0; x < w; ++x) {
      float acc = 0;
      for (int i = -r; i <= r; ++i) at(in, x, y, true, i, acc);
      tmp(x, y) = acc;
    }
  for (long y = 0; y < h; ++y)
    for (long x = 0; x < w; ++x) {
      float acc = 0;
      for (int i = -r; i <= r; ++i) at(tmp, x, y, false, i, acc);
      out(x, y) = acc;
    }
  return out;
}

TEST(GaussianBlur, EqualsThePerPixelSumExactlyAtEverySize) {
  // Interior pixels are accumulated a row at a time, edge pixels one by one: every split of a
  // row (narrower than the kernel, exactly its width, wide) must give the per-pixel result.
  std::uint32_t seed = 12345;
  for (const auto& [w, h, sigma] : {std::tuple{1, 1, 1.0}, {5, 3, 2.0}, {17, 9, 2.0}, {18, 4, 2.0}, {64, 40, 1.5},
                                    {200, 37, 6.0}}) {
    ImageF img(w, h);
    for (auto& v : img) v = static_cast<float>((seed = seed * 1664525u + 1013904223u) >> 8) / 65536.0f;
    for (Border border : {Border::Replicate, Border::Zero}) {
      const ImageF fast = gaussian_blur(img.view(), sigma, border);
      const ImageF ref = blur_per_pixel(img, sigma, border);
      for (std::size_t i = 0; i < ref.size(); ++i)
        ASSERT_EQ(fast.data()[i], ref.data()[i]) << w << "x" << h << " sigma " << sigma << " pixel " << i;
    }
  }
}

TEST(GaussianBlur, SelectedRowsEqualTheWholeBlurUpToRounding) {
  // Rows in any order and repeated; images narrower than the kernel and wide ones; both borders.
  std::uint32_t seed = 777;
  for (const auto& [w, h, sigma] : {std::tuple{5, 3, 2.0}, {18, 40, 2.0}, {300, 120, 6.0}}) {
    ImageF img(w, h);
    for (auto& v : img) v = static_cast<float>((seed = seed * 1664525u + 1013904223u) >> 8) / 65536.0f;
    const std::vector<std::size_t> rows = {static_cast<std::size_t>(h - 1), 0, static_cast<std::size_t>(h / 2), 0};
    for (Border border : {Border::Replicate, Border::Zero}) {
      const ImageF whole = gaussian_blur(img.view(), sigma, border);
      const ImageF some = gaussian_blur_rows(img.view(), sigma, border, rows);
      ASSERT_EQ(some.width(), whole.width());
      ASSERT_EQ(some.height(), rows.size());
      for (std::size_t i = 0; i < rows.size(); ++i)
        for (std::size_t x = 0; x < whole.width(); ++x)
          ASSERT_NEAR(some(x, i), whole(x, rows[i]), 2e-6f * (1 + std::abs(whole(x, rows[i]))))
              << w << "x" << h << " row " << rows[i] << " x " << x;
    }
  }
  ImageF img(4, 4);
  EXPECT_THROW(gaussian_blur_rows(img.view(), 1.0, Border::Zero, {4}), std::out_of_range);
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

TEST(RepairNonfinite, SetsNanAndInfToTheMedianOfTheOthersAndSaysHowMany) {
  ImageF a(3, 2);
  const float values[] = {1, NAN, 5, INFINITY, 3, -INFINITY};
  std::copy(std::begin(values), std::end(values), a.data());
  const std::string warning = repair_nonfinite(a, "wf.tif");
  EXPECT_EQ(warning, "wf.tif: 3 of 6 pixels are NaN or infinite: set to the median of the others (3)");
  for (std::size_t i : {1u, 3u, 5u}) EXPECT_FLOAT_EQ(a.data()[i], 3.0f);
  EXPECT_FLOAT_EQ(a.data()[2], 5.0f);  // finite pixels untouched
}

TEST(RepairNonfinite, AFiniteImageIsLeftAloneAndAllNanIsRefusedByName) {
  ImageF ok(2, 2);
  ok.data()[3] = 7;
  EXPECT_EQ(repair_nonfinite(ok, "ok.tif"), "");
  EXPECT_FLOAT_EQ(ok.data()[3], 7.0f);
  ImageF nothing(2, 1);
  std::fill(nothing.begin(), nothing.end(), NAN);
  try {
    repair_nonfinite(nothing, "masked.tif");
    FAIL() << "an image of NaN alone was accepted";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "masked.tif: every pixel is NaN or infinite");
  }
}
