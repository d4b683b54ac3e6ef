#pragma once
// Block-wise fusion of placed tiles into the mosaic, fed to a BlockSink.
//
// Placement: tile positions (mosaic px, from the layout) are rounded to whole pixels, relative
// to origin = the smallest rounded position (as layout.json says it): at most 0.5 px (10 nm at 20 nm/px) misplacement, below the
// localization precision, and no resampling blur that would differ from tile to tile.
// Blending (per output pixel, over the tiles covering it, in tile-index order):
//  - Linear (feather): weight wx(x) * wy(y), w(x) = min(1, d / feather_px), d = distance of the
//    pixel centre to the tile border (so weights fall to zero at the borders), normalised by
//    their sum: the normalised weights sum to one wherever a tile covers the pixel;
//  - Overlay: the covering tile with the highest index wins;
//  - Max: the maximum over the covering tiles.
// Pixels no tile covers are 0. Values are quantised per channel: round(value * scale), clamped
// to [0, 65535] (counted as saturated), NaN -> 0.
// Memory: the driver visits blocks in bands about one tile tall, column by column, and keeps
// tiles in a cache until the last block that needs them (about two bands' tiles), bounded by
// cache_mb (never below what one step needs; the tile needed again last is evicted first)
// within that, so peak memory depends on
// the block and tile sizes and the grid's width, not on its height. Deterministic for any thread
// count.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/image.hpp"
#include "sink/block_sink.hpp"
#include "tiles/tile_source.hpp"

namespace annamosaic {

enum class BlendMode { Linear, Overlay, Max };
BlendMode parse_blend_mode(const std::string& name);  // "linear" | "overlay" | "max"; InputError otherwise
const char* blend_mode_name(BlendMode mode);

struct TilePlacement {
  std::size_t tile = 0;          // index in the TileSource
  long x0 = 0, y0 = 0;           // top-left corner in mosaic pixels
  std::size_t width = 0, height = 0;
};

struct MosaicPlan {
  std::size_t width_px = 0, height_px = 0;
  double origin_x_px = 0, origin_y_px = 0;  // layout coordinates of mosaic pixel (0, 0)'s corner
  std::vector<TilePlacement> tiles;
};

// x_px/y_px: layout positions of each tile's top-left corner (same order as the source).
MosaicPlan plan_mosaic(const TileSource& source, const std::vector<double>& x_px, const std::vector<double>& y_px);

struct FuseOptions {
  BlendMode mode = BlendMode::Linear;
  double feather_px = 50.0;     // width of the linear ramp at tile borders (e.g. the overlap)
  std::size_t cache_mb = 1024;  // tile cache bound
  // Several processes fuse one mosaic into one (MPI) writer: process `rank` of `ranks` fuses its
  // contiguous range of block rows (fusion_block_row_owner), so a tile is loaded by one process,
  // or by two where it straddles the border of their ranges.
  std::size_t rank = 0, ranks = 1;
  // Asked between block columns; true: fuse_mosaic throws Stopped (a pre-empted job must not
  // fuse on for minutes past its grace time).
  std::function<bool()> stop_requested;
};

// Linear weight of pixel i (0-based) in a run of n pixels: min(1, min(i + 0.5, n - i - 0.5) / feather).
float feather_weight(std::size_t i, std::size_t n, double feather_px);

// One tile ready for fusion: its placement and its channel images (each placement-sized).
struct LoadedTile {
  const TilePlacement* place = nullptr;
  const std::vector<ImageF>* channels = nullptr;
};

// Pure kernel: the mosaic region [x0, x0+w) x [y0, y0+h) of every channel from `tiles`
// (in the given order), as floats (not quantised). `out` is resized to one image per channel.
// A tile pixel that is not finite (NaN, inf: a float tile's "no data") is left out, so that an
// overlapping tile fills it; where no tile has a value the result is 0. If `not_finite` is given
// (one entry per channel), the tile pixels left out are added to it.
void fuse_region(long x0, long y0, std::size_t w, std::size_t h, const std::vector<LoadedTile>& tiles, std::size_t channels,
                 const FuseOptions& opt, std::vector<ImageF>& out, std::vector<std::size_t>* not_finite = nullptr);

// Quantises one channel: round(v * scale) clamped to [0, 65535], NaN -> 0. Returns the number of
// pixels that were clamped; those below 0 are also added to *below_zero when given.
std::size_t quantise_u16(ImageView<const float> in, double scale, ImageView<std::uint16_t> out,
                         std::size_t* below_zero = nullptr);

// The process that fuses each level-0 block row (info.blocks_y() entries) when `ranks` share the
// mosaic: contiguous ranges of rows with about equal work (blocks plus tile loads). Pass it to
// the writer too (ImsWriterOptions::block_row_owner).
std::vector<int> fusion_block_row_owner(const MosaicPlan& plan, const MosaicInfo& info, std::size_t ranks);

// Blocks that fuse_mosaic writes for this process's share (for progress bars).
std::size_t fused_block_count(const MosaicPlan& plan, const MosaicInfo& info, const FuseOptions& opt);

struct FuseStats {
  std::size_t blocks = 0, tile_loads = 0;
  std::size_t peak_cached_tiles = 0, peak_cached_bytes = 0;
  std::vector<std::size_t> saturated;   // per channel: pixels clamped to 0..65535
  std::vector<std::size_t> below_zero;  // per channel: those of them below 0
  std::vector<std::size_t> not_finite;  // per channel: tile pixels left out as NaN or inf
  double seconds = 0;
  // Thread-seconds (summed over threads) spent loading tiles, fusing + quantising, and in the
  // sink's write_block (compression, hand-over to the writer): where the fusion's time goes.
  double load_thread_s = 0, fuse_thread_s = 0, sink_thread_s = 0;
};

// Fuses the whole mosaic: `channels` are source channel indices, in the order of info.channels
// (whose scale quantises them); info.width_px/height_px must equal the plan's. Writes every
// block of this process's share to `sink` exactly once (not finish()). `progress` (optional) is
// called per block.
FuseStats fuse_mosaic(const TileSource& source, const MosaicPlan& plan, const std::vector<std::size_t>& channels,
                      const MosaicInfo& info, BlockSink& sink, const FuseOptions& opt,
                      const std::function<void()>& progress = {});

}  // namespace annamosaic
