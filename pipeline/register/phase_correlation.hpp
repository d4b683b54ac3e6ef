#pragma once
// Phase correlation (normalised cross-power spectrum) between two images of the same size, the
// common core of widefield registration and tile registration.
// Convention: the returned shift (dx, dy) is how far the content of `moving` lies from the
// content of `fixed`: moving(x + dx, y + dy) ~ fixed(x, y). Units: pixels, sub-pixel.
//
// Steps: optional pre-filter -> mean removal over the valid region (pixels outside it are
// missing and set to 0) -> window -> zero-padding to an FFT-friendly size (2^a 3^b 5^c 7^d) ->
// cross-power spectrum normalised by |F|^whitening -> inverse FFT -> the top `peaks` local maxima
// inside the search window -> every periodic interpretation of each peak (p and p - M per axis,
// M the padded size) that lies in the search window and leaves enough overlap is scored by
// normalised cross-correlation (NCC) of the pre-filtered, unwindowed images on the implied overlap
// -> the best interpretation is refined to sub-pixel precision on the correlation surface.
// Failures (an image without structure, no interpretation in the window) are result values
// (valid = false), never exceptions; a size mismatch is a programming error
// (std::invalid_argument).
#include <cstddef>
#include <memory>
#include <vector>

#include "core/image.hpp"

namespace annamosaic {

enum class Window { None, Hann, Tukey };
enum class Prefilter { None, Gaussian, LaplacianOfGaussian };
// Sub-pixel refinement of the integer peak: Paraboloid = least-squares quadratic on the 3x3
// neighbourhood; Gaussian = per-axis parabola through the log of the peak and its 4 neighbours
// (unbiased for the Gaussian-like peaks of blurred images, as cheap as the paraboloid);
// UpsampledDft = Guizar-Sicairos et al. 2008, the DFT evaluated on a 1/upsample grid around the
// peak (costs about one more FFT per call on strips); Ncc = hill-climb the NCC of the implied
// overlap over integer shifts from the chosen one, then a per-axis Gaussian (log-parabola) fit to
// it. All but Ncc refine the correlation surface, which partial overlaps, valid rectangles and
// windows tilt (the product of the two supports adds a slope under the peak: a bias of ~0.15 px
// on overlap strips); the NCC is normalised per overlap and has no such bias.
enum class Subpixel { None, Paraboloid, UpsampledDft, Gaussian, Ncc };

struct PcOptions {
  Window window = Window::Hann;
  double tukey_alpha = 0.25;  // fraction of each axis that is tapered (0: box, 1: Hann)
  Prefilter prefilter = Prefilter::None;
  double prefilter_sigma_px = 1.0;
  Subpixel subpixel = Subpixel::Paraboloid;
  int upsample = 20;            // for UpsampledDft: 1/upsample px precision
  int peaks = 4;                // top-n peaks examined
  bool validate_ncc = true;     // test every periodic interpretation of each peak by NCC on the implied overlap
  double min_overlap_fraction = 0.05;  // interpretations leaving less overlap (of the smaller valid area) are not considered
  double max_shift_x_px = -1, max_shift_y_px = -1;  // < 0: unlimited; else |shift - expected| <= max
  // Centre of the search window (the shift the caller expects, e.g. from stage positions).
  double expected_dx_px = 0, expected_dy_px = 0;
  // Exponent of the spectrum normalisation: 1 = classic phase correlation (pure phase), 0 = plain
  // cross-correlation; in between trades robustness to intensity differences for noise.
  double whitening = 1.0;
  // Interpretations whose overlap carries less structure than this (participation ratio, see
  // PcResult::active_px) are not considered: a single bright spot on each side can reach NCC 1
  // at a wrong shift. 0 disables the test.
  double min_active_px = 0;
  bool pad_to_fast_size = true;  // zero-pad to the next 2^a 3^b 5^c 7^d size (FFTW is slow on large primes)
};

// A rectangle [x0, x0+width) x [y0, y0+height) of valid pixels; width == 0 means the whole image.
struct PcRect {
  std::size_t x0 = 0, y0 = 0, width = 0, height = 0;
};

struct PcResult {
  double dx_px = 0, dy_px = 0;
  double peak = 0;        // height of the normalised correlation peak (pure phase: <= 1)
  double ncc = 0;         // normalised cross-correlation on the implied overlap (validation)
  double confidence = 0;  // in [0, 1]: max(ncc, 0) of the chosen interpretation; 0 = no match
  std::size_t overlap_px = 0;  // pixels in the implied overlap of the chosen interpretation
  // Participation ratio (sum v^2)^2 / sum v^4 of the mean-free overlap, the smaller of the two
  // images: roughly how many pixels carry the structure. A few isolated bright spots give a
  // small value, whatever their NCC.
  double active_px = 0;
  int candidates = 0;     // interpretations scored
  // The best NCC among the other scored interpretations more than 2 px from the chosen one
  // (-1 if none): close to `ncc` means the match is ambiguous (e.g. along a straight filament).
  double second_ncc = -1;
  double second_dx_px = 0, second_dy_px = 0;  // its (integer) shift, when second_ncc >= 0
  double second_peak = 0;  // the highest other peak in the window (0 if none)
  bool valid = false;
};

// Smallest n' >= n whose only prime factors are 2, 3, 5 and 7.
std::size_t fast_fft_size(std::size_t n);

// Correlator for one image size: plans are created once in the constructor (FFTW's planner is
// not thread-safe) and correlate() may then be called concurrently from any number of threads.
// Deterministic: the same inputs give the same result whatever the thread.
class PhaseCorrelator {
 public:
  PhaseCorrelator(std::size_t width, std::size_t height, PcOptions opt = {});
  ~PhaseCorrelator();
  PhaseCorrelator(const PhaseCorrelator&) = delete;
  PhaseCorrelator& operator=(const PhaseCorrelator&) = delete;

