#include <gtest/gtest.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "sim/widefield.hpp"

using namespace annamosaic;

namespace {

constexpr double kPx = 108.0;

// A FoV of n x n camera pixels with its corner away from the origin (catches x0 mix-ups).
RectNm fov_px(int n) { return {5000.0, -3000.0, n * kPx, n * kPx}; }

WidefieldOptions noise_free() {
  WidefieldOptions o;
  o.noise = false;
  return o;
}

double total(const ImageF& img) {
  double s = 0;
  for (float v : img) s += v;
  return s;
}

struct Moments {
  double mean_x = 0, mean_y = 0, var_x = 0, var_y = 0;
};

// Intensity-weighted centroid and variance in pixel units (pixel centres at i + 0.5), after subtracting `base`.
Moments moments(const ImageF& img, double base = 0) {
  double s = 0, sx = 0, sy = 0, sxx = 0, syy = 0;
  for (std::size_t y = 0; y < img.height(); ++y)
    for (std::size_t x = 0; x < img.width(); ++x) {
      const double w = img(x, y) - base, cx = static_cast<double>(x) + 0.5, cy = static_cast<double>(y) + 0.5;
      s += w;
      sx += w * cx;
      sy += w * cy;
      sxx += w * cx * cx;
      syy += w * cy * cy;
    }
  Moments m;
  m.mean_x = sx / s;
  m.mean_y = sy / s;
  m.var_x = sxx / s - m.mean_x * m.mean_x;
  m.var_y = syy / s - m.mean_y * m.mean_y;
  return m;
}

std::vector<PointNm> random_labels(const RectNm& r, std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> ux(r.x0_nm, r.x1_nm()), uy(r.y0_nm, r.y1_nm());
  std::vector<PointNm> out(n);
  for (auto& p : out) p = {ux(rng), uy(rng)};
  return out;
}

bool identical(const ImageF& a, const ImageF& b) {
  return a.width() == b.width() && a.height() == b.height() && std::equal(a.begin(), a.end(), b.begin());
}

}  // namespace

TEST(Widefield, ImageSizeIsCeilOfFovOverPixel) {
  const WidefieldOptions o = noise_free();
  EXPECT_EQ(widefield_expected({}, fov_px(64), {}, o).width(), 64u);  // exact multiple: no extra pixel
  const ImageF img = widefield_expected({}, RectNm{0, 0, 10.5 * kPx, 3.01 * kPx}, {}, o);
  EXPECT_EQ(img.width(), 11u);
  EXPECT_EQ(img.height(), 4u);
}

TEST(Widefield, DefaultPsfSigmaFromWavelengthAndNa) {
  WidefieldOptions o;
  EXPECT_NEAR(psf_sigma_nm(o), 0.21 * 670 / 1.45, 1e-9);
  o.psf_sigma_nm = 150;
  EXPECT_EQ(psf_sigma_nm(o), 150);
}

TEST(Widefield, TotalPhotonsOfLabelsAwayFromTheBorder) {
  const RectNm fov = fov_px(64);
  const auto labels = random_labels(fov.expanded(-1000), 500, 7);
  const WidefieldOptions o = noise_free();
  const ImageF img = widefield_expected(labels, fov, {}, o);
  EXPECT_NEAR(total(img), 500 * o.photons_per_label, 1e-3 * 500 * o.photons_per_label);
}

TEST(Widefield, PsfWidthOnAStraightFilamentIncludesThePixelBox) {
  const RectNm fov = fov_px(64);
  for (double sigma_nm : {0.0, 60.0, 150.0}) {
    WidefieldOptions o = noise_free();
    o.psf_sigma_nm = sigma_nm;
    // A vertical filament at the FoV's centre, running past both ends so every row sees the same profile.
    std::vector<PointNm> labels;
    const double xc = fov.x0_nm + 0.5 * fov.width_nm;
    for (double y = fov.y0_nm - 1000; y < fov.y1_nm() + 1000; y += 2) labels.push_back({xc, y});
    const ImageF img = widefield_expected(labels, fov, {}, o);
    const Moments m = moments(img);
    const double s_px = psf_sigma_nm(o) / kPx;
    EXPECT_NEAR(m.mean_x, 32.0, 1e-6) << "sigma " << sigma_nm;
    EXPECT_NEAR(m.var_x, s_px * s_px + 1.0 / 12, 0.05 * (s_px * s_px + 1.0 / 12)) << "sigma " << sigma_nm;
  }
}

TEST(Widefield, ShiftMovesTheCentroidByThatManyPixels) {
  const RectNm fov = fov_px(32);
  const std::vector<PointNm> one{{fov.x0_nm + 15.3 * kPx, fov.y0_nm + 16.7 * kPx}};
  const WidefieldOptions o = noise_free();
  const Moments a = moments(widefield_expected(one, fov, {}, o));
  const Moments b = moments(widefield_expected(one, fov, {0.5, -0.25}, o));
  EXPECT_NEAR(a.mean_x, 15.3, 0.01);
  EXPECT_NEAR(a.mean_y, 16.7, 0.01);
  EXPECT_NEAR(b.mean_x - a.mean_x, 0.5, 0.01);
  EXPECT_NEAR(b.mean_y - a.mean_y, -0.25, 0.01);
  // extra_shift_x_nm is a further displacement in nm.
  const Moments c = moments(widefield_expected(one, fov, {0.5, -0.25}, o, -54.0));
  EXPECT_NEAR(c.mean_x - b.mean_x, -0.5, 0.01);
}

