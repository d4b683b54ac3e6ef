#pragma once
// Pure pyramid mathematics shared by the IMS writer, the IMS reader and the exporters: level
// geometry, 2x2 downsampling and value histograms. No files, no threads, no MPI.
//
// The rules (the Python checks in tests/stitch/pyramid follow them exactly):
//  - Level sizes: level r+1 has floor(W_r / 2) x floor(H_r / 2) pixels. With an odd size the last
//    column (row) of level r belongs to no 2x2 block and does not reach level r+1.
//  - Level count: levels are added while the last one does not fit in one chunk
//    (width > kChunkWidth or height > kChunkHeight) and both halves stay >= 1 pixel; so the
//    coarsest level is about one chunk (for a 33,180^2 mosaic: 8 levels, the last 259^2).
//  - Pixel: dst(x, y) = (a + b + c + d + 2) / 4 in integer arithmetic, with a..d the pixels
//    (2x, 2y), (2x+1, 2y), (2x, 2y+1), (2x+1, 2y+1) of the level below: the mean rounded half
//    up (ties go to the larger value). Each level is computed from the stored level below
//    (cascaded), never from level 0 directly.
#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "core/image.hpp"

namespace annamosaic {

// HDF5 chunk of every IMS data set (formats.md): (z, y, x) = (1, 512, 1024).
constexpr std::size_t kChunkWidth = 1024;
constexpr std::size_t kChunkHeight = 512;

struct LevelSize {
  std::size_t width = 0, height = 0;  // true size in pixels (ImageSizeX/Y)
  std::size_t padded_width() const { return (width + kChunkWidth - 1) / kChunkWidth * kChunkWidth; }
  std::size_t padded_height() const { return (height + kChunkHeight - 1) / kChunkHeight * kChunkHeight; }
  std::size_t chunks_x() const { return padded_width() / kChunkWidth; }
  std::size_t chunks_y() const { return padded_height() / kChunkHeight; }
  std::size_t chunks() const { return chunks_x() * chunks_y(); }
};

// Level sizes for a level-0 image of width x height (both > 0; std::invalid_argument otherwise).
std::vector<LevelSize> plan_pyramid(std::size_t width, std::size_t height);

// dst = 2x2 rounded mean of src (rule above). dst must be exactly floor(src/2) in both axes
// (std::invalid_argument otherwise). Strided views are fine.
void downsample_2x2(ImageView<const std::uint16_t> src, ImageView<std::uint16_t> dst);

// Exact value histogram of uint16 data: one bin per value.
using FullHistogram = std::vector<std::uint64_t>;  // size 65536
constexpr std::size_t kFullHistogramBins = 65536;

// Imaris-style histogram: `bins` equal-width bins spanning the integer values [min, max]
// inclusive: value v goes to bin floor((v - min) * bins / (max - min + 1)). min/max are the
// smallest/largest value present (0/0 for an image of zeros or an empty histogram).
struct BinnedHistogram {
  std::uint16_t min = 0, max = 0;
  std::vector<std::uint64_t> counts;
};
BinnedHistogram rebin_histogram(const FullHistogram& full, std::size_t bins);

// Adds the pixels of src to counts[value] (65536 counters; the caller keeps each below 2^32,
// e.g. one chunk at a time).
void count_values(ImageView<const std::uint16_t> src, std::uint32_t* counts);

// Value at rank round(p / 100 * (n - 1)) among the n counted values (0 for an empty histogram).
std::uint16_t histogram_percentile(const FullHistogram& full, double percent);

// The display range viewers open a channel with: the 0.1 and 99.9 percentiles (the maximum when
// they coincide). Zeros are left out when a gap separates them from the rest (the smallest
// value above 0 is over 4 of the data's own steps and 5% of its 99.9 percentile away from 0):
// that is a mosaic's uncovered border, not data (a widefield in camera counts), and would pin
// the low end to 0. Channels whose zeros are data (counts, also scaled; the A-net's background)
// have no such gap and keep them.
std::pair<std::uint16_t, std::uint16_t> display_range(const FullHistogram& full);

}  // namespace annamosaic
