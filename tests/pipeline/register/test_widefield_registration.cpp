// Widefield-to-localization registration on simulated FoVs with known misregistration, and the
// geometry of the widefield resampled onto the super-resolution grid.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "register/widefield_registration.hpp"
#include "render/render.hpp"
#include "sim/blinking.hpp"
#include "sim/specimen.hpp"
#include "sim/widefield.hpp"

using namespace annamosaic;

namespace {

struct Fov {
  ImageF sr, widefield;
};

// A 15 um FoV of microtubules (dense render at 20 nm) and its widefield (camera frames 3-5
// averaged, noise on) whose content is displaced by `shift` camera pixels.
Fov simulate_fov(std::uint64_t seed, PointNm shift) {
  SpecimenOptions so;
  so.region = {-5000, -5000, 25000, 25000};
  so.seed = seed;
  so.cell_fraction = 1.0;
  so.cell_spacing_um = 100;
  so.cell_radius_um = 200;
  so.gradient = 0;
  so.filaments_per_100um2 = 12;
  const Specimen specimen(so);
  const RectNm fov{0, 0, 15000, 15000};
  BlinkingOptions bo;
  bo.frames = 200;
  bo.detections_per_label = 4;
  const LocTable locs = simulate_localizations(specimen.labels_in(fov), fov, bo, seed + 1);
  Fov f;
  f.sr = render(locs, Field{0, 0, 15000, 15000}, RenderOptions{20.0, {}, 0});
  WidefieldOptions wo;
  wo.vignetting = 0.2;
  const auto stack = widefield_stack(specimen.labels_in(fov.expanded(1500)), fov, shift, wo, seed + 2);
  f.widefield = ImageF(stack[0].width(), stack[0].height());
  for (int k = 2; k < 5; ++k)
    for (std::size_t i = 0; i < f.widefield.size(); ++i) f.widefield.data()[i] += stack[static_cast<std::size_t>(k)].data()[i] / 3;
  return f;
}

}  // namespace

TEST(WidefieldRegistration, RecoversKnownShifts) {
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> u(-1.5, 1.5);
  double se = 0;
  const int n = 6;
  for (int k = 0; k < n; ++k) {
    const PointNm shift{u(rng), u(rng)};
    const Fov f = simulate_fov(100 + static_cast<std::uint64_t>(k), shift);
    const WidefieldRegistration r = register_widefield(f.sr.view(), f.widefield.view(), 20, 108);
    EXPECT_GT(r.confidence, 0.2);
    EXPECT_NEAR(r.shift_x_px, shift.x_nm, 0.3) << k;
    EXPECT_NEAR(r.shift_y_px, shift.y_nm, 0.3) << k;
    se += std::pow(r.shift_x_px - shift.x_nm, 2) + std::pow(r.shift_y_px - shift.y_nm, 2);
  }
  const double rms = std::sqrt(se / (2 * n));
  RecordProperty("rms_camera_px", std::to_string(rms));
  EXPECT_LE(rms, 0.2);
}

TEST(WidefieldRegistration, AMirroredOrTurnedWidefieldIsRecognised) {
  const Fov f = simulate_fov(300, PointNm{0.4, -0.3});
  const std::size_t n = f.widefield.width();
  ASSERT_EQ(n, f.widefield.height());
  ImageF mirrored(n, n), clockwise(n, n);
  for (std::size_t y = 0; y < n; ++y)
    for (std::size_t x = 0; x < n; ++x) {
      mirrored(n - 1 - x, y) = f.widefield(x, y);
      clockwise(n - 1 - y, x) = f.widefield(x, y);  // the top row becomes the right column
    }
  for (const auto& [image, name] : {std::pair{&mirrored, "mirrored left-right"}, std::pair{&clockwise, "turned 90 degrees clockwise"}}) {
    const WidefieldRegistration r = register_widefield(f.sr.view(), image->view(), 20, 108);
    EXPECT_LT(r.confidence, kMinWidefieldConfidence) << name;
    const WidefieldOrientation o = best_widefield_orientation(f.sr.view(), image->view(), 20, 108);
    EXPECT_EQ(o.name, name);
    EXPECT_GT(o.confidence, 0.3) << name;
  }
  // As it is, the widefield registers and no other orientation does better.
  const WidefieldRegistration r = register_widefield(f.sr.view(), f.widefield.view(), 20, 108);
  EXPECT_GT(r.confidence, best_widefield_orientation(f.sr.view(), f.widefield.view(), 20, 108).confidence);
}

TEST(WidefieldRegistration, EmptyLocalizationImageGivesNoShift) {
  const Fov f = simulate_fov(7, {0.8, -0.4});
  const ImageF empty(f.sr.width(), f.sr.height());
  const WidefieldRegistration r = register_widefield(empty.view(), f.widefield.view(), 20, 108);
  EXPECT_EQ(r.confidence, 0);
  EXPECT_EQ(r.shift_x_px, 0);
  EXPECT_EQ(r.shift_y_px, 0);
  EXPECT_THROW(register_widefield(f.sr.view(), f.widefield.view(), 0, 108), std::invalid_argument);
}

TEST(WidefieldRegistration, ResamplingOntoTheSrGridIsPixelCentreAligned) {
  // A widefield whose value is its own x coordinate (camera px index): the SR pixel x sees
  // camera coordinate (x + 0.5) * 20 / 108 - 0.5 + shift.
  ImageF wf(50, 40);
  for (std::size_t y = 0; y < 40; ++y)
    for (std::size_t x = 0; x < 50; ++x) wf(x, y) = static_cast<float>(x) + 1000.0f * static_cast<float>(y);
  WidefieldRegistration reg;
  reg.shift_x_px = 1.25;
  reg.shift_y_px = -0.5;
  const ImageF l = widefield_on_sr_grid(wf.view(), reg, 200, 180, 20, 108);
  ASSERT_EQ(l.width(), 200u);
  ASSERT_EQ(l.height(), 180u);
  for (std::size_t y : {20u, 77u, 150u})
    for (std::size_t x : {15u, 100u, 190u}) {
      const double u = (x + 0.5) * 20.0 / 108.0 - 0.5 + 1.25, v = (y + 0.5) * 20.0 / 108.0 - 0.5 - 0.5;
      EXPECT_NEAR(l(x, y), u + 1000.0 * v, 1e-2) << x << "," << y;
    }
  // Beyond the widefield's edge: the nearest edge pixel.
  const ImageF far = widefield_on_sr_grid(wf.view(), reg, 400, 10, 20, 108);
  EXPECT_NEAR(far(399, 0), 49 + 1000.0 * 0, 1e-3);
}
