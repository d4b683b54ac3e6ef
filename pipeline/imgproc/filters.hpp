#pragma once
// Small image filters over the one image type. Pure functions: buffers in, buffers out,
// deterministic for any thread count (each output pixel is computed by one task).
#include <cstddef>
#include <string>
#include <vector>

#include "core/image.hpp"

namespace annamosaic {

enum class Border { Zero, Replicate };

// Separable Gaussian blur with a kernel truncated at 4 sigma (sigma in pixels; 0 copies).
ImageF gaussian_blur(ImageView<const float> in, double sigma_px, Border border = Border::Replicate);

// The rows `rows` (any order, repeats allowed) of gaussian_blur(in, sigma_px, border): result row
// i is blurred row rows[i]. Cheaper when few rows are needed (a blur before sampling on a coarser
// grid): it filters vertically first, so it equals gaussian_blur up to float rounding (~1e-7
// relative), not bit for bit.
ImageF gaussian_blur_rows(ImageView<const float> in, double sigma_px, Border border, const std::vector<std::size_t>& rows);

// Bilinear resampling to (width, height), pixel centres aligned (like skimage.transform.resize
// with order=1 and no anti-aliasing).
ImageF resize_bilinear(ImageView<const float> in, std::size_t width, std::size_t height);

// Mean of factor x factor blocks (the last partial block averages what it has).
ImageF downsample_mean(ImageView<const float> in, std::size_t factor);

// The image's smooth floor (background, vignetting): minima over block_px x block_px blocks,
// averaged with their 8 neighbours and interpolated bilinearly between block centres. With blocks
// wider than the gaps between structures a block's minimum is background, so image - floor keeps
// the structure and loses the background's slow variations.
ImageF block_min_floor(ImageView<const float> in, std::size_t block_px);

// NaN or infinite pixels (a float export's masked areas) set to the median of the finite ones: one
// of them would make every A-net output NaN. Returns "" when every pixel was finite, else the
// warning to give ("PATH: N of M pixels are NaN or infinite: set to the median of the others (V)");
// an InputError naming `path` when no pixel is finite (an image of nothing).
std::string repair_nonfinite(ImageF& img, const std::string& path);

}  // namespace annamosaic
