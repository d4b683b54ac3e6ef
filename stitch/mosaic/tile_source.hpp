#pragma once
// Where stitching gets its tiles: per-tile metadata (grid cell, nominal stage position) and the
// pixels of any channel on demand, so stitching never needs every tile in memory at once.
// Implementations: FoV result files of a run (jobs/batch), or TIFF files.
#include <cstddef>
#include <string>
#include <vector>

#include "core/image.hpp"

namespace annamosaic {

struct TileMeta {
  int id = 0, row = 0, col = 0;
  double x_um = 0, y_um = 0;      // nominal position of the tile's top-left corner (stage)
  std::size_t width_px = 0, height_px = 0;
};

class TileSource {
 public:
  virtual ~TileSource() = default;
  virtual const std::vector<TileMeta>& tiles() const = 0;
  virtual const std::vector<std::string>& channels() const = 0;
  // Channel `c` of tile `i` (index into tiles()), at the mosaic pixel size; an empty image means
  // "no data for this channel" (e.g. no widefield). Thread-safe.
  virtual ImageF load(std::size_t i, std::size_t c) const = 0;
};

}  // namespace annamosaic