  std::size_t width() const { return width_; }
  std::size_t height() const { return height_; }
  const PcOptions& options() const { return opt_; }

  // `fixed_valid` / `moving_valid`: where each image has data (default: everywhere). Pixels
  // outside are treated as missing: zero after mean removal, and never part of an NCC overlap.
  PcResult correlate(ImageView<const float> fixed, ImageView<const float> moving, const PcRect& fixed_valid = {},
                     const PcRect& moving_valid = {}) const;

 private:
  struct Impl;
  std::size_t width_, height_;
  PcOptions opt_;
  std::unique_ptr<Impl> impl_;
};

// Thread-safe; FFT plans are cached per size and shared across threads.
PcResult phase_correlate(ImageView<const float> fixed, ImageView<const float> moving, const PcOptions& opt = {});

// Refines an integer shift on the NCC itself: climbs the NCC of fixed(x) and moving(x + s) over
// integer s from (sx, sy) (at most max_steps moves; invalid if still climbing), then fits a
// per-axis Gaussian (log-parabola) through the maximum and its 4 neighbours. Only pixels inside
// the valid rectangles count; shifts leaving fewer than min_overlap_px overlapping pixels are
// ignored. Used to bring a match found at reduced resolution to full-resolution precision.
struct NccRefinement {
  double dx_px = 0, dy_px = 0, ncc = 0;
  bool valid = false;
};
NccRefinement refine_shift_ncc(ImageView<const float> fixed, ImageView<const float> moving, long sx, long sy,
                              const PcRect& fixed_valid = {}, const PcRect& moving_valid = {}, int max_steps = 4,
                              double min_overlap_px = 1);

// Normalised cross-correlation of fixed(x, y) and moving(x + dx, y + dy) over their overlap
// (integer shift). Returns 0 if the overlap is empty or either side has no variance there.
double ncc_at_shift(ImageView<const float> fixed, ImageView<const float> moving, long dx, long dy);

// The separable window (width x height, values in [0, 1]) PhaseCorrelator applies.
ImageF make_window(std::size_t width, std::size_t height, Window window, double tukey_alpha);

}  // namespace annamosaic
