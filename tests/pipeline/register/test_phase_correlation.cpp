// Phase correlation: known shifts (integer, sub-pixel, near the overlap limit), periodic
// interpretations, empty and structureless inputs, search windows, valid regions, determinism.
#include <gtest/gtest.h>
#include <tbb/parallel_for.h>

#include <cmath>
#include <random>

#include "register/phase_correlation.hpp"
#include "register/preprocess.hpp"
#include "scene.hpp"

using namespace annamosaic;
using namespace annamosaic::test;

namespace {
// fixed = the scene, moving = the scene displaced by d: phase_correlate must return d.
PcResult correlate_scene(double dx, double dy, const PcOptions& opt, std::size_t w = 128, std::size_t h = 128,
                         std::uint64_t seed = 1) {
  const auto blobs = random_blobs(w, h, w * h / 150, seed);
  const ImageF fixed = render_blobs(blobs, w, h), moving = render_blobs(blobs, w, h, dx, dy);
  return phase_correlate(fixed.view(), moving.view(), opt);
}
}  // namespace

TEST(PhaseCorrelation, IntegerShift) {
  for (auto [dx, dy] : {std::pair{7.0, -12.0}, {0.0, 0.0}, {-21.0, 3.0}}) {
    const PcResult r = correlate_scene(dx, dy, {});
    ASSERT_TRUE(r.valid);
    EXPECT_NEAR(r.dx_px, dx, 0.05);
    EXPECT_NEAR(r.dy_px, dy, 0.05);
    EXPECT_GT(r.ncc, 0.9);
    EXPECT_GT(r.confidence, 0.9);
  }
}

TEST(PhaseCorrelation, SubpixelShiftEveryMethod) {
  struct Case {
    Subpixel method;
    double tolerance;
  };
  for (Case c : {Case{Subpixel::Paraboloid, 0.15}, Case{Subpixel::Gaussian, 0.15}, Case{Subpixel::UpsampledDft, 0.06}}) {
    PcOptions o;
    o.subpixel = c.method;
    o.upsample = 20;
    for (auto [dx, dy] : {std::pair{3.3, -1.7}, {-0.45, 0.8}, {10.25, 4.6}}) {
      const PcResult r = correlate_scene(dx, dy, o, 128, 128, 3);
      ASSERT_TRUE(r.valid);
      EXPECT_NEAR(r.dx_px, dx, c.tolerance) << static_cast<int>(c.method);
      EXPECT_NEAR(r.dy_px, dy, c.tolerance) << static_cast<int>(c.method);
    }
  }
  PcOptions none;
  none.subpixel = Subpixel::None;
  const PcResult r = correlate_scene(3.3, -1.7, none);
  EXPECT_DOUBLE_EQ(r.dx_px, 3.0);
  EXPECT_DOUBLE_EQ(r.dy_px, -2.0);
}

TEST(PhaseCorrelation, NearTheOverlapLimit) {
  // Crops of one scene: fixed starts at x = 100, moving at 0, so moving(x + 100) = fixed(x):
  // 28 of 128 columns overlap (22%).
  const auto blobs = random_blobs(260, 128, 260, 5);
  const ImageF big = render_blobs(blobs, 260, 128);
  const ImageF fixed = to_image(big.view().region(100, 0, 128, 128)), moving = to_image(big.view().region(0, 0, 128, 128));
  PcOptions o;
  o.window = Window::None;  // a window would suppress the thin overlap at the image edge
  const PcResult r = phase_correlate(fixed.view(), moving.view(), o);
  ASSERT_TRUE(r.valid);
  EXPECT_NEAR(r.dx_px, 100, 0.2);
  EXPECT_NEAR(r.dy_px, 0, 0.2);
  EXPECT_EQ(r.overlap_px, 28u * 128u);
  // Below min_overlap_fraction the true interpretation is not even considered.
  o.min_overlap_fraction = 0.3;
  const PcResult r2 = phase_correlate(fixed.view(), moving.view(), o);
  EXPECT_FALSE(r2.valid && std::abs(r2.dx_px - 100) < 1);
}

