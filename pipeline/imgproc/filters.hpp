#pragma once
// Small image filters over the one image type. Pure functions: buffers in, buffers out,
// deterministic for any thread count (each output pixel is computed by one task).
#include <cstddef>

#include "core/image.hpp"

namespace annamosaic {

enum class Border { Zero, Replicate };

// Separable Gaussian blur with a kernel truncated at 4 sigma (sigma in pixels; 0 copies).
ImageF gaussian_blur(ImageView<const float> in, double sigma_px, Border border = Border::Replicate);

// Bilinear resampling to (width, height), pixel centres aligned (like skimage.transform.resize
// with order=1 and no anti-aliasing).
ImageF resize_bilinear(ImageView<const float> in, std::size_t width, std::size_t height);

// Mean of factor x factor blocks (the last partial block averages what it has).
ImageF downsample_mean(ImageView<const float> in, std::size_t factor);

}  // namespace annamosaic
