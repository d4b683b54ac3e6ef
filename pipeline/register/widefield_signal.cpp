#include "register/widefield_signal.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "imgproc/filters.hpp"

namespace annamosaic {
namespace {

double median_of(std::vector<float>& v) {
  if (v.empty()) return 0;
  const auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
  std::nth_element(v.begin(), mid, v.end());
  return *mid;
}

}  // namespace

std::string WidefieldSignal::no_structure_text() const {
  return fmt::format("shows no structure above its noise ({} px more than 5 x {:.3g} counts above its background, of {} needed)",
                     bright_px, noise, std::max<std::size_t>(10, (2 * pixels + 9999) / 10000));
}

WidefieldSignal widefield_signal(ImageView<const float> wf, double camera_pixel_nm) {
  WidefieldSignal s;
  s.pixels = wf.width() * wf.height();
  if (wf.width() < 2 || wf.height() < 1) return s;
  // Noise from horizontal neighbour differences: structure is smooth at the PSF's scale, so their
  // median absolute deviation is the noise's (times sqrt 2).
  std::vector<float> d;
  d.reserve(s.pixels);
  for (std::size_t y = 0; y < wf.height(); ++y)
    for (std::size_t x = 1; x < wf.width(); ++x) d.push_back(wf(x, y) - wf(x - 1, y));
  const double dm = median_of(d);
  for (float& v : d) v = static_cast<float>(std::abs(v - dm));
  s.noise = median_of(d) / 0.6745 / std::sqrt(2.0);
  const ImageF floor = block_min_floor(
      wf, static_cast<std::size_t>(std::max(1.0, std::round(kWidefieldFloorBlockNm / (camera_pixel_nm > 0 ? camera_pixel_nm : 108)))));
  std::vector<float> flat;
  flat.reserve(s.pixels);
  for (std::size_t y = 0; y < wf.height(); ++y)
    for (std::size_t x = 0; x < wf.width(); ++x) flat.push_back(wf(x, y) - floor(x, y));
  std::vector<float> sorted = flat;
  const double level = median_of(sorted);
  for (float v : flat)
    if (v - level > 5 * s.noise && v - level > 0) ++s.bright_px;
  return s;
}

}  // namespace annamosaic