TEST(PhaseCorrelation, PeriodicInterpretationsAreResolvedByNcc) {
  // Without padding (120 px), a shift of +70 peaks at the same place as -50. Only NCC on the
  // implied overlap tells them apart.
  const auto blobs = random_blobs(200, 120, 220, 7);
  const ImageF big = render_blobs(blobs, 200, 120);
  const ImageF fixed = to_image(big.view().region(70, 0, 120, 120)), moving = to_image(big.view().region(0, 0, 120, 120));
  PcOptions o;
  o.window = Window::Tukey;
  o.tukey_alpha = 0.25;
  o.whitening = 0.5;  // less noise-sensitive than pure phase on small overlaps
  o.pad_to_fast_size = false;
  o.validate_ncc = true;
  const PcResult good = phase_correlate(fixed.view(), moving.view(), o);
  ASSERT_TRUE(good.valid);
  EXPECT_NEAR(good.dx_px, 70, 0.25);
  EXPECT_GE(good.candidates, 2);
  o.validate_ncc = false;  // then the interpretation nearest the expected shift (0) wins: wrong
  const PcResult naive = phase_correlate(fixed.view(), moving.view(), o);
  ASSERT_TRUE(naive.valid);
  EXPECT_NEAR(naive.dx_px, -50, 0.25);
  // The same ambiguity in y.
  const ImageF big_y = render_blobs(random_blobs(120, 200, 220, 8), 120, 200);
  const ImageF fy = to_image(big_y.view().region(0, 80, 120, 120)), my = to_image(big_y.view().region(0, 0, 120, 120));
  o.validate_ncc = true;
  const PcResult ry = phase_correlate(fy.view(), my.view(), o);
  ASSERT_TRUE(ry.valid);
  EXPECT_NEAR(ry.dy_px, 80, 0.25);
}

TEST(PhaseCorrelation, EmptyAndStructurelessInputsAreRejected) {
  const ImageF zeros(96, 96);
  ImageF flat(96, 96);
  std::fill(flat.begin(), flat.end(), 5.0f);
  const ImageF scene = render_blobs(random_blobs(96, 96, 60, 9), 96, 96);
  for (const ImageF* pair : {&zeros, const_cast<const ImageF*>(&flat)}) {
    const PcResult r = phase_correlate(pair->view(), pair->view(), {});
    EXPECT_FALSE(r.valid);
    EXPECT_EQ(r.confidence, 0);
    const PcResult r2 = phase_correlate(scene.view(), pair->view(), {});
    EXPECT_FALSE(r2.valid);
    EXPECT_EQ(r2.confidence, 0);
  }
  // One isolated spot on each side (e.g. a false detection in an empty strip) matches perfectly
  // at some shift: NCC 1. The structure test rejects it.
  const ImageF a = render_blobs({{20, 30, 1.5, 1}}, 96, 96), b = render_blobs({{70, 60, 1.5, 1}}, 96, 96);
  PcOptions o;
  o.window = Window::None;
  const PcResult spot = phase_correlate(a.view(), b.view(), o);
  ASSERT_TRUE(spot.valid);
  EXPECT_GT(spot.ncc, 0.99);
  EXPECT_LT(spot.active_px, 20);
  o.min_active_px = 40;
  EXPECT_FALSE(phase_correlate(a.view(), b.view(), o).valid);
}

// Brightness does not matter: |F_a|^2 |F_b|^2 of bright images passes a float's range, and the
// whitening must not turn that into a surface of zeros.
TEST(PhaseCorrelation, VeryBrightImagesRegisterAsDimOnes) {
  const auto blobs = random_blobs(128, 128, 128 * 128 / 150, 3);
  ImageF fixed = render_blobs(blobs, 128, 128), moving = render_blobs(blobs, 128, 128, 9.0, -4.0);
  const PcResult dim = phase_correlate(fixed.view(), moving.view(), {});
  for (ImageF* im : {&fixed, &moving})
    for (float& v : *im) v *= 1e13f;
  const PcResult bright = phase_correlate(fixed.view(), moving.view(), {});
  ASSERT_TRUE(dim.valid);
  ASSERT_TRUE(bright.valid);
  EXPECT_NEAR(bright.dx_px, 9.0, 0.05);
  EXPECT_NEAR(bright.dy_px, -4.0, 0.05);
  EXPECT_NEAR(bright.confidence, dim.confidence, 1e-3);
}

TEST(PhaseCorrelation, IndependentNoiseGivesLowConfidence) {
  std::mt19937_64 rng(11);
  std::normal_distribution<float> n(0, 1);
  ImageF a(128, 128), b(128, 128);
  for (auto& v : a) v = n(rng);
  for (auto& v : b) v = n(rng);
  const PcResult r = phase_correlate(a.view(), b.view(), {});
  EXPECT_LT(r.confidence, 0.2);
}

