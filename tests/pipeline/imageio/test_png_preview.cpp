// PNG previews: contrast range rules, block-max downsampling, and the PNG actually written,
// read back with libpng's simplified API.
#include <gtest/gtest.h>
#include <png.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/image.hpp"
#include "imageio/png_preview.hpp"

using namespace annamosaic;
namespace fs = std::filesystem;

namespace {

std::string scratch(const std::string& name) {
  const fs::path dir = fs::path(ANNAMOSAIC_TEST_TMP) / "png";
  fs::create_directories(dir);
  const std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  return (dir / (test + "_" + name)).string();
}

ImageF from_values(const std::vector<float>& v, std::size_t width) {
  ImageF img(width, v.size() / width);
  std::copy(v.begin(), v.end(), img.begin());
  return img;
}

struct Png {
  std::uint32_t width = 0, height = 0, channels = 0;
  std::vector<std::uint8_t> pixels;
  std::uint8_t at(std::size_t x, std::size_t y, std::size_t c = 0) const {
    return pixels[(y * width + x) * channels + c];
  }
};

// Decodes a gray or RGB 8-bit PNG in its own format.
Png read_png(const std::string& path) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  Png out;
  if (!png_image_begin_read_from_file(&image, path.c_str())) {
    ADD_FAILURE() << path << ": " << image.message;
    return out;
  }
  out.width = image.width;
  out.height = image.height;
  out.channels = PNG_IMAGE_PIXEL_CHANNELS(image.format);
  out.pixels.resize(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, out.pixels.data(), 0, nullptr))
    ADD_FAILURE() << path << ": " << image.message;
  return out;
}

std::string first_bytes(const std::string& path, std::size_t n) {
  std::ifstream in(path, std::ios::binary);
  std::string s(n, '\0');
  in.read(s.data(), static_cast<std::streamsize>(n));
  s.resize(static_cast<std::size_t>(in.gcount()));
  return s;
}

}  // namespace

TEST(PercentileRange, NearestRankOfKnownData) {
  std::vector<float> v(1000);
  for (int i = 0; i < 1000; ++i) v[i] = float(999 - i);  // 0..999, unsorted
  const ImageF img = from_values(v, 40);
  EXPECT_EQ(percentile_range(img.view(), 0, 100), std::make_pair(0.f, 999.f));
  EXPECT_EQ(percentile_range(img.view(), 50, 50), std::make_pair(500.f, 500.f));   // round(499.5)
  EXPECT_EQ(percentile_range(img.view(), 0.5, 99.8), std::make_pair(5.f, 997.f));  // ranks 4.995, 997.002
}

TEST(PercentileRange, IgnoresNaNAndInfinity) {
  const float nan = std::nanf(""), inf = INFINITY;
  const ImageF img = from_values({nan, 1, 2, inf, 3, -inf, 4, 5, nan}, 3);
  EXPECT_EQ(percentile_range(img.view(), 0, 100), std::make_pair(1.f, 5.f));
  const ImageF all_nan = from_values({nan, nan}, 2);
  EXPECT_EQ(percentile_range(all_nan.view(), 0, 100), std::make_pair(0.f, 0.f));
  EXPECT_THROW(percentile_range(img.view(), 60, 40), std::invalid_argument);
}

TEST(PreviewRange, SparseImageStretchesOverTheNonZeroPixels) {
  ImageF img(100, 100);  // 10000 pixels, 11 non-zero: the 99.8th percentile is 0
  for (int i = 0; i < 10; ++i) img(i * 9, i * 7) = 1.f;
  img(50, 50) = 40.f;
  PreviewOptions opt;
  EXPECT_EQ(percentile_range(img.view(), opt.low_percentile, opt.high_percentile).second, 0.f);
  // Non-zero pixels {1 x10, 40}: rank round(0.998 * 10) = 10 -> 40; low end stays 0.
  EXPECT_EQ(preview_range(img.view(), opt), std::make_pair(0.f, 40.f));
}

