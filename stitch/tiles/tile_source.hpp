#pragma once
// Where stitching gets its tiles: a small interface (the job layer implements it over per-FoV
// result files), an in-memory implementation for tests and tools, and one that reads TIFF files
// named by a pattern, with the stage positions from a positions.csv.
//
// Coordinates: a tile's nominal position is the stage position of its top-left corner in um;
// in mosaic pixels that is x_um * 1000 / pixel_nm. Pixel (x, y) of a tile covers
// [x, x+1) x [y, y+1) from that corner. All channels of a source share the tile's pixel grid.
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "core/image.hpp"
#include "imageio/tiff_io.hpp"

namespace annamosaic {

struct TileInfo {
  int id = 0;                    // FoV id (acquisition order)
  int row = 0, col = 0;          // grid cell; neighbours are found through these
  double x_um = 0, y_um = 0;     // nominal stage position of the top-left corner
  std::size_t width_px = 0, height_px = 0;
  std::string file;              // its file, where the positions file names it (a Fiji TileConfiguration): {file}
};

class TileSource {
 public:
  virtual ~TileSource() = default;
  virtual std::size_t size() const = 0;
  virtual const TileInfo& info(std::size_t index) const = 0;
  virtual std::size_t channels() const = 0;
  virtual const std::string& channel_name(std::size_t channel) const = 0;
  virtual double pixel_nm() const = 0;
  // The tile's image in `channel`: info(index).width_px x height_px at pixel_nm. Thread-safe.
  // Errors are exceptions naming the file (InputError, IoError).
  virtual ImageF load(std::size_t index, std::size_t channel) const = 0;
  // Several channels of one tile, in the order asked. Sources that keep a tile's channels in one
  // file override it to open that file once.
  virtual std::vector<ImageF> load_channels(std::size_t index, const std::vector<std::size_t>& channels) const;
};

// Index of the channel called `name`; InputError listing the channels if there is none.
// option: what named it ("--register"), so a wrong name is reported as that option's value.
std::size_t channel_index(const TileSource& source, const std::string& name, const std::string& option);

// Tiles held in memory (tests, benchmarks, tools that simulate tiles).
class MemoryTileSource : public TileSource {
 public:
  MemoryTileSource(std::vector<std::string> channel_names, double pixel_nm);
  // One image per channel, all of the same size; the size is written into info.
  void add(TileInfo info, std::vector<ImageF> channel_images);
  std::size_t size() const override { return tiles_.size(); }
  const TileInfo& info(std::size_t i) const override { return tiles_[i].info; }
  std::size_t channels() const override { return names_.size(); }
  const std::string& channel_name(std::size_t c) const override { return names_[c]; }
  double pixel_nm() const override { return pixel_nm_; }
  ImageF load(std::size_t i, std::size_t c) const override { return tiles_[i].images[c].clone(); }

 private:
  struct Tile {
    TileInfo info;
    std::vector<ImageF> images;
  };
  std::vector<std::string> names_;
  double pixel_nm_;
  std::vector<Tile> tiles_;
};

// One channel of a TIFF tile source: "name=pattern" or "name=pattern@pages" (pages as in
// parse_page_range, averaged: e.g. widefield frames "@3-5"). Pattern fields:
//   {id}  the FoV id zero-padded to 4 digits (the campaign layout fov/0003/...)
//   {id:FMT}, {row:FMT}, {col:FMT}  with a fmt spec, e.g. {id:d} (no padding), {row:02d}
//   {row}, {col}  plain numbers
//   {row+1}, {col+1:02d}, {id+1}  the same plus an offset (file names counted from 1)
struct TileChannelSpec {
  std::string name, pattern;
  std::string pages;  // "" = first page only
};
TileChannelSpec parse_channel_spec(const std::string& spec);  // InputError("--channel", ...) if malformed
std::string expand_tile_pattern(const std::string& pattern, const TileInfo& tile);

// positions.csv: a header with at least id,row,col,x_um,y_um (any order, extra columns ignored),
// one tile per line. Duplicate ids or grid cells, missing columns, non-numbers and non-finite
// values are InputErrors naming the file, line and column. Sizes are left 0.
// A table in tile pixels (x_px,y_px, as stitching tools of image viewers write it) is read when
// `in_px` is given: *in_px is set and x_um/y_um hold pixels for the caller to scale. Without
// `in_px` (a campaign's positions, where pixels would be ambiguous: camera or rendered) it is an
// InputError, as is a table with both units.
// A Fiji TileConfiguration.txt ("dim = 2", then "FILE; ; (x, y)" lines, pixels) is read the same
// way where `in_px` is given: ids count its lines from 0, `file` holds each FILE, and row and col
// are -1 (no grid in the file: TiffTileSource::open places the tiles in grid cells by position).
std::vector<TileInfo> read_positions_csv(const std::string& path, bool* in_px = nullptr);

// Reads TIFF tiles: `root`/expand(pattern) per tile and channel. open() reads positions.csv and
// every tile's TIFF header, so a missing or inconsistent file fails there, naming it. Channel 0
// defines each tile's size. Another channel whose size differs is resampled onto channel 0's grid
// (bilinear, pixel-centre aligned) using the pixel sizes from the TIFF resolution tags (e.g. a
// 108 nm widefield onto 20 nm); without tags that is an InputError.
class TiffTileSource : public TileSource {
 public:
  // pixel_nm: 0 = from channel 0's resolution tags (InputError if absent). Positions in x_px,y_px
  // are scaled by it. Tiles with a missing file: an InputError listing them, or with
  // `skip_missing` a warning, and they are left out (holes in the mosaic).
  static std::unique_ptr<TiffTileSource> open(const std::string& root, const std::string& positions_csv,
                                              const std::vector<TileChannelSpec>& channels, double pixel_nm = 0,
                                              bool skip_missing = false);
  // Ids of the tiles open() left out for missing files (skip_missing).
  const std::vector<int>& missing_ids() const { return missing_ids_; }
  bool positions_in_px() const { return positions_in_px_; }
  // Rows and cols numbered here from the positions (a Fiji TileConfiguration has none): counted,
  // not measured, so an empty column between two groups closes up.
  bool cells_from_positions() const { return cells_from_positions_; }
  std::size_t size() const override { return tiles_.size(); }
  const TileInfo& info(std::size_t i) const override { return tiles_[i]; }
  std::size_t channels() const override { return specs_.size(); }
  const std::string& channel_name(std::size_t c) const override { return specs_[c].name; }
  double pixel_nm() const override { return pixel_nm_; }
  // The pixel size the first tile's resolution tags give for a channel (0: none).
  double tagged_pixel_nm(std::size_t channel) const { return channel_pixel_nm_.at(channel); }
  ImageF load(std::size_t i, std::size_t c) const override;
  std::string path(std::size_t i, std::size_t c) const;

 private:
  TiffTileSource() = default;
  std::string root_;
  std::vector<TileChannelSpec> specs_;
  std::vector<PageRange> pages_;
  std::vector<double> channel_pixel_nm_;  // per channel, from the tags of the first tile (0 unknown)
  std::vector<TileInfo> tiles_;
  std::vector<int> missing_ids_;
  bool positions_in_px_ = false;
  bool cells_from_positions_ = false;
  double pixel_nm_ = 0;
};

}  // namespace annamosaic