TEST(PhaseCorrelation, SearchWindowIsRespected) {
  PcOptions o;
  o.expected_dx_px = 15;
  o.expected_dy_px = -4;
  o.max_shift_x_px = o.max_shift_y_px = 6;
  const PcResult in = correlate_scene(18.4, -2.2, o);
  ASSERT_TRUE(in.valid);
  EXPECT_NEAR(in.dx_px, 18.4, 0.15);
  EXPECT_NEAR(in.dy_px, -2.2, 0.15);
  const PcResult out = correlate_scene(-20, 10, o);  // true shift outside the window
  if (out.valid) {
    EXPECT_LE(std::abs(out.dx_px - 15), 6 + 1.0);
    EXPECT_LE(std::abs(out.dy_px + 4), 6 + 1.0);
    EXPECT_LT(out.ncc, 0.5);
  }
}

TEST(PhaseCorrelation, ValidRectanglesTreatTheRestAsMissing) {
  // Strips as tile registration makes them: each image has data in part of the frame only.
  const auto blobs = random_blobs(200, 160, 250, 13);
  const ImageF scene = render_blobs(blobs, 200, 160), shifted = render_blobs(blobs, 200, 160, -6.5, 2.25);
  ImageF a(200, 160), b(200, 160);
  const PcRect ra{0, 0, 130, 160}, rb{70, 0, 130, 160};
  for (std::size_t y = 0; y < 160; ++y)
    for (std::size_t x = 0; x < 200; ++x) {
      if (x < 130) a(x, y) = scene(x, y) + 50;  // an offset only inside the data: removed per region
      if (x >= 70) b(x, y) = shifted(x, y) + 50;
    }
  PhaseCorrelator corr(200, 160, PcOptions{});
  const PcResult r = corr.correlate(a.view(), b.view(), ra, rb);
  ASSERT_TRUE(r.valid);
  EXPECT_NEAR(r.dx_px, -6.5, 0.15);
  EXPECT_NEAR(r.dy_px, 2.25, 0.15);
  EXPECT_THROW(corr.correlate(a.view(), b.view(), PcRect{150, 0, 100, 10}), std::invalid_argument);
  const ImageF small(10, 10);
  EXPECT_THROW(corr.correlate(small.view(), small.view()), std::invalid_argument);
  EXPECT_THROW(phase_correlate(small.view(), a.view()), std::invalid_argument);
}

TEST(PhaseCorrelation, SameResultFromAnyThread) {
  const auto blobs = random_blobs(150, 140, 200, 17);
  const ImageF a = render_blobs(blobs, 150, 140), b = render_blobs(blobs, 150, 140, 4.3, -7.9);
  PcOptions o;
  o.subpixel = Subpixel::UpsampledDft;
  const PhaseCorrelator corr(150, 140, o);
  const PcResult ref = corr.correlate(a.view(), b.view());
  std::vector<PcResult> res(32);
  tbb::parallel_for(std::size_t{0}, res.size(), [&](std::size_t i) {
    res[i] = i % 2 ? corr.correlate(a.view(), b.view()) : phase_correlate(a.view(), b.view(), o);
  });
  for (const PcResult& r : res) {
    EXPECT_EQ(r.dx_px, ref.dx_px);
    EXPECT_EQ(r.dy_px, ref.dy_px);
    EXPECT_EQ(r.ncc, ref.ncc);
    EXPECT_EQ(r.peak, ref.peak);
  }
}

TEST(PhaseCorrelation, PrefiltersAndWhiteningStillFindTheShift) {
  for (Prefilter f : {Prefilter::Gaussian, Prefilter::LaplacianOfGaussian})
    for (double whitening : {1.0, 0.5, 0.0}) {
      PcOptions o;
      o.prefilter = f;
      o.prefilter_sigma_px = 1.5;
      o.whitening = whitening;
      const PcResult r = correlate_scene(-5.6, 9.3, o, 128, 128, 19);
      ASSERT_TRUE(r.valid);
      EXPECT_NEAR(r.dx_px, -5.6, 0.25);
      EXPECT_NEAR(r.dy_px, 9.3, 0.25);
    }
}

