#pragma once
// Widefield-to-localization registration, the ANNA-PALM recipe (anet.md "Data preparation"):
// histogram-equalise the localization image, Gaussian blur (sigma 6 SR px), resize (bilinear) to
// the widefield grid, phase-correlate with the widefield image, then shift the widefield and
// upsample it bilinearly onto the super-resolution grid (L = B(W)). Used by training and by the
// pipeline. Shifts are in camera pixels: the widefield content lies at (x + shift_x, y + shift_y)
// relative to the localization image, exactly like the simulator's ground-truth shift.
//
// Geometry: both images start at the same corner of the field; SR pixel i covers
// [i, i+1) * pixel_nm and camera pixel j covers [j, j+1) * camera_pixel_nm. Only the part of the
// widefield covered by the SR image takes part in the correlation.
#include <cstddef>

#include "core/image.hpp"
#include "register/phase_correlation.hpp"

#include <string>

namespace annamosaic {

struct WidefieldRegOptions {
  double blur_sigma_sr_px = 6.0;
  double max_shift_camera_px = 5.0;   // search limit, per axis (run's --widefield-search-um)
  // Phase correlation on the camera grid. Defaults measured on a simulated 8 x 8 campaign
  // (59 FoVs with > 1000 labels, dense images, known shifts up to 1.5 px): the paper's plain
  // recipe (Hann window, pure phase) gave 0.34 camera px RMS with 12 failures, because the
  // vignetted widefield background dominates; a Laplacian-of-Gaussian pre-filter (sigma 1 camera
  // px) removes it, a Tukey window keeps the field's edges, and half whitening (|F|^0.5) is less
  // noise-sensitive than pure phase: 0.009 px RMS, max 0.04 (sparse 10%-frame images: 0.05 RMS).
  Window window = Window::Tukey;
  double tukey_alpha = 0.25;
  double whitening = 0.5;
  Prefilter prefilter = Prefilter::LaplacianOfGaussian;
  double prefilter_sigma_camera_px = 1.0;
  // Sub-pixel by upsampled DFT: the images are small (~512^2), so the 1/20 px refinement is cheap.
  Subpixel subpixel = Subpixel::UpsampledDft;
  int upsample = 20;
};

// Below this confidence the measured shift is not applied (the widefield stays at its nominal
// place); the QC report flags such FoVs.
inline constexpr double kMinWidefieldConfidence = 0.1;

struct WidefieldRegistration {
  double shift_x_px = 0, shift_y_px = 0;  // camera pixels, applied: 0 when confidence < kMinWidefieldConfidence
  double measured_shift_x_px = 0, measured_shift_y_px = 0;  // the correlation peak's, whatever its confidence
  double confidence = 0;                   // 0..1; 0: no structure to register (shift left at 0)
};

// `sr`: localization image at pixel_nm (S or T); `widefield`: the camera image of the same FoV
// (origin at the same corner, camera_pixel_nm per pixel). Thread-safe, deterministic.
// Throws std::invalid_argument for non-positive pixel sizes.
WidefieldRegistration register_widefield(ImageView<const float> sr, ImageView<const float> widefield, double pixel_nm,
                                         double camera_pixel_nm, const WidefieldRegOptions& opt = {});

// A widefield that does not register (confidence < kMinWidefieldConfidence) may be mirrored or
// rotated against the localizations (a camera mounted otherwise, an export that flips y). The
// best of the 7 other orientations (mirrors, quarter turns; square widefields only for the turns),
// registered as above: "" and 0 when none was tried.
struct WidefieldOrientation {
  std::string name;  // "mirrored left-right", "turned 90 degrees clockwise", ...
  double confidence = 0;
};
WidefieldOrientation best_widefield_orientation(ImageView<const float> sr, ImageView<const float> widefield, double pixel_nm,
                                                double camera_pixel_nm, const WidefieldRegOptions& opt = {});

// The widefield moved by -shift and resampled (bilinear) onto the SR grid of sr_width x sr_height.
// Samples beyond the widefield's edge take the nearest edge pixel. With a default (zero)
// registration this is plain resampling of any image onto a finer (or coarser) pixel grid.
ImageF widefield_on_sr_grid(ImageView<const float> widefield, const WidefieldRegistration& reg, std::size_t sr_width,
                            std::size_t sr_height, double pixel_nm, double camera_pixel_nm);

// Sets to NaN ("no data") the pixels of widefield_on_sr_grid's image that lie beyond the
// widefield's outer pixel edges (a widefield smaller than the FoV: its repeated edge drew a
// streak over the rest of the tile in the mosaic's widefield channel); returns how many.
std::size_t mark_beyond_widefield(ImageF& on_sr_grid, std::size_t widefield_width, std::size_t widefield_height,
                                  const WidefieldRegistration& reg, double pixel_nm, double camera_pixel_nm);

}  // namespace annamosaic
