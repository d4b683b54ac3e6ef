// Torch-free metrics against independent references (scikit-image, numpy) computed by
// make_fixtures.py on the committed fixtures.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>

#include "anet/metrics.hpp"
#include "imageio/tiff_io.hpp"

using namespace annamosaic;

namespace {

const std::string kFixtures = std::string(ANNAMOSAIC_ANET_FIXTURES);

std::map<std::string, double> reference_values() {
  std::map<std::string, double> v;
  std::ifstream in(kFixtures + "/reference_values.txt");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream s(line);
    std::string k;
    double x;
    s >> k >> x;
    v[k] = x;
  }
  return v;
}

}  // namespace

TEST(AnetMetrics, SsimMatchesScikitImage) {
  const auto ref = reference_values();
  const ImageF a = read_tiff(kFixtures + "/metric_a.tif"), b = read_tiff(kFixtures + "/metric_b.tif");
  EXPECT_NEAR(ssim(a.view(), b.view()), ref.at("ssim_skimage"), 1e-6);
  EXPECT_NEAR(ssim(a.view(), a.view()), 1.0, 1e-12);
}

TEST(AnetMetrics, PsnrMatchesScikitImage) {
  const auto ref = reference_values();
  const ImageF a = read_tiff(kFixtures + "/metric_a.tif"), b = read_tiff(kFixtures + "/metric_b.tif");
  EXPECT_NEAR(psnr(a.view(), b.view()), ref.at("psnr_skimage"), 1e-6);
  EXPECT_TRUE(std::isinf(psnr(a.view(), a.view())));
}

TEST(AnetMetrics, WangMsSsimMatchesNumpyReference) {
  const auto ref = reference_values();
  const ImageF a = read_tiff(kFixtures + "/metric_a.tif"), b = read_tiff(kFixtures + "/metric_b.tif");
  const MsSsimResult r = ms_ssim_wang_detail(a.view(), b.view());
  EXPECT_EQ(r.scales, 5);
  EXPECT_NEAR(r.value, ref.at("ms_ssim_wang"), 1e-6);
  EXPECT_NEAR(ms_ssim_wang(a.view(), a.view()), ref.at("ms_ssim_wang_identical"), 1e-12);
  // Symmetric, and worse for a worse image.
  EXPECT_NEAR(ms_ssim_wang(b.view(), a.view()), r.value, 1e-9);
  ImageF noisy = a.clone();
  std::mt19937 rng(1);
  std::normal_distribution<float> n(0.0f, 0.3f);
  for (float& v : noisy) v = std::clamp(v + n(rng), 0.0f, 1.0f);
  EXPECT_LT(ms_ssim_wang(a.view(), noisy.view()), r.value);
}

TEST(AnetMetrics, SmallImagesUseFewerScales) {
  ImageF a(40, 40), b(40, 40);
  for (std::size_t i = 0; i < a.size(); ++i) a.data()[i] = b.data()[i] = static_cast<float>(i % 7) / 7.0f;
  const MsSsimResult r = ms_ssim_wang_detail(a.view(), b.view());
  EXPECT_EQ(r.scales, 2);  // 40 -> 20 (>= 11) -> 10 (< 11)
  EXPECT_NEAR(r.value, 1.0, 1e-12);
  ImageF tiny(8, 8);
  EXPECT_THROW(ms_ssim_wang(tiny.view(), tiny.view()), std::invalid_argument);
  EXPECT_THROW(ssim(a.view(), tiny.view()), std::invalid_argument);
}

TEST(AnetMetrics, FrcMatchesNumpyReference) {
  const auto ref = reference_values();
  const ImageF a = read_tiff(kFixtures + "/metric_a.tif"), b = read_tiff(kFixtures + "/metric_b.tif");
  const FrcResult r = frc(a.view(), b.view(), 20.0);
  EXPECT_TRUE(r.crossed);
  EXPECT_NEAR(r.resolution_nm, ref.at("frc_resolution_nm"), 1e-3);
  for (int i : {1, 5, 20, 50}) EXPECT_NEAR(r.correlation.at(static_cast<std::size_t>(i)), ref.at("frc_curve_" + std::to_string(i)), 1e-5) << i;
  // Identical images never cross the threshold: resolution = Nyquist (2 px).
  const FrcResult same = frc(a.view(), a.view(), 20.0);
  EXPECT_FALSE(same.crossed);
  EXPECT_DOUBLE_EQ(same.resolution_nm, 40.0);
}

TEST(AnetMetrics, FrcOfIndependentNoiseIsCoarse) {
  ImageF a(128, 128), b(128, 128);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(0, 1);
  for (std::size_t i = 0; i < a.size(); ++i) {
    a.data()[i] = u(rng);
    b.data()[i] = u(rng);
  }
  const FrcResult r = frc(a.view(), b.view(), 10.0);
  EXPECT_TRUE(r.crossed);
  EXPECT_GT(r.resolution_nm, 100.0);  // crosses within the first rings (Nyquist: 20 nm)
}

TEST(AnetMetrics, FrcWithAnEmptyHalfIsUndefined) {
  // One half without localizations (a sparse window of a frame or two): no correlation at any
  // ring; the first crossing would read as the field's size (5240 nm for a 262 px field).
  ImageF a(262, 262), empty(262, 262);
  a(100, 100) = 1.0f;
  a(30, 200) = 2.0f;
  const FrcResult r = frc(a.view(), empty.view(), 20.0);
  EXPECT_FALSE(r.crossed);
  EXPECT_TRUE(std::isnan(r.resolution_nm)) << r.resolution_nm;
}

TEST(AnetMetrics, NormaliseToUnit) {
  ImageF im(1000, 1);
  for (std::size_t i = 0; i < im.size(); ++i) im.data()[i] = static_cast<float>(i);
  const ImageF n = normalise_to_unit(im.view(), 0.5);
  EXPECT_FLOAT_EQ(n(0, 0), 0.0f);
  EXPECT_NEAR(n(499, 0), 499.0f / 499.0f, 1e-6);  // the 0.5 quantile (rank 499) maps to 1
  EXPECT_FLOAT_EQ(n(999, 0), 1.0f);               // clipped
  // A sparse histogram (quantile 0) is scaled by its maximum; all-zero stays zero.
  ImageF sparse(100, 100);
  sparse(3, 4) = 4.0f;
  sparse(5, 6) = 2.0f;
  const ImageF s = normalise_to_unit(sparse.view(), 0.999);
  EXPECT_FLOAT_EQ(s(3, 4), 1.0f);
  EXPECT_FLOAT_EQ(s(5, 6), 0.5f);
  const ImageF z = normalise_to_unit(ImageF(10, 10).view(), 0.999);
  EXPECT_FLOAT_EQ(*std::max_element(z.begin(), z.end()), 0.0f);
}