TEST(PhaseCorrelation, HelperFunctions) {
  EXPECT_EQ(fast_fft_size(1), 1u);
  EXPECT_EQ(fast_fft_size(127), 128u);
  EXPECT_EQ(fast_fft_size(250), 250u);
  EXPECT_EQ(fast_fft_size(2765), 2800u);
  EXPECT_EQ(fast_fft_size(1383), 1400u);
  const ImageF hann = make_window(64, 32, Window::Hann, 0);
  EXPECT_NEAR(hann(31, 15), 1.0, 0.01);
  EXPECT_GT(hann(0, 0), 0.0f);
  EXPECT_LT(hann(0, 0), 0.01f);
  EXPECT_FLOAT_EQ(hann(10, 5), hann(53, 26));  // symmetric
  const ImageF box = make_window(16, 8, Window::Tukey, 0.0);
  for (float v : box) EXPECT_EQ(v, 1.0f);
  const ImageF tukey = make_window(100, 1, Window::Tukey, 0.5);
  EXPECT_EQ(tukey(50, 0), 1.0f);
  EXPECT_LT(tukey(2, 0), 0.1f);
  const ImageF a = render_blobs(random_blobs(80, 80, 50, 21), 80, 80);
  EXPECT_NEAR(ncc_at_shift(a.view(), a.view(), 0, 0), 1.0, 1e-6);
  EXPECT_EQ(ncc_at_shift(a.view(), a.view(), 80, 0), 0.0);
}

TEST(Preprocess, EqualizeHistogramMatchesSkimage) {
  // skimage.exposure.equalize_hist([[0,0,1,2],[3,3,3,10]], nbins) (Debian python3-skimage 0.19).
  ImageF a(4, 2);
  const float v[] = {0, 0, 1, 2, 3, 3, 3, 10};
  std::copy(v, v + 8, a.begin());
  const float want4[] = {0.5f, 0.5f, 0.5f, 0.6125f, 0.7625f, 0.7625f, 0.7625f, 1.0f};
  const float want256[] = {0.25f, 0.25f, 0.375f, 0.4625f, 0.875f, 0.875f, 0.875f, 1.0f};
  const ImageF e4 = equalize_histogram(a.view(), 4), e256 = equalize_histogram(a.view(), 256);
  for (int i = 0; i < 8; ++i) {
    EXPECT_NEAR(e4.data()[i], want4[i], 1e-5);
    EXPECT_NEAR(e256.data()[i], want256[i], 1e-5);
  }
  ImageF flat(3, 3);
  for (float x : equalize_histogram(flat.view())) EXPECT_EQ(x, 1.0f);
}

TEST(Preprocess, LaplacianOfGaussianRemovesGradients) {
  ImageF ramp(40, 30);
  for (std::size_t y = 0; y < 30; ++y)
    for (std::size_t x = 0; x < 40; ++x) ramp(x, y) = 100 + 2.0f * x - 0.5f * y;
  const ImageF log = prefilter_image(ramp.view(), Prefilter::LaplacianOfGaussian, 1.5);
  for (std::size_t y = 8; y < 22; ++y)
    for (std::size_t x = 8; x < 32; ++x) EXPECT_NEAR(log(x, y), 0.0, 1e-3);
  const ImageF spot = render_blobs({{20, 15, 1.5, 1}}, 40, 30);
  const ImageF ls = prefilter_image(spot.view(), Prefilter::LaplacianOfGaussian, 1.0);
  EXPECT_GT(ls(20, 15), 0.0f);  // bright blobs come out positive
}

TEST(PhaseCorrelation, NccRefinementClimbsAndFits) {
  const auto blobs = random_blobs(160, 120, 200, 23);
  const ImageF a = render_blobs(blobs, 160, 120), b = render_blobs(blobs, 160, 120, 3.35, -1.8);
  // Started two pixels off, the climb reaches the integer maximum and the fit the sub-pixel shift.
  const NccRefinement r = refine_shift_ncc(a.view(), b.view(), 5, -3);
  ASSERT_TRUE(r.valid);
  EXPECT_NEAR(r.dx_px, 3.35, 0.1);
  EXPECT_NEAR(r.dy_px, -1.8, 0.1);
  EXPECT_GT(r.ncc, 0.95);
  // Too far to climb within the allowed steps: invalid rather than a non-maximum.
  EXPECT_FALSE(refine_shift_ncc(a.view(), b.view(), 25, 20, {}, {}, 1).valid);
  // Through the correlator (Subpixel::Ncc), with valid rectangles.
  PcOptions o;
  o.subpixel = Subpixel::Ncc;
  const PcResult p = phase_correlate(a.view(), b.view(), o);
  ASSERT_TRUE(p.valid);
  EXPECT_NEAR(p.dx_px, 3.35, 0.1);
  EXPECT_NEAR(p.dy_px, -1.8, 0.1);
}
