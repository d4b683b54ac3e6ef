#pragma once
// The hand-over between fusion (which produces the mosaic block by block) and the writers that
// store it (pyramidal IMS/HDF5, BigTIFF). Blocks tile level 0 of the mosaic on a fixed grid of
// MosaicInfo::block_px squares (the last column/row may be smaller); each block arrives exactly
// once, with all channels, in any order (fusion produces them roughly row by row, so a writer
// that builds pyramid levels on the fly needs to hold about one row of blocks per level).
// Pixel values are already quantised to uint16 with each channel's documented scale.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/image.hpp"

namespace annamosaic {

struct ChannelInfo {
  std::string name;            // e.g. "reconstruction", "error map", "widefield"
  std::string color = "1 1 1"; // "r g b" in 0..1 (Imaris convention)
  // stored uint16 = round(value * scale); documented in the file so readers can undo it
  double scale = 1.0;
  std::string description;
};

struct MosaicInfo {
  std::string name = "mosaic";
  std::size_t width_px = 0, height_px = 0;  // level 0
  double pixel_nm = 20.0;
  // Stage position (um) of level-0 pixel (0, 0)'s outer corner: the .ims ExtMin, the BDV
  // translation, the OME plane position, so that viewers overlay the mosaic with other data.
  double origin_x_um = 0, origin_y_um = 0;
  std::size_t block_px = 1024;             // multiple of 1024 (IMS chunks are 512 x 1024)
  std::vector<ChannelInfo> channels;
  std::size_t blocks_x() const { return (width_px + block_px - 1) / block_px; }
  std::size_t blocks_y() const { return (height_px + block_px - 1) / block_px; }
};

class BlockSink {
 public:
  virtual ~BlockSink() = default;
  // Block (bx, by) covers x in [bx*block_px, min(width, (bx+1)*block_px)), same for y; one view
  // per channel, each exactly that size. Thread-safe: fusion may call it from several threads.
  virtual void write_block(std::size_t bx, std::size_t by, const std::vector<ImageView<const std::uint16_t>>& channels) = 0;
  // All blocks written: complete the file (pyramid, metadata) and move it to its final name.
  // Throws with the path on any error; without finish() nothing appears under the final name.
  virtual void finish() = 0;
};

}  // namespace annamosaic
