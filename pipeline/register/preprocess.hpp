#pragma once
// Pure image preprocessing for registration: pre-filters and histogram equalisation.
// Buffers in, buffers out; deterministic for any thread count.
#include <cstddef>

#include "core/image.hpp"
#include "register/phase_correlation.hpp"

namespace annamosaic {

// None: a copy. Gaussian: blur with sigma_px. LaplacianOfGaussian: the negative discrete
// Laplacian of the Gaussian-blurred image (bright blobs of size ~sigma come out positive; flat
// backgrounds and linear gradients such as vignetting come out 0). Borders replicate.
ImageF prefilter_image(ImageView<const float> in, Prefilter filter, double sigma_px);

// Histogram equalisation like skimage.exposure.equalize_hist(image, nbins): the cumulative
// histogram of `bins` equal bins over [min, max] of the finite pixels, normalised to (0, 1],
// evaluated at each pixel by linear interpolation between bin centres. A constant image maps to
// all ones (skimage does the same); non-finite pixels map to 0.
ImageF equalize_histogram(ImageView<const float> in, std::size_t bins = 256);

}  // namespace annamosaic