TEST(Widefield, LabelsOutsideTheFovSpillIn) {
  const RectNm fov = fov_px(16);
  const std::vector<PointNm> outside{{fov.x0_nm - 40, fov.y0_nm + 8 * kPx}};
  const ImageF img = widefield_expected(outside, fov, {}, noise_free());
  EXPECT_GT(img(0, 8), 0.1 * 20);  // a good share of the light lands in the first column
  EXPECT_LT(total(img), 20 * 0.5);  // but less than half of it
  EXPECT_EQ(img(15, 8), 0.0f);      // far away: nothing
}

TEST(Widefield, FlatFieldNoiseHasShotAndReadNoiseStatistics) {
  for (double gain : {1.0, 2.5}) {
    WidefieldOptions o;
    o.gain_adu_per_e = gain;
    o.frames = 4;
    const auto stack = widefield_stack({}, fov_px(128), {}, o, 42);
    ASSERT_EQ(stack.size(), 4u);
    double s = 0, ss = 0, n = 0;
    for (const ImageF& f : stack)
      for (float v : f) {
        EXPECT_EQ(v, std::round(v));  // whole ADU
        s += v;
        ss += double(v) * v;
        n += 1;
      }
    const double mean = s / n, var = ss / n - mean * mean;
    const double want_mean = o.background_photons * gain + o.offset_adu;
    const double want_var = gain * gain * (o.background_photons + o.read_noise_e * o.read_noise_e) + 1.0 / 12;
    EXPECT_NEAR(mean, want_mean, 0.002 * want_mean) << "gain " << gain;
    EXPECT_NEAR(var, want_var, 0.03 * want_var) << "gain " << gain;
  }
}

TEST(Widefield, SaturationClampsTo16Bit) {
  WidefieldOptions o;
  o.background_photons = 1e6;
  o.frames = 1;
  const auto stack = widefield_stack({}, fov_px(8), {}, o, 1);
  for (float v : stack[0]) EXPECT_EQ(v, 65535.0f);
}

TEST(Widefield, VignettingProfileCentreAndCorners) {
  const ImageF p = vignetting_profile(101, 81, 0.3);
  EXPECT_NEAR(p(50, 40), 1.0, 1e-6);
  for (auto [x, y] : {std::pair{0, 0}, {100, 0}, {0, 80}, {100, 80}}) EXPECT_NEAR(p(x, y), 0.7, 1e-6);
  EXPECT_GT(p(25, 20), p(0, 0));  // falls off monotonically along the diagonal
  EXPECT_LT(p(25, 20), p(50, 40));
  for (float v : vignetting_profile(16, 16, 0.0)) EXPECT_EQ(v, 1.0f);
}

TEST(Widefield, VignettingDimsTheRecordedCorners) {
  WidefieldOptions o = noise_free();
  o.vignetting = 0.3;
  o.frames = 1;
  const auto stack = widefield_stack({}, RectNm{0, 0, 65 * kPx, 65 * kPx}, {}, o, 3);
  const double centre = stack[0](32, 32) - o.offset_adu, corner = stack[0](0, 64) - o.offset_adu;
  EXPECT_NEAR(centre, o.background_photons, 1e-3);
  EXPECT_NEAR(centre / corner, 1 / 0.7, 1e-4);
}

TEST(Widefield, MotionBlurWidensTheFirstFramesAlongX) {
  const RectNm fov = fov_px(64);
  const std::vector<PointNm> spots{{fov.x0_nm + 40 * kPx, fov.y0_nm + 20 * kPx},
                                   {fov.x0_nm + 45 * kPx, fov.y0_nm + 44 * kPx}};
  WidefieldOptions o = noise_free();
  o.background_photons = 0;
  o.photons_per_label = 1000;
  const auto stack = widefield_stack(spots, fov, {}, o, 9);
  ASSERT_EQ(stack.size(), 5u);
  const Moments still = moments(stack[4], o.offset_adu);
  for (int f = 0; f < 2; ++f) {
    const Moments blurred = moments(stack[f], o.offset_adu);
    const double travel_px = o.motion_blur_um * 1000 / kPx;
    // A uniform travel of L adds L^2/12 to the variance along x and moves the centroid back by L/2.
    EXPECT_GT(blurred.var_x, still.var_x + 10);
    EXPECT_NEAR(blurred.var_x, still.var_x + travel_px * travel_px / 12, 0.01 * blurred.var_x);
    EXPECT_NEAR(blurred.mean_x, still.mean_x - travel_px / 2, 0.01);
    EXPECT_NEAR(blurred.var_y, still.var_y, 1e-3);
  }
  EXPECT_TRUE(identical(stack[2], stack[3]));
  EXPECT_TRUE(identical(stack[2], stack[4]));
  EXPECT_FALSE(identical(stack[1], stack[2]));
}

