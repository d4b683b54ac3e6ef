#pragma once
// Whether a widefield image shows any structure above its own noise. The A-net (trained on
// widefields of labelled cells, min-max scaled) turns a widefield of background alone into
// filament-like texture: an empty FoV's reconstruction would be invented from camera noise. Such
// a widefield is told apart by counting pixels well above its smooth floor (background and
// vignetting): camera noise puts none 5 sigma above it, a few labelled structures put hundreds.
#include <cstddef>

#include "core/image.hpp"

namespace annamosaic {

struct WidefieldSignal {
  double noise = 0;            // robust std of the pixel noise (the image's units)
  std::size_t bright_px = 0;   // pixels more than 5 noise above the floor's typical level
  std::size_t pixels = 0;
  // At least 10 such pixels and 2 in 10,000: a hot pixel or two is not structure.
  bool has_structure() const { return bright_px >= 10 && bright_px * 10000 >= 2 * pixels; }
};

// `widefield`: the camera image (frames averaged), not resampled. Deterministic.
WidefieldSignal widefield_signal(ImageView<const float> widefield);

}  // namespace annamosaic
