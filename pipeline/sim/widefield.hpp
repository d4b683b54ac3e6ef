#pragma once
// Widefield camera model for the simulator: labels (nm) -> PSF -> camera pixels -> noisy ADU frames.
// Pixel coordinates: camera pixel (i, j) covers x in [fov.x0 + i*px, fov.x0 + (i+1)*px), same for y;
// image width = ceil(fov.width / px) (a 1e-9 px tolerance absorbs rounding of exact multiples).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/image.hpp"
#include "sim/geometry.hpp"

namespace annamosaic {

struct WidefieldOptions {
  double camera_pixel_nm = 108;      // camera pixel size at the sample
  double wavelength_nm = 670;        // emission
  double numerical_aperture = 1.45;
  double psf_sigma_nm = 0;           // 0: 0.21 * wavelength / NA (Gaussian approximation of the Airy PSF)
  double photons_per_label = 20;     // mean photons per label per frame (widefield, all labels emit)
  double background_photons = 100;   // per pixel per frame
  double read_noise_e = 1.6;         // Gaussian read noise (electrons, rms)
  double gain_adu_per_e = 1.0;
  double offset_adu = 100;
  double vignetting = 0.0;           // relative intensity loss at the FoV corner (0: flat, 0.3: corners at 70%)
  int frames = 5;                    // frames per stage position
  int motion_blurred_frames = 2;     // the first frames are blurred by the stage still moving (paper: first 2 discarded)
  double motion_blur_um = 2.0;       // stage travel during a blurred frame (ending at the rest position)
  // The image content's direction of travel in a blurred frame (opposite to the field's over the sample):
  // (1, 0), (-1, 0), (0, 1) or (0, -1). simulate takes it from the stage's move from the FoV before.
  int motion_dx = 1, motion_dy = 0;
  bool noise = true;                 // false: the expected (noise-free) image, for tests and ground truth
};

// Expected photon image (no noise, no offset, no background) of labels seen through the PSF, integrated over
// camera pixels (exact Gaussian integral per pixel via erf differences, not point sampling; the PSF is cut at
// +-5 sigma, losing < 1e-6 of the light). `shift_px` displaces the image content by (dx, dy) camera pixels
// (a known misregistration between widefield and localizations: a label at x appears at x + dx*px);
// `extra_shift_x_nm` adds a further x displacement in nm. Labels outside the FoV still contribute light that
// spills in (callers pass labels from a margin around the FoV). Bit-identical for any TBB thread count.
// Throws std::invalid_argument on a non-positive pixel size or PSF width.
ImageF widefield_expected(const std::vector<PointNm>& labels, const RectNm& fov, PointNm shift_px,
                          const WidefieldOptions& opt, double extra_shift_x_nm = 0);

// Expected photon image of a frame recorded while the stage moves: the content travels uniformly along
// (motion_dx, motion_dy), from motion_blur_um behind the rest position to it, during the exposure.
// Computed exactly (the pixel integral of the Gaussian convolved with the path), i.e. the limit of
// averaging widefield_expected over many sub-positions. Equals widefield_expected when motion_blur_um == 0.
ImageF widefield_motion_blurred_expected(const std::vector<PointNm>& labels, const RectNm& fov, PointNm shift_px,
                                         const WidefieldOptions& opt);

// The recorded stack of `frames` images in ADU: per pixel, photons = (expected + background) x vignetting
// profile; electrons = Poisson(photons) + Normal(0, read_noise_e); ADU = gain * electrons + offset, rounded
// to whole numbers and clamped to [0, 65535] (uint16 values stored in ImageF). So a flat field has mean
// gain*background + offset and variance gain^2 * (background + read_noise_e^2) (+ 1/12 from rounding).
// The first `motion_blurred_frames` frames use widefield_motion_blurred_expected, the others widefield_expected.
// With noise off, frames are the expected ADU (gain * photons + offset, clamped, not rounded).
// Frame f draws from std::mt19937_64(mix_seed(seed, f)): deterministic for a seed, whatever the thread count.
std::vector<ImageF> widefield_stack(const std::vector<PointNm>& labels, const RectNm& fov, PointNm shift_px,
                                    const WidefieldOptions& opt, std::uint64_t seed);

// Vignetting profile (1 at the centre, 1 - vignetting at the corner pixel centres, smooth quadratic falloff
// 1 - vignetting * r^2 with r the normalised distance from the centre), image-sized.
ImageF vignetting_profile(std::size_t width_px, std::size_t height_px, double vignetting);

// The PSF's Gaussian sigma: opt.psf_sigma_nm if > 0, else 0.21 * wavelength / NA.
double psf_sigma_nm(const WidefieldOptions& opt);

}  // namespace annamosaic
