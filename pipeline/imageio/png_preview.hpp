#pragma once
// 8-bit PNG previews of float images (mosaics, renders) for quick looks and reports.
//
// write_preview_png() first shrinks the image by an integer block factor so that neither side
// exceeds max_size_px, taking the MAXIMUM of each block (so a single localization in a sparse
// render survives), then stretches contrast on that shrunken image (preview_range), i.e. on the
// pixels actually shown, which keeps the cost bounded by max_size_px^2 whatever the input size.
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/image.hpp"

namespace annamosaic {

enum class Colormap { Gray, Hot };  // Gray: 8-bit gray PNG; Hot: black-red-yellow-white RGB PNG

struct PreviewOptions {
  double low_percentile = 0.5, high_percentile = 99.8;
  std::size_t max_size_px = 2048;  // 0 = never downsample
  Colormap colormap = Colormap::Hot;
};

// Percentiles of the finite pixels (NaN and +-inf ignored): the value of rank
// round(p / 100 * (n - 1)) among the n sorted values, without interpolation. Exact: it copies
// the finite values (4 bytes per pixel) and uses nth_element, so call it on previews rather
// than on multi-gigapixel mosaics. {0, 0} when no pixel is finite. Percentiles must satisfy
// 0 <= low_pct <= high_pct <= 100 (std::invalid_argument otherwise).
std::pair<float, float> percentile_range(ImageView<const float> image, double low_pct, double high_pct);

// The display range write_preview_png() maps to 0..255:
//  1. the percentile range;
//  2. sparse images: if the high percentile is 0 but some pixel is positive, the high end is the
//     high percentile of the non-zero pixels (the low end stays, so zeros remain black and every
//     localization shows);
//  3. if still high <= low: [min, max] of the finite pixels; an all-equal image gives
//     low == high, which maps to black.
std::pair<float, float> preview_range(ImageView<const float> image, const PreviewOptions& opt);

// Integer block factor used for downsampling: 1 if both sides fit max_size_px (or it is 0),
// else ceil(max(width, height) / max_size_px). The preview is ceil(w / f) x ceil(h / f).
std::size_t preview_block_factor(std::size_t width, std::size_t height, std::size_t max_size_px);

// Block-maximum downsampling (NaN ignored; an all-NaN block stays NaN).
ImageF downsample_max(ImageView<const float> image, std::size_t factor);

// The preview as interleaved 8-bit RGB (the Hot colormap, or gray in all three channels), of the
// downsampled size given back in width and height: to draw on before writing (write_png_rgb).
std::vector<std::uint8_t> preview_rgb(ImageView<const float> image, const PreviewOptions& opt, std::size_t& width,
                                      std::size_t& height);

// Writes the preview atomically; IoError naming `path` on failure, std::invalid_argument for an
// empty image.
void write_preview_png(const std::string& path, ImageView<const float> image, const PreviewOptions& opt);

// Writes interleaved 8-bit RGB (width*height*3 bytes, rows top to bottom) atomically, e.g. QC heat maps.
void write_png_rgb(const std::string& path, std::size_t width, std::size_t height, std::vector<std::uint8_t> rgb);

}  // namespace annamosaic
