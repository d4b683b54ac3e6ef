#pragma once
// Block-wise fusion of placed tiles into the mosaic, streamed into a BlockSink (the pyramidal IMS
// writer, or a TIFF sink). Each output block pulls only the tiles that touch it; tiles are cached
// while the block rows they cover are being produced and dropped afterwards, so memory holds about
// one row of tiles and one row of blocks (it grows with the number of grid columns and the tile
// size, not with the number of rows). Tiles are placed at their layout position rounded to whole
// pixels. Blending: linear feathering (weights ramp from ~0 at a tile's border to 1 at
// `feather_px` inside, then normalised, so they sum to one wherever a tile covers), overlay
// (later tiles win) or max.
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "sink/block_sink.hpp"
#include "mosaic/layout.hpp"
#include "mosaic/tile_source.hpp"

namespace annamosaic {

enum class Blend { Linear, Overlay, Max };
Blend parse_blend(const std::string& s);  // "linear" | "overlay" | "max"

struct FusionOptions {
  Blend blend = Blend::Linear;
  double feather_px = 50.0;
};

// The mosaic covering every placed tile (origin = the smallest rounded tile position).
struct MosaicPlacement {
  std::vector<long> x_px, y_px;  // integer top-left of each tile in mosaic pixels
  std::size_t width_px = 0, height_px = 0;
};
MosaicPlacement place_tiles(const std::vector<TileMeta>& tiles, const Layout& layout);

// Feather weight of pixel (x, y) of a width x height tile.
float feather_weight(std::size_t x, std::size_t y, std::size_t width, std::size_t height, double feather_px);

// Produces every block (bx, by) with by % ranks == rank, in block-row order, into `sink`.
// info.channels must match tiles.channels(); values are quantised with ChannelInfo::scale.
// `on_row` (optional) is called after each block row (progress).
void fuse_blocks(const TileSource& tiles, const MosaicPlacement& placement, const MosaicInfo& info,
                 const FusionOptions& opt, BlockSink& sink, int rank = 0, int ranks = 1,
                 const std::function<void(std::size_t)>& on_row = {});

}  // namespace annamosaic