TEST(Widefield, MotionBlurAlongYGoesTheWayItIsGiven) {
  const RectNm fov = fov_px(64);
  const std::vector<PointNm> spots{{fov.x0_nm + 20 * kPx, fov.y0_nm + 30 * kPx}};
  WidefieldOptions o = noise_free();
  o.background_photons = 0;
  o.photons_per_label = 1000;
  o.motion_dx = 0, o.motion_dy = -1;  // the content moves up: it comes from below its rest position
  const auto stack = widefield_stack(spots, fov, {}, o, 9);
  const Moments still = moments(stack[4], o.offset_adu), blurred = moments(stack[0], o.offset_adu);
  const double travel_px = o.motion_blur_um * 1000 / kPx;
  EXPECT_NEAR(blurred.var_y, still.var_y + travel_px * travel_px / 12, 0.01 * blurred.var_y);
  EXPECT_NEAR(blurred.mean_y, still.mean_y + travel_px / 2, 0.01);
  EXPECT_NEAR(blurred.var_x, still.var_x, 1e-3);
  o.motion_dx = 1;  // not along one axis
  EXPECT_THROW(widefield_stack(spots, fov, {}, o, 9), std::invalid_argument);
}

TEST(Widefield, MotionBlurIsTheLimitOfAveragedSubPositions) {
  const RectNm fov = fov_px(48);
  const auto labels = random_labels(fov, 40, 11);
  WidefieldOptions o = noise_free();
  const ImageF exact = widefield_motion_blurred_expected(labels, fov, {0.2, 0.1}, o);
  // Midpoint rule over many sub-positions from -motion_blur_um to 0.
  const int n = 400;
  ImageF mean(exact.width(), exact.height());
  for (int k = 0; k < n; ++k) {
    const double dx_nm = -o.motion_blur_um * 1000 * (1 - (k + 0.5) / n);
    const ImageF sub = widefield_expected(labels, fov, {0.2, 0.1}, o, dx_nm);
    for (std::size_t i = 0; i < mean.size(); ++i) mean.data()[i] += sub.data()[i] / n;
  }
  double max_err = 0;
  for (std::size_t i = 0; i < mean.size(); ++i)
    max_err = std::max(max_err, double(std::abs(mean.data()[i] - exact.data()[i])));
  EXPECT_LT(max_err, 1e-3 * o.photons_per_label);
  o.motion_blur_um = 0;  // no travel: the static image
  EXPECT_TRUE(identical(widefield_motion_blurred_expected(labels, fov, {}, o), widefield_expected(labels, fov, {}, o)));
}

TEST(Widefield, StackIsDeterministicForASeed) {
  const RectNm fov = fov_px(48);
  const auto labels = random_labels(fov.expanded(500), 3000, 5);
  WidefieldOptions o;
  o.vignetting = 0.2;
  const auto a = widefield_stack(labels, fov, {0.3, 0.1}, o, 123);
  const auto b = widefield_stack(labels, fov, {0.3, 0.1}, o, 123);
  const auto c = widefield_stack(labels, fov, {0.3, 0.1}, o, 124);
  ASSERT_EQ(a.size(), 5u);
  for (std::size_t f = 0; f < a.size(); ++f) {
    EXPECT_TRUE(identical(a[f], b[f])) << f;
    EXPECT_FALSE(identical(a[f], c[f])) << f;
  }
  EXPECT_FALSE(identical(a[3], a[4]));  // frames have independent noise
}

TEST(Widefield, ResultsDoNotDependOnTheThreadCount) {
  const RectNm fov = fov_px(200);  // several row bands
  const auto labels = random_labels(fov.expanded(300), 20000, 8);
  WidefieldOptions o;
  const int threads = std::max(2, tbb::this_task_arena::max_concurrency());
  std::vector<ImageF> one, many;
  tbb::task_arena(1).execute([&] { one = widefield_stack(labels, fov, {}, o, 77); });
  tbb::task_arena(threads).execute([&] { many = widefield_stack(labels, fov, {}, o, 77); });
  ASSERT_EQ(one.size(), many.size());
  for (std::size_t f = 0; f < one.size(); ++f) EXPECT_TRUE(identical(one[f], many[f])) << f;
  ImageF e1, e4;
  tbb::task_arena(1).execute([&] { e1 = widefield_expected(labels, fov, {}, o); });
  tbb::task_arena(threads).execute([&] { e4 = widefield_expected(labels, fov, {}, o); });
  EXPECT_TRUE(identical(e1, e4));
}

TEST(Widefield, RejectsBadOptions) {
  WidefieldOptions o;
  o.camera_pixel_nm = 0;
  EXPECT_THROW(widefield_expected({}, fov_px(8), {}, o), std::invalid_argument);
  o = WidefieldOptions{};
  o.numerical_aperture = 0;
  EXPECT_THROW(widefield_stack({}, fov_px(8), {}, o, 1), std::invalid_argument);
  o = WidefieldOptions{};
  o.frames = 0;
  EXPECT_TRUE(widefield_stack({}, fov_px(8), {}, o, 1).empty());
}
