#pragma once
// Image-quality metrics for reports, evaluation and QC: torch-free, pure functions on the one
// image type, cheap enough to call per FoV. Images are compared as they are (no implicit
// normalisation): bring both to a common scale first (normalise_to_unit, data_range).
//
//  - ssim():         Wang et al. 2004 SSIM, Gaussian window (sigma 1.5, radius 5 = 11 x 11),
//                    K1 0.01, K2 0.03, mean over the 'valid' region (pixels whose window lies
//                    inside the image). Equals skimage.metrics.structural_similarity(a, b,
//                    gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
//                    data_range=...) (skimage filters with reflection, then crops 5 px, which
//                    leaves exactly the valid region).
//  - ms_ssim_wang(): Wang et al. 2003 pyramid MS-SSIM: 5 scales, weights 0.0448 0.2856 0.3001
//                    0.2363 0.1333, cs means at scales 1..4 and the SSIM mean at scale 5, each
//                    scale the previous one averaged over 2 x 2 blocks (odd edges dropped).
//                    Needs >= 176 px per side (11 px at the coarsest scale); smaller images
//                    use as many scales as fit (weights renormalised), documented in the result.
//                    Negative cs/ssim means are clamped to 0 before the power.
//  - psnr():         10 log10(data_range^2 / MSE).
//  - frc():          Fourier ring correlation of two independent images of the same object,
//                    resolution = 1 / (frequency where the FRC first falls below 1/7).
// The authors' per-pixel MS-SSIM map (the training loss) lives with the networks (losses.hpp).
#include <cstddef>
#include <vector>

#include "core/image.hpp"

namespace annamosaic {

// The smallest image side with all five Wang MS-SSIM scales (11 px at the coarsest).
inline constexpr std::size_t kMsSsimMinSidePx = 176;

struct SsimOptions {
  double data_range = 1.0;
  double sigma = 1.5;       // Gaussian window; radius = int(3.5 * sigma + 0.5) as in scipy/skimage
  double k1 = 0.01, k2 = 0.03;
};

// Mean SSIM over the valid region. Throws std::invalid_argument for different sizes or an image
// smaller than the window.
double ssim(ImageView<const float> a, ImageView<const float> b, const SsimOptions& opt = {});

struct MsSsimResult {
  double value = 0;
  int scales = 0;  // scales actually used (5 unless the image is small)
};
MsSsimResult ms_ssim_wang_detail(ImageView<const float> a, ImageView<const float> b, const SsimOptions& opt = {});
inline double ms_ssim_wang(ImageView<const float> a, ImageView<const float> b, const SsimOptions& opt = {}) {
  return ms_ssim_wang_detail(a, b, opt).value;
}

// +inf for identical images.
double psnr(ImageView<const float> a, ImageView<const float> b, double data_range = 1.0);

struct FrcResult {
  std::vector<double> frequency_per_nm;  // ring centres
  std::vector<double> correlation;       // FRC per ring
  double resolution_nm = 0;              // 1 / crossing frequency
  bool crossed = false;                  // false: FRC stays above the threshold up to Nyquist
                                         // (resolution_nm is then 2 pixels, an upper bound), or
                                         // is below it from the lowest ring on (NaN: undefined)
};
// Both images are multiplied by a Tukey window (alpha 0.25) to suppress edge artefacts; rings are
// one frequency bin (1 / max(width, height) cycles/px) wide; the first crossing after the lowest
// 2 rings is interpolated linearly. `threshold` defaults to the usual 1/7.
FrcResult frc(ImageView<const float> a, ImageView<const float> b, double pixel_nm, double threshold = 1.0 / 7.0);

// Scales an image by the value of its `quantile` (over all pixels; e.g. 0.999) and clips to
// [0, 1]: the common scale of targets and reconstructions for the metrics (see anet/README).
// An image whose quantile is 0 is scaled by its maximum instead (sparse histograms); an
// all-zero image stays zero.
ImageF normalise_to_unit(ImageView<const float> image, double quantile);

}  // namespace annamosaic
