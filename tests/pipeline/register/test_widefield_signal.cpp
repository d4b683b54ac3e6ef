// widefield_signal: a widefield of background alone (noise, vignetting, hot pixels) shows no
// structure; a few labelled filaments' worth of light does.
#include <gtest/gtest.h>

#include <random>

#include "register/widefield_signal.hpp"
#include "sim/widefield.hpp"

using namespace annamosaic;

namespace {
// The camera model of the simulator: 25 um FoV at 108 nm, 100 background photons, vignetting 0.2,
// frames 3-5 averaged as the pipeline does.
ImageF widefield_of(const std::vector<PointNm>& labels, std::uint64_t seed) {
  WidefieldOptions o;
  o.vignetting = 0.2;
  const std::vector<ImageF> stack = widefield_stack(labels, RectNm{0, 0, 25000, 25000}, PointNm{0, 0}, o, seed);
  ImageF mean(stack[0].width(), stack[0].height());
  for (std::size_t f = 2; f < stack.size(); ++f)
    for (std::size_t i = 0; i < mean.size(); ++i) mean.data()[i] += stack[f].data()[i] / 3.0f;
  return mean;
}
// Labels along a few straight filaments (8 nm apart, as tubulin), `n` filaments.
std::vector<PointNm> filaments(int n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(2000, 23000), a(0, 3.14159);
  std::vector<PointNm> labels;
  for (int f = 0; f < n; ++f) {
    const double x0 = u(rng), y0 = u(rng), th = a(rng);
    for (double s = 0; s < 6000; s += 8) labels.push_back({x0 + s * std::cos(th), y0 + s * std::sin(th)});
  }
  return labels;
}
}  // namespace

TEST(WidefieldSignal, BackgroundAloneHasNoStructure) {
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    ImageF wf = widefield_of({}, seed);
    const WidefieldSignal s = widefield_signal(wf.view(), 108);
    EXPECT_FALSE(s.has_structure()) << "seed " << seed << ": " << s.bright_px << " bright px, noise " << s.noise;
    EXPECT_NEAR(s.noise, 10.0 / std::sqrt(3.0), 1.5);  // sqrt(100 photons) per frame, 3 frames averaged
    // Two hot pixels of an sCMOS camera are not structure either.
    wf(10, 10) += 5000, wf(100, 50) += 5000;
    EXPECT_FALSE(widefield_signal(wf.view(), 108).has_structure());
  }
}

TEST(WidefieldSignal, AFewFilamentsAreStructure) {
  // Two 6 um filaments in a 25 um field: the sparsest cell edge a campaign shows.
  const WidefieldSignal s = widefield_signal(widefield_of(filaments(2, 5), 1).view(), 108);
  EXPECT_TRUE(s.has_structure()) << s.bright_px << " bright px of " << s.pixels;
  EXPECT_TRUE(widefield_signal(widefield_of(filaments(40, 6), 2).view(), 108).has_structure());
  // A constant image (no noise, nothing) has none; a noise-free image of structure has.
  EXPECT_FALSE(widefield_signal(ImageF(64, 64).view(), 108).has_structure());
  WidefieldOptions clean;
  clean.noise = false;
  const std::vector<ImageF> stack = widefield_stack(filaments(2, 5), RectNm{0, 0, 25000, 25000}, PointNm{0, 0}, clean, 1);
  EXPECT_TRUE(widefield_signal(stack[4].view(), 108).has_structure());
  // What a FoV's warning says.
  const WidefieldSignal empty = widefield_signal(widefield_of({}, 9).view(), 108);
  EXPECT_NE(empty.no_structure_text().find("shows no structure above its noise (0 px more than 5 x"), std::string::npos)
      << empty.no_structure_text();
}
