#include <gtest/gtest.h>
#include <tbb/parallel_for.h>

#include <cmath>
#include <random>
#include <vector>

#include "fft/fft.hpp"

using namespace annamosaic;

TEST(Fft2d, RoundTripIsIdentity) {
  const std::size_t W = 48, H = 30;  // non-power-of-two on purpose
  Fft2d fft(W, H);
  ImageF a(W, H), b(W, H);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1, 1);
  for (auto& v : a) v = u(rng);
  std::vector<Complexf> spec(fft.spectrum_size());
  fft.forward(a.view(), spec.data());
  fft.inverse(spec.data(), b.view());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a.data()[i], b.data()[i], 1e-5);
}

TEST(Fft2d, DeltaHasFlatSpectrumAndShiftIsAPhaseRamp) {
  const std::size_t W = 16, H = 8;
  Fft2d fft(W, H);
  ImageF d(W, H);
  d(3, 2) = 1;
  std::vector<Complexf> s(fft.spectrum_size());
  fft.forward(d.view(), s.data());
  const double pi = std::acos(-1.0);
  for (std::size_t ky = 0; ky < H; ++ky)
    for (std::size_t kx = 0; kx < fft.spectrum_width(); ++kx) {
      const Complexf v = s[ky * fft.spectrum_width() + kx];
      EXPECT_NEAR(std::abs(v), 1.0f, 1e-5);
      const double phase = -2 * pi * (3.0 * kx / W + 2.0 * ky / H);
      EXPECT_NEAR(v.real(), std::cos(phase), 1e-5);
      EXPECT_NEAR(v.imag(), std::sin(phase), 1e-5);
    }
}

TEST(Fft2d, ConcurrentUseOfOnePlanGivesSameResults) {
  const std::size_t W = 64, H = 64;
  Fft2d fft(W, H);
  ImageF a(W, H);
  for (std::size_t i = 0; i < a.size(); ++i) a.data()[i] = static_cast<float>(i % 17);
  std::vector<Complexf> ref(fft.spectrum_size());
  fft.forward(a.view(), ref.data());
  std::vector<int> bad(32, 0);
  tbb::parallel_for(0, 32, [&](int k) {
    std::vector<Complexf> s(fft.spectrum_size());
    fft.forward(a.view(), s.data());
    bad[k] = s != ref;
  });
  for (int b : bad) EXPECT_EQ(b, 0);
  EXPECT_STRNE(fft_backend_name(), "");
}

TEST(Fft2d, ViewsWithStrideWork) {
  ImageF big(20, 10);
  for (std::size_t i = 0; i < big.size(); ++i) big.data()[i] = static_cast<float>(i);
  Fft2d fft(8, 4);
  auto region = big.view().region(3, 2, 8, 4);
  std::vector<Complexf> s(fft.spectrum_size());
  fft.forward(ImageView<const float>(region), s.data());
  ImageF back(8, 4);
  fft.inverse(s.data(), back.view());
  EXPECT_NEAR(back(0, 0), big(3, 2), 1e-4);
  EXPECT_NEAR(back(7, 3), big(10, 5), 1e-4);
}
