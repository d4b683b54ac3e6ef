#pragma once
// Whether a widefield image shows any structure above its own noise. The A-net (trained on
// widefields of labelled cells, min-max scaled) turns a widefield of background alone into
// filament-like texture: an empty FoV's reconstruction would be invented from camera noise. Such
// a widefield is told apart by counting pixels well above its smooth floor (background and
// vignetting): camera noise puts none 5 sigma above it, a few labelled structures put hundreds.
#include <cstddef>
#include <string>

#include "core/image.hpp"

namespace annamosaic {

// The floor of a widefield (background and vignetting): block minima over this width, about 16
// camera pixels, wider than the gaps of a dense network. Also the A-net's (anet/normalisation).
inline constexpr double kWidefieldFloorBlockNm = 1728;  // 16 x 108 nm

struct WidefieldSignal {
  double noise = 0;            // robust std of the pixel noise (the image's units)
  std::size_t bright_px = 0;   // pixels more than 5 noise above the typical level of image - floor
  std::size_t pixels = 0;
  // At least 10 such pixels and 2 in 10,000 (53 in a 512 x 512 camera field): a few hot pixels are not structure.
  bool has_structure() const { return bright_px >= 10 && bright_px * 10000 >= 2 * pixels; }
  // "shows no structure above its noise (N px more than 5 x X counts above its background)".
  std::string no_structure_text() const;
};

// `widefield`: the camera image (frames averaged), not resampled, at camera_pixel_nm. Deterministic.
WidefieldSignal widefield_signal(ImageView<const float> widefield, double camera_pixel_nm);

}  // namespace annamosaic