TEST(PreviewRange, FallsBackToMinMaxThenBlack) {
  std::vector<float> v(1000, 7.f);
  v[3] = 1.f;
  v[900] = 9.f;  // both outliers fall outside the 0.5-99.8 percentile ranks
  EXPECT_EQ(preview_range(from_values(v, 100).view(), PreviewOptions{}), std::make_pair(1.f, 9.f));
  const ImageF flat = from_values(std::vector<float>(100, 3.f), 10);
  const auto [lo, hi] = preview_range(flat.view(), PreviewOptions{});
  EXPECT_EQ(lo, hi);  // nothing to stretch: the preview is black
}

TEST(Downsample, BlockFactorKeepsTheLongestSideWithinTheLimit) {
  EXPECT_EQ(preview_block_factor(5000, 3000, 2048), 3u);
  EXPECT_EQ(preview_block_factor(2048, 100, 2048), 1u);
  EXPECT_EQ(preview_block_factor(2049, 100, 2048), 2u);
  EXPECT_EQ(preview_block_factor(100000, 10, 0), 1u);  // 0: no limit
}

TEST(Downsample, BlockMaxKeepsASingleBrightPixel) {
  ImageF img(10, 10);
  img(7, 8) = 3.f;
  img(0, 0) = std::nanf("");
  const ImageF small = downsample_max(img.view(), 3);
  ASSERT_EQ(small.width(), 4u);
  ASSERT_EQ(small.height(), 4u);
  for (std::size_t y = 0; y < 4; ++y)
    for (std::size_t x = 0; x < 4; ++x)
      EXPECT_EQ(small(x, y), (x == 2 && y == 2) ? 3.f : 0.f) << x << "," << y;
}

TEST(WritePreviewPng, HotPreviewIsDownsampledRgbWithSparseSpotsVisible) {
  const std::string path = scratch("hot.png");
  ImageF img(300, 200);
  img(123, 77) = 1.f;  // one localization in an empty render
  img(10, 10) = 5.f;
  PreviewOptions opt;
  opt.max_size_px = 64;  // factor ceil(300 / 64) = 5 -> 60 x 40
  write_preview_png(path, img.view(), opt);

  EXPECT_EQ(first_bytes(path, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  const Png png = read_png(path);
  ASSERT_EQ(png.width, 60u);
  ASSERT_EQ(png.height, 40u);
  ASSERT_EQ(png.channels, 3u);
  EXPECT_GT(png.at(123 / 5, 77 / 5, 0), 0);  // red channel lit: the lone localization shows
  EXPECT_EQ(png.at(2, 2, 0), 255);           // the brightest spot saturates: white
  EXPECT_EQ(png.at(2, 2, 2), 255);
  EXPECT_EQ(png.at(40, 30, 0), 0);  // background black
}

TEST(WritePreviewPng, GrayPreviewHasOneChannelAndStretchesToFullRange) {
  const std::string path = scratch("gray.png");
  ImageF img(16, 4);
  for (std::size_t x = 0; x < 16; ++x)
    for (std::size_t y = 0; y < 4; ++y) img(x, y) = float(x);
  PreviewOptions opt;
  opt.colormap = Colormap::Gray;
  opt.low_percentile = 0;
  opt.high_percentile = 100;
  write_preview_png(path, img.view(), opt);
  const Png png = read_png(path);
  ASSERT_EQ(png.channels, 1u);
  ASSERT_EQ(png.width, 16u);
  EXPECT_EQ(png.at(0, 0), 0);
  EXPECT_EQ(png.at(15, 3), 255);
  EXPECT_EQ(png.at(5, 1), 85);  // 5/15 of 255
}

TEST(WritePreviewPng, FailedWriteIsAnIoErrorAndLeavesNothing) {
  const fs::path dir = fs::path(scratch("missing_dir"));
  const std::string path = (dir / "p.png").string();
  try {
    write_preview_png(path, ImageF(4, 4).view(), PreviewOptions{});
    FAIL() << "expected IoError";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir));
}
